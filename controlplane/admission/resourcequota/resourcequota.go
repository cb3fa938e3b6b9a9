// Package resourcequota is Kubernetes' ResourceQuota admission plugin: a
// create (or a service update) that would take a namespace past a
// ResourceQuota's status.hard is refused with a 403 naming the quota and
// the amounts ("exceeded quota: compute, requested: pods=1, used: pods=10,
// limited: pods=10"); one that fits is charged to status.used before it is
// stored.
//
// What is counted: object counts of every resource (count/<resource> for
// the core group, count/<resource>.<group> otherwise, and pods, services,
// configmaps, secrets, replicationcontrollers and resourcequotas by their
// old names), services.nodeports and services.loadbalancers, and pods'
// compute resources (cpu, memory, ephemeral-storage, their requests. and
// limits. forms, hugepages and extended resources) with the scopes
// Terminating, NotTerminating, BestEffort, NotBestEffort, PriorityClass
// and CrossNamespacePodAffinity. Events are not counted.
//
// The charge is a compare-and-swap of the quota's status (an update
// carrying the resourceVersion the check read), retried against the
// fresh quota on conflict, so concurrent creates, on this server or
// another, cannot together exceed a quota. Within a server, the writes of
// one namespace are checked in batches by one goroutine at a time, as in
// Kubernetes. The quota controller keeps status.hard and status.used
// current otherwise (it sets status.hard from spec.hard and gives back
// what deleted or failed writes used); a quota whose status does not yet
// show a tracked resource refuses the writes it covers ("status unknown
// for quota").
package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/lru"

	"skiff.dev/skiff/controlplane/admission"
	"skiff.dev/skiff/controlplane/admission/internal/livelookup"
)

// evaluationTimeout bounds a write's wait for its quota check.
const evaluationTimeout = 10 * time.Second

// updateRetries is how often a batch retries quota updates that conflict.
const updateRetries = 3

// Config is what the plugin reads and writes.
type Config struct {
	// Lister reads quotas from an informer cache.
	Lister corelisters.ResourceQuotaLister
	// Client lists a namespace's quotas live when the cache has none,
	// reads a quota afresh after a conflict, and writes status.used.
	Client corev1client.ResourceQuotasGetter
	// Now tells the time (pods stuck terminating stop counting); nil
	// means time.Now.
	Now func() time.Time
}

// Plugin enforces and charges resource quotas.
type Plugin struct {
	cfg  Config
	now  func() time.Time
	live *livelookup.Cache[*corev1.ResourceQuota]
	// updated holds the quotas this plugin last wrote, by namespace/name,
	// until the cache catches up with them.
	updated *lru.Cache

	mu sync.Mutex
	// pending holds the writes waiting per namespace; running the
	// namespaces a goroutine is checking.
	pending map[string][]*waiter
	running map[string]bool
}

var _ admission.Validator = (*Plugin)(nil)

// New returns the plugin.
func New(cfg Config) *Plugin {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Plugin{
		cfg: cfg, now: now,
		live:    livelookup.New[*corev1.ResourceQuota](livelookup.DefaultTTL),
		updated: lru.New(100),
		pending: map[string][]*waiter{},
		running: map[string]bool{},
	}
}

// errDefaultDeny is a waiter's result until its check decides otherwise.
var errDefaultDeny = errors.New("default deny")

// waiter is one write waiting for its quota check.
type waiter struct {
	attrs  *admission.Attributes
	result error
	done   chan struct{}
}

