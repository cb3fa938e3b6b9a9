// Package namespacelifecycle is Kubernetes' NamespaceLifecycle admission
// plugin: nothing is created or updated in a namespace that does not
// exist (404) and nothing is created in one being terminated (403); the
// immortal namespaces cannot be deleted (403). Namespaces themselves,
// cluster-scoped objects and deletes of other objects are always let
// through.
//
// It reads namespaces from an informer cache and, when the cache misses,
// waits 50 ms for it and then asks the API, so a namespace created a
// moment ago is found. After a namespace delete it asks the API for 30
// seconds rather than trust a cache that may still say Active.
package namespacelifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"skiff.dev/skiff/controlplane/admission"
)

const (
	// forceLiveLookupTTL is how long after a namespace delete its state is
	// read from the API rather than the cache.
	forceLiveLookupTTL = 30 * time.Second
	// missingNamespaceWait is how long a create waits for the cache to
	// see a namespace it misses before asking the API.
	missingNamespaceWait = 50 * time.Millisecond
)

// Config is what the plugin reads.
type Config struct {
	// Lister reads namespaces from an informer cache; Synced reports
	// whether that cache has filled (nil: always).
	Lister corelisters.NamespaceLister
	Synced func() bool
	// Client reads a namespace live when the cache misses it.
	Client corev1client.NamespacesGetter
	// Immortal names the namespaces that cannot be deleted; nil means
	// default, kube-system and kube-public.
	Immortal []string
}

// Plugin enforces the namespace lifecycle. It is both a Mutator (creates
// and updates, in the mutating phase as in Kubernetes) and a Validator
// (deletes, which skiff's store admits only through Validate).
type Plugin struct {
	cfg      Config
	immortal sets.Set[string]
	// forceLive holds namespaces recently deleted, whose cached state is
	// not trusted.
	forceLive *utilcache.LRUExpireCache
}

var (
	_ admission.Mutator   = (*Plugin)(nil)
	_ admission.Validator = (*Plugin)(nil)
)

// New returns the plugin.
func New(cfg Config) *Plugin {
	immortal := cfg.Immortal
	if immortal == nil {
		immortal = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic}
	}
	return &Plugin{cfg: cfg, immortal: sets.New(immortal...), forceLive: utilcache.NewLRUExpireCache(100)}
}

// Admit checks creates and updates.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Operation == admission.Delete {
		return nil
	}
	return p.admit(ctx, a)
}

// Validate checks deletes.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Delete {
		return nil
	}
	return p.admit(ctx, a)
}

var namespaceKind = corev1.SchemeGroupVersion.WithKind("Namespace").GroupKind()

func (p *Plugin) admit(ctx context.Context, a *admission.Attributes) error {
	isNamespace := a.Kind.GroupKind() == namespaceKind
	if isNamespace {
		if a.Operation == admission.Delete {
			if p.immortal.Has(a.Name) {
				return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, errors.New("this namespace may not be deleted"))
			}
			// Creates into it must now see it terminating, even before
			// the cache does.
			p.forceLive.Add(a.Name, true, forceLiveLookupTTL)
		}
		return nil
	}
	if a.Namespace == "" || a.Operation == admission.Delete {
		return nil
	}
	if !admission.WaitForReady(ctx, p.cfg.Synced) {
		return admission.NewForbidden(a, errors.New("not yet ready to handle request"))
	}
	ns, err := p.namespace(ctx, a)
	if err != nil {
		return err
	}
	if a.Operation == admission.Create && ns.Status.Phase == corev1.NamespaceTerminating {
		err := admission.NewForbidden(a, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", a.Namespace))
		var status *apierrors.StatusError
		if errors.As(err, &status) && status.ErrStatus.Details != nil {
			status.ErrStatus.Details.Causes = append(status.ErrStatus.Details.Causes, metav1.StatusCause{
				Type:    corev1.NamespaceTerminatingCause,
				Message: fmt.Sprintf("namespace %s is being terminated", a.Namespace),
				Field:   "metadata.namespace",
			})
		}
		return err
	}
	return nil
}

// namespace returns the namespace of the write: from the cache, after a
// short wait for it on a create, or from the API when the cache misses
// it or may be stale. A namespace that does not exist is the API's
// NotFound error.
func (p *Plugin) namespace(ctx context.Context, a *admission.Attributes) (*corev1.Namespace, error) {
	ns, exists, err := p.cached(a.Namespace)
	if err != nil {
		return nil, err
	}
	if !exists && a.Operation == admission.Create {
		// Give the cache time to see a namespace created a moment ago.
		select {
		case <-time.After(missingNamespaceWait):
		case <-ctx.Done():
			return nil, apierrors.NewInternalError(ctx.Err())
		}
		if ns, exists, err = p.cached(a.Namespace); err != nil {
			return nil, err
		}
	}
	if _, forced := p.forceLive.Get(a.Namespace); exists && !(forced && ns.Status.Phase == corev1.NamespaceActive) {
		return ns, nil
	}
	ns, err = p.cfg.Client.Namespaces().Get(ctx, a.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, err
	case err != nil:
		return nil, apierrors.NewInternalError(err)
	}
	return ns, nil
}

// cached returns the namespace from the cache and whether it is there.
func (p *Plugin) cached(name string) (*corev1.Namespace, bool, error) {
	ns, err := p.cfg.Lister.Get(name)
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, apierrors.NewInternalError(err)
	}
	return ns, true, nil
}
