// Package serviceaccount is Kubernetes' ServiceAccount admission plugin
// for pod creates: a pod without spec.serviceAccountName runs as
// "default"; the service account it names must exist (403 otherwise); a
// pod without imagePullSecrets gets its service account's; and, when a
// TokenMounter is configured, the pod gets its service account's
// credentials mounted.
//
// The service account controller creates "default" right after its
// namespace, so a pod created at once may arrive first: a lookup of
// "default" that misses the cache asks the API up to ten times, 100-200 ms
// apart, before refusing the pod, as kube-apiserver does; any other name
// is asked once.
package serviceaccount

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"skiff.dev/skiff/controlplane/admission"
)

// DefaultServiceAccountName is the service account of pods that name none.
const DefaultServiceAccountName = "default"

// defaultLookups is how often a missing "default" is asked for.
const defaultLookups = 10

// TokenMounter gives a pod the credentials of its service account (in
// Kubernetes, the projected kube-api-access-* volume mounted at
// /var/run/secrets/kubernetes.io/serviceaccount in every container).
// The plugin calls it on create unless automountServiceAccountToken, the
// pod's or else the service account's, is false.
type TokenMounter interface {
	MountToken(sa *corev1.ServiceAccount, pod *corev1.Pod)
}

// Config is what the plugin reads.
type Config struct {
	// Lister reads service accounts from an informer cache.
	Lister corelisters.ServiceAccountLister
	// Client reads a service account live when the cache misses it.
	Client corev1client.ServiceAccountsGetter
	// TokenMounter mounts tokens; nil mounts none.
	TokenMounter TokenMounter
}

// Plugin defaults and checks pods' service accounts.
type Plugin struct {
	cfg Config
	// retryInterval returns the pause between live lookups of "default".
	retryInterval func() time.Duration
}

var (
	_ admission.Mutator   = (*Plugin)(nil)
	_ admission.Validator = (*Plugin)(nil)
)

// New returns the plugin.
func New(cfg Config) *Plugin {
	return &Plugin{cfg: cfg, retryInterval: func() time.Duration {
		return time.Duration(100+rand.IntN(100)) * time.Millisecond
	}}
}

// podCreate returns the pod of a pod create, or nil for any other write.
func podCreate(a *admission.Attributes) *corev1.Pod {
	if a.Resource.GroupResource() != corev1.Resource("pods") || a.Subresource != "" || a.Operation != admission.Create {
		return nil
	}
	pod, _ := a.Object.(*corev1.Pod)
	return pod
}

// Admit sets the pod's service account and what comes from it.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	pod := podCreate(a)
	if pod == nil {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccountName
	}
	sa, err := p.serviceAccount(ctx, a.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if p.cfg.TokenMounter != nil && automount(sa, pod) {
		p.cfg.TokenMounter.MountToken(sa, pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, s := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets[i].Name = s.Name
		}
	}
	return nil
}

// Validate checks that the pod names a service account that exists, after
// every mutating plugin has run.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	pod := podCreate(a)
	if pod == nil {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		return admission.NewForbidden(a, fmt.Errorf("no service account specified for pod %s/%s", a.Namespace, pod.Name))
	}
	if _, err := p.serviceAccount(ctx, a.Namespace, pod.Spec.ServiceAccountName); err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.Namespace, pod.Spec.ServiceAccountName, err))
	}
	return nil
}

// automount reports whether the pod gets its token: the pod's choice
// wins, then the service account's; the default is yes.
func automount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// serviceAccount returns the named service account from the cache, or
// from the API when the cache misses it; a missing one is a NotFound
// error.
func (p *Plugin) serviceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa, err := p.cfg.Lister.ServiceAccounts(namespace).Get(name)
	if err == nil {
		return sa, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	attempts := 1
	if name == DefaultServiceAccountName {
		attempts = defaultLookups
	}
	interval := p.retryInterval()
	for i := range attempts {
		if i > 0 {
			select {
			case <-time.After(interval):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		sa, err := p.cfg.Client.ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccount"}, name)
}
