package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"skiff.dev/skiff/controlplane/scheduler/queue"
	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// state is what one term (one leadership, or the whole run without leader
// election) works with. Informer handlers and the scheduling goroutine
// share the snapshot and the assumptions under mu.
type state struct {
	*Scheduler
	client   kubernetes.Interface
	queue    *queue.Queue
	recorder events.EventRecorder

	mu   sync.Mutex
	snap *snapshot.Snapshot
	// assumed maps the pods placed in snap but not yet seen bound by the
	// informer to their node.
	assumed map[types.UID]string

	// api bounds the API calls in flight; inflight waits for them.
	api      chan struct{}
	inflight sync.WaitGroup
}

// term runs one scheduling term until ctx is done.
func (s *Scheduler) term(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &state{
		Scheduler: s,
		client:    s.cfg.Client,
		queue:     queue.New(queue.Config{InitialBackoff: s.cfg.InitialBackoff, MaxBackoff: s.cfg.MaxBackoff}),
		snap:      snapshot.New(),
		assumed:   map[types.UID]string{},
		api:       make(chan struct{}, s.cfg.APIConcurrency),
	}

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: s.cfg.Client.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return fmt.Errorf("scheduler: start events: %w", err)
	}
	defer broadcaster.Shutdown()
	st.recorder = broadcaster.NewRecorder(scheme.Scheme, s.cfg.Name)

	factory := informers.NewSharedInformerFactory(s.cfg.Client, 0)
	defer factory.Shutdown()
	synced, err := st.watch(factory)
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	// Wait until the handlers, not only the informers' stores, have seen
	// every initial object: the snapshot is built by the handlers.
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("scheduler: informers did not sync")
	}
	a, _, _, _ := st.queue.Len()
	st.mu.Lock()
	s.log.Info("caches synced", "nodes", st.snap.NumNodes(), "pods", st.snap.NumPods(), "pending", a)
	st.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { st.queue.Run(ctx) })
	if s.cfg.Usage != nil {
		st.loadUsage()
		wg.Go(func() { st.refreshUsage(ctx) })
	}
	for {
		qp, err := st.queue.Pop(ctx)
		if err != nil {
			break
		}
		st.scheduleOne(ctx, qp)
	}
	cancel()
	wg.Wait()
	st.inflight.Wait()
	return nil
}

// watch registers the informers the scheduler needs: pods that are not
// finished (assigned ones feed the cache, pending ones the queue), nodes,
// and namespaces (for affinity namespace selectors).
func (st *state) watch(factory informers.SharedInformerFactory) ([]cache.InformerSynced, error) {
	pods := factory.InformerFor(&v1.Pod{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewFilteredPodInformer(c, metav1.NamespaceAll, resync, cache.Indexers{}, func(o *metav1.ListOptions) {
			o.FieldSelector = "status.phase!=" + string(v1.PodSucceeded) + ",status.phase!=" + string(v1.PodFailed)
		})
	})
	handlers := []struct {
		informer cache.SharedIndexInformer
		funcs    cache.ResourceEventHandlerFuncs
	}{
		{pods, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { st.podChanged(nil, o.(*v1.Pod)) },
			UpdateFunc: func(old, o any) { st.podChanged(old.(*v1.Pod), o.(*v1.Pod)) },
			DeleteFunc: func(o any) {
				if p, ok := unwrap(o).(*v1.Pod); ok {
					st.podGone(p)
				}
			},
		}},
		{factory.Core().V1().Nodes().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { st.nodeChanged(nil, o.(*v1.Node)) },
			UpdateFunc: func(old, o any) { st.nodeChanged(old.(*v1.Node), o.(*v1.Node)) },
			DeleteFunc: func(o any) {
				if n, ok := unwrap(o).(*v1.Node); ok {
					st.locked(func() { st.snap.RemoveNode(n.Name) })
				}
			},
		}},
		{factory.Core().V1().Namespaces().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { st.namespaceChanged(nil, o.(*v1.Namespace)) },
			UpdateFunc: func(old, o any) { st.namespaceChanged(old.(*v1.Namespace), o.(*v1.Namespace)) },
			DeleteFunc: func(o any) {
				if ns, ok := unwrap(o).(*v1.Namespace); ok {
					st.locked(func() { st.snap.RemoveNamespace(ns.Name) })
				}
			},
		}},
	}
	var synced []cache.InformerSynced
	for _, h := range handlers {
		reg, err := h.informer.AddEventHandler(h.funcs)
		if err != nil {
			return nil, fmt.Errorf("scheduler: add event handler: %w", err)
		}
		synced = append(synced, reg.HasSynced)
	}
	return synced, nil
}

func unwrap(o any) any {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		return d.Obj
	}
	return o
}

func (st *state) locked(fn func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	fn()
}

// Cluster events and the filters they may satisfy, for the queue.
var (
	evNodeChanged        = queue.Event{Name: "NodeAddedOrChanged"}
	evAssignedPodDeleted = queue.Event{Name: "AssignedPodDeleted", Helps: []string{
		"NodeResourcesFit", "NodePorts", "InterPodAffinity", "PodTopologySpread",
	}}
	evAssignedPodAdded  = queue.Event{Name: "AssignedPodAdded", Helps: []string{"InterPodAffinity", "PodTopologySpread"}}
	evAssignedPodLabels = queue.Event{Name: "AssignedPodLabelsChanged", Helps: []string{"InterPodAffinity", "PodTopologySpread"}}
	evNamespaceLabels   = queue.Event{Name: "NamespaceLabelsChanged", Helps: []string{"InterPodAffinity"}}
)

