// Package proxy is the dataplane's control loop: it watches Services,
// EndpointSlices and this node's Node through client-go informers, builds
// the desired model for each changed service, and hands it to a
// model.Programmer (the eBPF or the iptables back end). Event handlers
// only enqueue service keys; a worker re-reads the listers, so a burst of
// changes to one service costs one sync. It records which EndpointSlice
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
	Logger       *slog.Logger
}

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
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueSvc,
		UpdateFunc: func(_, obj any) { enqueueSvc(obj) },
		DeleteFunc: enqueueSvc,
	}); err != nil {
		return fmt.Errorf("service handler: %w", err)
	}
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueSlice,
		UpdateFunc: func(_, obj any) { enqueueSlice(obj) },
		DeleteFunc: enqueueSlice,
	}); err != nil {
		return fmt.Errorf("endpointslice handler: %w", err)
	}
	waitFor := []cache.InformerSynced{svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced}
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
	if err := p.fullSync(); err != nil {
		// Programmed what could be; the failing services are queued again.
		p.log.Error("initial dataplane sync incomplete", "err", err)
	}
	p.once.Do(func() { close(p.synced) })

	go func() {
		<-ctx.Done()
		p.queue.ShutDown()
	}()
	for p.next() {
	}
	return nil
}

// fullSync programs every service at once (the resync at start).
func (p *Proxy) fullSync() error {
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return err
	}
	desired := make([]model.Service, 0, len(svcs))
	sources := make([][]*discoveryv1.EndpointSlice, 0, len(svcs))
	for _, s := range svcs {
		m, slices, ok, err := p.build(s)
		if err != nil {
			return err
		}
		if ok {
			desired = append(desired, m)
			sources = append(sources, slices)
		}
	}
	start := time.Now()
	err = p.cfg.Programmer.Replace(desired)
	end := time.Now()
	p.metrics.observe(end.Sub(start), err, p.classify)
	if p.cfg.HealthCheck != nil {
		p.cfg.HealthCheck.Replace(desired)
	}
	if err != nil {
		for _, s := range desired {
			p.queue.AddRateLimited(s.Name)
		}
		return err
	}
	for i, s := range desired {
		p.recordProgrammed(s.Name, sources[i], end)
	}
	return nil
}

// recordProgrammed notes the slices a service was programmed from and
// observes the network programming latency of their new changes.
func (p *Proxy) recordProgrammed(svc types.NamespacedName, slices []*discoveryv1.EndpointSlice, at time.Time) {
	for _, t := range p.programmed.record(svc, slices, at) {
		p.metrics.programming.Observe(at.Sub(t).Seconds())
	}
}

// build returns the model of svc and the slices it was built from.
func (p *Proxy) build(svc *corev1.Service) (model.Service, []*discoveryv1.EndpointSlice, bool, error) {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name})
	slices, err := p.slices.EndpointSlices(svc.Namespace).List(sel)
	if err != nil {
		return model.Service{}, nil, false, err
	}
	// Listers return no particular order; a stable model is easier to read.
	sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
	m, ok := BuildService(svc, slices, p.cfg.NodeName)
	return m, slices, ok, nil
}

// next processes one queued service.
func (p *Proxy) next() bool {
	key, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(key)
	err := p.sync(key)
	if err == nil {
		p.queue.Forget(key)
		return true
	}
	p.log.Error("dataplane sync failed; retrying", "service", key, "err", err)
	p.queue.AddRateLimited(key)
	return true
}

func (p *Proxy) sync(key types.NamespacedName) error {
	start := time.Now()
	svc, err := p.services.Services(key.Namespace).Get(key.Name)
	var m model.Service
	var slices []*discoveryv1.EndpointSlice
	ok := false
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	default:
		if m, slices, ok, err = p.build(svc); err != nil {
			return err
		}
	}
	if ok {
		err = p.cfg.Programmer.Upsert(m)
	} else {
		err = p.cfg.Programmer.Delete(key)
		slices = nil
	}
	end := time.Now()
	p.metrics.observe(end.Sub(start), err, p.classify)
	if err == nil {
		p.recordProgrammed(key, slices, end)
	}
	if p.cfg.HealthCheck != nil {
		if ok {
			p.cfg.HealthCheck.Upsert(m)
		} else {
			p.cfg.HealthCheck.Delete(key)
		}
	}
	if err != nil && svc != nil && p.cfg.Recorder != nil {
		p.cfg.Recorder.Eventf(svc, corev1.EventTypeWarning, "DataplaneSyncFailed", "node %s: %v", p.cfg.NodeName, err)
	}
	return err
}

func (p *Proxy) classify(err error) string {
	if p.cfg.Classify != nil {
		return p.cfg.Classify(err)
	}
	return "error"
}

// errNoClient is returned by Start without a client.
var errNoClient = errors.New("proxy: no Kubernetes client")
