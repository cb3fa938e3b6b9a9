package admission

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
)

// NewForbidden returns the 403 Kubernetes answers when a plugin refuses a
// write: `<resource> "<name>" is forbidden: <err>`. An err that already is
// a Forbidden error is returned as it is.
func NewForbidden(a *Attributes, err error) error {
	if apierrors.IsForbidden(err) {
		return err
	}
	return apierrors.NewForbidden(a.Resource.GroupResource(), a.objectName(), err)
}

// objectName is the name errors give the object of a write: the request's
// name, else the object's name or generateName, else "Unknown".
func (a *Attributes) objectName() string {
	if a.Name != "" {
		return a.Name
	}
	if a.Object == nil {
		return "Unknown"
	}
	m, err := meta.Accessor(a.Object)
	switch {
	case err != nil:
		return "Unknown/errorGettingName"
	case m.GetName() != "":
		return m.GetName()
	case m.GetGenerateName() != "":
		return m.GetGenerateName()
	}
	return "Unknown"
}

// readyTimeout bounds how long a plugin waits for its caches to fill.
const readyTimeout = 10 * time.Second

// WaitForReady waits until ready reports true, for at most 10 seconds or
// until ctx is done, and returns its last answer. A nil ready is always
// ready. Plugins that must not decide from an empty cache call it first,
// as Kubernetes' admission handlers do.
func WaitForReady(ctx context.Context, ready func() bool) bool {
	if ready == nil || ready() {
		return true
	}
	timeout := time.NewTimer(readyTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if ready() {
				return true
			}
		case <-timeout.C:
			return ready()
		case <-ctx.Done():
			return ready()
		}
	}
}
