// Package nodelifecycle is the node lifecycle controller: it watches node
// heartbeats (Leases in kube-node-lease and the Ready condition), marks a
// node whose heartbeat stopped for NodeMonitorGracePeriod as Unknown and its
// pods not Ready, keeps the node.kubernetes.io/* taints in line with the
// node's conditions (NoSchedule for the scheduler, NoExecute for
// eviction), evicts pods from NoExecute-tainted nodes once their
// tolerations run out (Kubernetes' taint eviction controller), and removes
// the pods of deleted nodes (the orphan part of Kubernetes' pod GC).
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Name is the controller's name in logs, events and flags.
const Name = "node-lifecycle"

// Config configures the controller. Zero fields take the defaults.
type Config struct {
	// NodeMonitorGracePeriod is how long a node may go without a
	// heartbeat before it is marked Unknown (default 40s).
	NodeMonitorGracePeriod time.Duration
	// NodeStartupGracePeriod is the same for a node that never reported a
	// Ready condition, counted from its creation (default 60s).
	NodeStartupGracePeriod time.Duration
	// NodeMonitorPeriod is how often node health is checked (default 5s).
	NodeMonitorPeriod time.Duration
	// OrphanQuarantine is how old a pod bound to a node that does not
	// exist must be before it is removed, when the node was not seen
	// deleted (default 40s, pod GC's quarantine): it covers pods created
	// for a node that has not registered yet.
	OrphanQuarantine time.Duration
	// Workers bound the API calls in flight (default 8).
	Workers int
}

func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.NodeMonitorGracePeriod, 40*time.Second)
	set(&c.NodeStartupGracePeriod, 60*time.Second)
	set(&c.NodeMonitorPeriod, 5*time.Second)
	set(&c.OrphanQuarantine, 40*time.Second)
	if c.Workers <= 0 {
		c.Workers = 8
	}
	return c
}

// Controller is the node lifecycle controller.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	log      *slog.Logger
	recorder record.EventRecorder
	nodes    corelisters.NodeLister
	leases   coordinationlisters.LeaseLister
	pods     cache.Indexer
	// queue holds keys of pods to check for eviction or orphaning.
	queue controllerutil.Queue

	// health is each node's heartbeat record; only the monitor loop uses it.
	health map[string]*health

	mu sync.Mutex
	// deleted records when nodes were seen deleted.
	deleted map[string]time.Time
	// taintSeen records when a NoExecute taint without timeAdded was first
	// seen, by node, key and effect.
	taintSeen map[string]time.Time
}

// podsByNode indexes pods by spec.nodeName.
const podsByNode = "nodelifecycle.nodeName"

// New builds the controller on c's shared informers (nodes, pods, leases).
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	cfg = cfg.withDefaults()
	podInformer := c.Informers.Core().V1().Pods().Informer()
	nodeInformer := c.Informers.Core().V1().Nodes().Informer()
	ctrl := &Controller{
		cfg:       cfg,
		client:    c.Client,
		log:       c.Logger.With("controller", Name),
		recorder:  c.Recorder("node-controller"),
		nodes:     c.Informers.Core().V1().Nodes().Lister(),
		leases:    c.Informers.Coordination().V1().Leases().Lister(),
		pods:      podInformer.GetIndexer(),
		queue:     controllerutil.NewQueue(Name),
		health:    map[string]*health{},
		deleted:   map[string]time.Time{},
		taintSeen: map[string]time.Time{},
	}
	if _, exists := ctrl.pods.GetIndexers()[podsByNode]; !exists {
		err := podInformer.AddIndexers(cache.Indexers{podsByNode: func(obj any) ([]string, error) {
			if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
				return []string{pod.Spec.NodeName}, nil
			}
			return nil, nil
		}})
		if err != nil {
			return nil, fmt.Errorf("%s: pod index: %w", Name, err)
		}
	}
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctrl.podChanged,
		UpdateFunc: func(_, obj any) { ctrl.podChanged(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s: pod handler: %w", Name, err)
	}
	if _, err := nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctrl.nodeAdded,
		UpdateFunc: ctrl.nodeUpdated,
		DeleteFunc: ctrl.nodeDeleted,
	}); err != nil {
		return nil, fmt.Errorf("%s: node handler: %w", Name, err)
	}
	// Registered so that the manager starts and syncs it.
	c.Informers.Coordination().V1().Leases().Informer()
	return ctrl, nil
}

// Constructor returns the constructor a controllers.Manager builds the
// controller with.
func Constructor(cfg Config) controllers.Constructor { return controllers.ConstructorFor(New, cfg) }

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Start runs the health monitor and the eviction workers until ctx is
// done.
func (c *Controller) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { controllerutil.Run(ctx, nil, c.queue, c.cfg.Workers, c.log, c.syncPod) })
	t := time.NewTicker(c.cfg.NodeMonitorPeriod)
	defer t.Stop()
	for {
		if err := c.monitor(ctx, time.Now()); err != nil && ctx.Err() == nil {
			c.log.Error("node monitor", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// syncPod checks the pod named by key, and again when checkPod says.
func (c *Controller) syncPod(ctx context.Context, key string) error {
	after, err := c.checkPod(ctx, key)
	if err == nil && after > 0 {
		c.queue.AddAfter(key, after)
	}
	return err
}

func (c *Controller) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if err != nil || len(noExecuteTaints(node.Spec.Taints)) > 0 {
		// A missing node may be an orphan's; a tainted one may evict.
		c.enqueuePod(pod)
	}
}

func (c *Controller) nodeAdded(obj any) {
	node := obj.(*corev1.Node)
	c.mu.Lock()
	delete(c.deleted, node.Name)
	c.mu.Unlock()
	if len(noExecuteTaints(node.Spec.Taints)) > 0 {
		c.enqueueNodePods(node.Name)
	}
}

func (c *Controller) nodeUpdated(old, cur any) {
	o, n := old.(*corev1.Node), cur.(*corev1.Node)
	if !sameTaints(noExecuteTaints(o.Spec.Taints), noExecuteTaints(n.Spec.Taints)) {
		c.enqueueNodePods(n.Name)
	}
}

func (c *Controller) nodeDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	c.mu.Lock()
	c.deleted[node.Name] = time.Now()
	for k := range c.taintSeen {
		if strings.HasPrefix(k, node.Name+"/") {
			delete(c.taintSeen, k)
		}
	}
	c.mu.Unlock()
	c.enqueueNodePods(node.Name)
}

func (c *Controller) enqueuePod(pod *corev1.Pod) {
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueNodePods(node string) {
	objs, _ := c.pods.ByIndex(podsByNode, node)
	for _, obj := range objs {
		c.enqueuePod(obj.(*corev1.Pod))
	}
}