// Validate checks the write against its namespace's quotas and charges
// them.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	// Subresources (status, binding, scale) change no counted usage.
	if a.Subresource != "" || a.Namespace == "" {
		return nil
	}
	gr := a.Resource.GroupResource()
	if ignoredResources.Has(gr) || !p.evaluatorFor(gr).handles(a.Operation) {
		return nil
	}
	// Most namespaces have no quota: their writes need no queueing.
	if quotas, err := p.quotas(ctx, a.Namespace); err == nil && len(quotas) == 0 {
		return nil
	}
	w := &waiter{attrs: a, result: errDefaultDeny, done: make(chan struct{})}
	p.enqueue(w)
	timeout := time.NewTimer(evaluationTimeout)
	defer timeout.Stop()
	select {
	case <-w.done:
		return w.result
	case <-timeout.C:
		return apierrors.NewInternalError(errors.New("resource quota evaluation timed out"))
	case <-ctx.Done():
		return apierrors.NewInternalError(fmt.Errorf("resource quota evaluation: %w", ctx.Err()))
	}
}

// enqueue adds w to its namespace's pending writes and starts a goroutine
// for the namespace unless one runs.
func (p *Plugin) enqueue(w *waiter) {
	ns := w.attrs.Namespace
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending[ns] = append(p.pending[ns], w)
	if !p.running[ns] {
		p.running[ns] = true
		go p.drain(ns)
	}
}

// drain checks the namespace's pending writes, batch after batch, until
// none is left.
func (p *Plugin) drain(ns string) {
	for {
		p.mu.Lock()
		batch := p.pending[ns]
		delete(p.pending, ns)
		if len(batch) == 0 {
			delete(p.running, ns)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.checkBatch(ns, batch)
	}
}

// checkBatch decides a batch of one namespace's writes and wakes them.
func (p *Plugin) checkBatch(ns string, batch []*waiter) {
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), evaluationTimeout)
	defer cancel()
	quotas, err := p.quotas(ctx, ns)
	if err != nil {
		for _, w := range batch {
			w.result = apierrors.NewInternalError(fmt.Errorf("error resolving quota: %w", err))
		}
		return
	}
	if len(quotas) == 0 {
		for _, w := range batch {
			w.result = nil
		}
		return
	}
	p.checkQuotas(ctx, quotas, batch, updateRetries)
}

// checkQuotas decides the undecided writes of a batch against quotas: each
// write that fits is added to a running copy of the quotas, then every
// changed quota is written with a compare-and-swap. Writes that changed
// no quota are admitted at once; the others when all writes succeed. On
// conflicts the quotas that failed are read afresh and the undecided
// writes checked against them again.
func (p *Plugin) checkQuotas(ctx context.Context, quotas []corev1.ResourceQuota, batch []*waiter, retries int) {
	original := copyQuotas(quotas)
	changed := false
	for _, w := range batch {
		if w.result != errDefaultDeny {
			continue
		}
		next, err := p.checkRequest(quotas, w.attrs)
		if err != nil {
			w.result = err
			continue
		}
		// A dry run is checked but charges nothing.
		if w.attrs.DryRun {
			w.result = nil
			continue
		}
		mine := false
		for i := range next {
			if !equal(quotas[i].Status.Used, next[i].Status.Used) {
				mine = true
				break
			}
		}
		if !mine {
			w.result = nil
		}
		changed = changed || mine
		quotas = next
	}
	if !changed {
		return
	}

	var failed []corev1.ResourceQuota
	var lastErr error
	for i := range quotas {
		if equal(original[i].Status.Used, quotas[i].Status.Used) {
			continue
		}
		if err := p.updateStatus(ctx, &quotas[i]); err != nil {
			failed = append(failed, quotas[i])
			lastErr = err
		}
	}
	decide := func(err error) {
		for _, w := range batch {
			if w.result == errDefaultDeny {
				w.result = err
			}
		}
	}
	if len(failed) == 0 {
		decide(nil)
		return
	}
	if retries <= 0 {
		decide(lastErr)
		return
	}
	fresh, err := p.reread(ctx, failed)
	if err != nil {
		decide(lastErr)
		return
	}
	p.checkQuotas(ctx, fresh, batch, retries-1)
}

func copyQuotas(in []corev1.ResourceQuota) []corev1.ResourceQuota {
	out := make([]corev1.ResourceQuota, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
