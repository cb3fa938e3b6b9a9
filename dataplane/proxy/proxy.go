// Package proxy is the dataplane's control loop: it watches Services,
// EndpointSlices and this node's Node through client-go informers, builds
// the desired model for each changed service, and hands it to a
// model.Programmer (the eBPF or the iptables back end). Event handlers
// only enqueue service keys. Once the caches are in, one full sync
// programs everything; after that the services changed while a sync runs
// are re-read from the listers and programmed together in the next one,
// so a burst of changes costs one sync whatever the number of services it
// touches (kube-proxy's bounded-frequency runner; a back end whose every
// sync costs the same, iptables, also sets a minimum period between
// syncs). It records which EndpointSlice
// versions the Programmer holds, so that a caller can wait for a write to
// reach the dataplane (EndpointSliceProgrammed) and the network
// programming latency is measured.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"skiff.dev/skiff/dataplane/model"
)

// Config configures a Proxy.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	// Programmer receives the desired services.
	Programmer model.Programmer
	// Recorder, when set, gets a Warning event on a Service whose sync
	// failed (a full map, for example).
	Recorder record.EventRecorder
	// HealthCheck, when set, serves healthCheckNodePort for the services
	// that have one.
	HealthCheck *HealthServer
	// OnNode is called with this node's Node object whenever it changes.
	OnNode func(*corev1.Node)
	// Classify names the reason of a sync error for the
	// skiff_dataplane_sync_errors_total metric; nil: "error".
	Classify func(error) string
	// ResyncPeriod re-lists everything periodically; 0 disables it.
	ResyncPeriod time.Duration
	// MinSyncPeriod is the least time between the starts of two syncs
	// once syncBurst syncs ran back to back (kube-proxy's
	// --iptables-min-sync-period, for a back end whose every sync rewrites
	// everything); changes that arrive meanwhile wait and join the next
	// sync. 0: no minimum, a sync starts as soon as the last one ended.
	MinSyncPeriod time.Duration
	Logger        *slog.Logger
}

// syncBurst is how many syncs may run back to back before MinSyncPeriod
// spaces them (kube-proxy's burstSyncs): an isolated change is programmed
// at once.
const syncBurst = 2

// Proxy keeps a Programmer in step with the cluster's services.
type Proxy struct {
	cfg      Config
	log      *slog.Logger
	queue    workqueue.TypedRateLimitingInterface[types.NamespacedName]
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	synced   chan struct{}
	once     sync.Once
	metrics  *metrics
	// programmed tracks the EndpointSlice versions the Programmer holds.
	programmed *programmed
}

// New returns a Proxy; Start runs it.
func New(cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Proxy{
		cfg: cfg,
		log: cfg.Logger,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName](),
			workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "dataplane"}),
		synced:     make(chan struct{}),
		metrics:    newMetrics(),
		programmed: newProgrammed(time.Now()),
	}
}

// Synced is closed once the initial state has been programmed.
func (p *Proxy) Synced() <-chan struct{} { return p.synced }

// Collector returns the proxy's sync metrics.
func (p *Proxy) Collector() prometheus.Collector { return p.metrics }

// Start runs the informers and the sync loop until ctx is done.
func (p *Proxy) Start(ctx context.Context) error {
	defer p.queue.ShutDown()
	if p.cfg.Client == nil {
		return errNoClient
	}
	factory := informers.NewSharedInformerFactory(p.cfg.Client, p.cfg.ResyncPeriod)
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	p.services = svcInf.Lister()
	p.slices = sliceInf.Lister()

	enqueueSvc := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			ns, name, _ := cache.SplitMetaNamespaceKey(key)
			p.queue.Add(types.NamespacedName{Namespace: ns, Name: name})
		}
	}
	enqueueSlice := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return
		}
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			p.queue.Add(types.NamespacedName{Namespace: s.Namespace, Name: name})
		}
	}
	svcReg, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueSvc,
		UpdateFunc: func(_, obj any) { enqueueSvc(obj) },
		DeleteFunc: enqueueSvc,
	})
	if err != nil {
		return fmt.Errorf("service handler: %w", err)
	}
	sliceReg, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueSlice,
		UpdateFunc: func(_, obj any) { enqueueSlice(obj) },
		DeleteFunc: enqueueSlice,
	})
	if err != nil {
		return fmt.Errorf("endpointslice handler: %w", err)
	}
	// The handlers have seen the initial lists too: what they queued by
	// then is in the full sync.
	waitFor := []cache.InformerSynced{svcReg.HasSynced, sliceReg.HasSynced}
	if p.cfg.OnNode != nil {
		nodeFactory := informers.NewSharedInformerFactoryWithOptions(p.cfg.Client, p.cfg.ResyncPeriod,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.cfg.NodeName).String()
			}))
		nodeInf := nodeFactory.Core().V1().Nodes().Informer()
		onNode := func(obj any) {
			if n, ok := obj.(*corev1.Node); ok {
				p.cfg.OnNode(n)
			}
		}
		if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    onNode,
			UpdateFunc: func(_, obj any) { onNode(obj) },
		}); err != nil {
			return fmt.Errorf("node handler: %w", err)
		}
		nodeFactory.Start(ctx.Done())
		defer nodeFactory.Shutdown()
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), waitFor...) {
		return ctx.Err()
	}
	limit := rate.NewLimiter(rate.Inf, syncBurst)
	if p.cfg.MinSyncPeriod > 0 {
		limit = rate.NewLimiter(rate.Every(p.cfg.MinSyncPeriod), syncBurst)
	}
	limit.Allow() // the full sync takes its turn too
	p.drain()
	p.fullSync(ctx)
	p.once.Do(func() { close(p.synced) })

	go func() {
		<-ctx.Done()
		p.queue.ShutDown()
	}()
	for p.next(ctx, limit) {
	}
	return nil
}

