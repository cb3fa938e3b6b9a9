// Package plugins builds skiff's admission chain from its plugins, in
// Kubernetes' order, over one client of the apiserver the chain runs in,
// and the evictor that pods/eviction calls.
//
// Mutating: NamespaceLifecycle, LimitRanger, ServiceAccount, Priority,
// DefaultTolerationSeconds. Validating: NamespaceLifecycle (deletes),
// LimitRanger, ServiceAccount, Priority (PriorityClasses), ResourceQuota,
// which is last so that it charges only writes every other plugin let
// through.
package plugins

import (
	"context"
	"errors"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/admission"
	"skiff.dev/skiff/controlplane/admission/defaulttolerationseconds"
	"skiff.dev/skiff/controlplane/admission/disruption"
	"skiff.dev/skiff/controlplane/admission/limitranger"
	"skiff.dev/skiff/controlplane/admission/namespacelifecycle"
	"skiff.dev/skiff/controlplane/admission/priority"
	"skiff.dev/skiff/controlplane/admission/resourcequota"
	"skiff.dev/skiff/controlplane/admission/serviceaccount"
)

// Config configures the plugins.
type Config struct {
	// Client is a loopback client of the apiserver the chain runs in. The
	// plugins' informers list and watch through it once Start runs, and
	// the plugins read through it live when their caches miss and write
	// quota and disruption budget status with it. It may be built before
	// the server listens: client-go connects on first use.
	Client kubernetes.Interface
	// TokenMounter mounts service account tokens into pods; nil mounts
	// none.
	TokenMounter serviceaccount.TokenMounter
}

// Plugins are the built chain and what feeds it.
type Plugins struct {
	// Chain is the admission chain for every registry store.
	Chain *admission.Chain
	// Evictor carries out pods/eviction.
	Evictor *disruption.Evictor

	informers informers.SharedInformerFactory
}

// New builds the plugins. Nothing is read until Start.
func New(cfg Config) (*Plugins, error) {
	if cfg.Client == nil {
		return nil, errors.New("admission plugins: no client")
	}
	f := informers.NewSharedInformerFactory(cfg.Client, 0)
	core := f.Core().V1()
	namespaces := core.Namespaces()

	lifecycle := namespacelifecycle.New(namespacelifecycle.Config{
		Lister: namespaces.Lister(), Synced: namespaces.Informer().HasSynced, Client: cfg.Client.CoreV1(),
	})
	limits := limitranger.New(limitranger.Config{Lister: core.LimitRanges().Lister(), Client: cfg.Client.CoreV1()})
	accounts := serviceaccount.New(serviceaccount.Config{
		Lister: core.ServiceAccounts().Lister(), Client: cfg.Client.CoreV1(), TokenMounter: cfg.TokenMounter,
	})
	tolerations := defaulttolerationseconds.New(defaulttolerationseconds.Config{})
	quota := resourcequota.New(resourcequota.Config{Lister: core.ResourceQuotas().Lister(), Client: cfg.Client.CoreV1()})
	classes := f.Scheduling().V1().PriorityClasses()
	priorities := priority.New(priority.Config{
		Lister: classes.Lister(), Synced: classes.Informer().HasSynced, Client: cfg.Client.SchedulingV1(),
	})

	return &Plugins{
		Chain: &admission.Chain{
			Mutators:   []admission.Mutator{lifecycle, limits, accounts, priorities, tolerations},
			Validators: []admission.Validator{lifecycle, limits, accounts, priorities, quota},
		},
		Evictor:   disruption.New(cfg.Client.PolicyV1()),
		informers: f,
	}, nil
}

// Start runs the plugins' informers until ctx is done. Until their
// caches fill, NamespaceLifecycle holds writes for up to ten seconds and
// the other plugins read live.
func (p *Plugins) Start(ctx context.Context) error {
	p.informers.Start(ctx.Done())
	<-ctx.Done()
	p.informers.Shutdown()
	return nil
}