func terminal(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

// responsible tells whether this scheduler places the pod.
func (st *state) responsible(p *v1.Pod) bool {
	name := p.Spec.SchedulerName
	if name == "" {
		name = DefaultName
	}
	return name == st.cfg.Name
}

// podChanged routes a pod the informer added or updated: assigned pods to
// the cache (confirming an assumption), pending ones of this scheduler to
// the queue.
func (st *state) podChanged(old, p *v1.Pod) {
	if terminal(p) {
		st.podGone(p)
		return
	}
	if p.Spec.NodeName == "" {
		st.pending(p)
		return
	}
	st.queue.Delete(p.UID)
	pi, err := snapshot.NewPodInfo(p)
	if err != nil {
		// Count its resources even if its affinity terms do not parse.
		st.log.Warn("assigned pod has invalid affinity terms, counting its resources only", "pod", podRef(p), "err", err)
		stripped := p.DeepCopy()
		stripped.Spec.Affinity = nil
		if pi, err = snapshot.NewPodInfo(stripped); err != nil {
			st.log.Error("cannot account assigned pod", "pod", podRef(p), "err", err)
			return
		}
	}
	var assumed bool
	st.locked(func() {
		_, assumed = st.assumed[p.UID]
		delete(st.assumed, p.UID)
		st.snap.AddPod(pi, p.Spec.NodeName)
	})
	switch {
	case old == nil || old.Spec.NodeName == "":
		if !assumed {
			st.queue.Move(evAssignedPodAdded)
		}
	case !maps.Equal(old.Labels, p.Labels):
		st.queue.Move(evAssignedPodLabels)
	}
}

func (st *state) pending(p *v1.Pod) {
	if !st.responsible(p) || len(p.Spec.SchedulingGates) > 0 {
		st.queue.Delete(p.UID)
		return
	}
	var assumed bool
	st.locked(func() { _, assumed = st.assumed[p.UID] })
	if assumed {
		return // being bound; the informer will show it bound
	}
	st.queue.Add(p)
}

// podGone handles a pod deleted or finished: it frees its place.
func (st *state) podGone(p *v1.Pod) {
	st.queue.Delete(p.UID)
	var removed bool
	st.locked(func() {
		delete(st.assumed, p.UID)
		removed = st.snap.RemovePod(p.UID)
	})
	if removed {
		st.queue.Move(evAssignedPodDeleted)
	}
}

func (st *state) nodeChanged(old, n *v1.Node) {
	st.locked(func() { st.snap.SetNode(n) })
	if old == nil || schedulingChanged(old, n) {
		st.queue.Move(evNodeChanged)
	}
}

// schedulingChanged ignores heartbeats and conditions: only what filters
// and scores read can make a pending pod fit.
func schedulingChanged(old, n *v1.Node) bool {
	return old.Spec.Unschedulable != n.Spec.Unschedulable ||
		!maps.Equal(old.Labels, n.Labels) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, n.Status.Allocatable) ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, n.Spec.Taints)
}

func (st *state) namespaceChanged(old, ns *v1.Namespace) {
	st.locked(func() { st.snap.SetNamespace(ns.Name, ns.Labels) })
	if old != nil && !maps.Equal(old.Labels, ns.Labels) {
		st.queue.Move(evNamespaceLabels)
	}
}

// refreshUsage copies observed usage into the snapshot every
// UsageInterval, until ctx is done.
func (st *state) refreshUsage(ctx context.Context) {
	t := time.NewTicker(st.cfg.UsageInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st.loadUsage()
		}
	}
}

// loadUsage reads the usage of every node (outside the lock: the source
// may take its time) and records it.
func (st *state) loadUsage() {
	var names []string
	st.locked(func() {
		for _, n := range st.snap.Nodes() {
			names = append(names, n.Name)
		}
	})
	type sample struct {
		u  snapshot.Usage
		ok bool
	}
	samples := make([]sample, len(names))
	for i, name := range names {
		cpu, mem, ok := st.cfg.Usage.NodeUsage(name)
		samples[i] = sample{snapshot.Usage{MilliCPU: cpu, Memory: mem}, ok}
	}
	st.locked(func() {
		for i, s := range samples {
			if s.ok {
				st.snap.SetUsage(names[i], s.u)
			} else {
				st.snap.ClearUsage(names[i])
			}
		}
	})
}

// async runs an API call in the background, at most APIConcurrency at a
// time; it blocks when that many are in flight.
func (st *state) async(ctx context.Context, fn func(context.Context)) {
	select {
	case st.api <- struct{}{}:
	case <-ctx.Done():
		return
	}
	st.inflight.Go(func() {
		defer func() { <-st.api }()
		fn(ctx)
	})
}

// podRef renders a pod reference for logs.
func podRef(p *v1.Pod) slog.Value {
	return slog.StringValue(p.Namespace + "/" + p.Name)
}