// drain empties the queue before the full sync, which covers what it held.
func (p *Proxy) drain() {
	for p.queue.Len() > 0 {
		key, _ := p.queue.Get()
		p.queue.Forget(key)
		p.queue.Done(key)
	}
}

// item is one service of a sync and what was asked of the Programmer.
type item struct {
	key types.NamespacedName
	svc *corev1.Service // nil: gone
	// model is programmed when carried, else the service is removed.
	model   model.Service
	carried bool
	// slices are the EndpointSlices the model was built from.
	slices []*discoveryv1.EndpointSlice
	err    error // reading the listers failed
}

// fullSync programs every service at once (the sync at start).
func (p *Proxy) fullSync(ctx context.Context) {
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		// Listers read memory; not seen in practice. The next change syncs.
		p.log.Error("initial dataplane sync: list services", "err", err)
		return
	}
	items := make([]item, len(svcs))
	var desired []model.Service
	for i, svc := range svcs {
		items[i] = p.read(types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, svc)
		if items[i].carried {
			desired = append(desired, items[i].model)
		}
	}
	start := time.Now()
	err = p.cfg.Programmer.Replace(ctx, desired)
	end := time.Now()
	if p.cfg.HealthCheck != nil {
		p.cfg.HealthCheck.Replace(desired)
	}
	p.finish(ctx, items, err, start, end)
}

// next waits for a change, lets what else changes until the rate limit
// allows a sync join it, and programs all of it in one sync. It returns
// false once ctx is done.
func (p *Proxy) next(ctx context.Context, limit *rate.Limiter) bool {
	key, quit := p.queue.Get()
	if quit {
		return false
	}
	keys := []types.NamespacedName{key}
	defer func() {
		for _, k := range keys {
			p.queue.Done(k)
		}
	}()
	if limit.Wait(ctx) != nil {
		return false
	}
	for p.queue.Len() > 0 {
		k, quit := p.queue.Get()
		if quit {
			break
		}
		keys = append(keys, k)
	}
	items := make([]item, len(keys))
	var upsert []model.Service
	var remove []types.NamespacedName
	for i, key := range keys {
		svc, err := p.services.Services(key.Namespace).Get(key.Name)
		switch {
		case apierrors.IsNotFound(err):
			items[i] = item{key: key}
		case err != nil:
			items[i] = item{key: key, err: err}
		default:
			items[i] = p.read(key, svc)
		}
		switch {
		case items[i].err != nil:
			// Not asked of the Programmer; finish queues it again.
		case items[i].carried:
			upsert = append(upsert, items[i].model)
		default:
			remove = append(remove, key)
		}
	}
	start := time.Now()
	err := p.cfg.Programmer.Update(ctx, upsert, remove)
	end := time.Now()
	if p.cfg.HealthCheck != nil {
		for _, it := range items {
			if it.carried {
				p.cfg.HealthCheck.Upsert(it.model)
			} else if it.err == nil {
				p.cfg.HealthCheck.Delete(it.key)
			}
		}
	}
	p.finish(ctx, items, err, start, end)
	return true
}

// read builds the model of svc from the listers.
func (p *Proxy) read(key types.NamespacedName, svc *corev1.Service) item {
	it := item{key: key, svc: svc}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name})
	slices, err := p.slices.EndpointSlices(svc.Namespace).List(sel)
	if err != nil {
		it.err = err
		return it
	}
	// Listers return no particular order; a stable model is easier to read.
	sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
	it.model, it.carried = BuildService(svc, slices, p.cfg.NodeName)
	if it.carried {
		it.slices = slices
	}
	return it
}

// finish accounts for a sync that ran from start to end and returned err:
// the services it programmed (or removed) are recorded, with the network
// programming latency of their slices; the ones that failed are queued
// again with backoff and get a Warning event.
func (p *Proxy) finish(ctx context.Context, items []item, err error, start, end time.Time) {
	p.metrics.observe(end.Sub(start), err, p.classify)
	byService, rest := model.SplitErrors(err)
	failed := 0
	for _, it := range items {
		ierr := errors.Join(it.err, byService[it.key], rest)
		if ierr == nil {
			p.queue.Forget(it.key)
			p.recordProgrammed(it.key, it.slices, end)
			continue
		}
		failed++
		p.queue.AddRateLimited(it.key)
		if it.svc != nil && p.cfg.Recorder != nil && ctx.Err() == nil {
			p.cfg.Recorder.Eventf(it.svc, corev1.EventTypeWarning, "DataplaneSyncFailed", "node %s: %v", p.cfg.NodeName, ierr)
		}
	}
	if failed > 0 && ctx.Err() == nil {
		p.log.Error("dataplane sync failed; retrying", "services", len(items), "failed", failed, "err", err)
	}
}

// recordProgrammed notes the slices a service was programmed from and
// observes the network programming latency of their new changes.
func (p *Proxy) recordProgrammed(svc types.NamespacedName, slices []*discoveryv1.EndpointSlice, at time.Time) {
	for _, t := range p.programmed.record(svc, slices, at) {
		p.metrics.programming.Observe(at.Sub(t).Seconds())
	}
}

func (p *Proxy) classify(err error) string {
	if p.cfg.Classify != nil {
		return p.cfg.Classify(err)
	}
	return "error"
}

// errNoClient is returned by Start without a client.
var errNoClient = errors.New("proxy: no Kubernetes client")
