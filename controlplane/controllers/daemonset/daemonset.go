// Package daemonset runs one pod of each DaemonSet on every node that
// should run it (node selector, node affinity, taints and tolerations),
// following nodes as they come, go and change, as Kubernetes' daemon set
// controller does: pods are bound to their node by a matchFields affinity
// on metadata.name and placed by the scheduler, failed pods are replaced
// with backoff, ControllerRevisions record the templates
// (controller-revision-hash), and a RollingUpdate replaces pods within
// maxUnavailable, or maxSurge with the old pod kept until the new one is
// available. Status carries what kubectl rollout status reads.
package daemonset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Name is the controller's name in logs and events.
const Name = "daemonset-controller"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Config configures the controller; zero fields take defaults.
type Config struct {
	// Workers is how many DaemonSets are synced at once (default 2).
	Workers int
	// BurstReplicas caps the pods created or deleted in one sync
	// (default 250).
	BurstReplicas int
	// FailedPodBackoff is the first delay before a failed daemon pod is
	// replaced again on the same node; it doubles up to 15 minutes
	// (default 1s).
	FailedPodBackoff time.Duration
}

// Controller is the daemon set controller.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	dsLister  appslisters.DaemonSetLister
	revLister appslisters.ControllerRevisionLister
	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	owners    controllerutil.Owners[*appsv1.DaemonSet]
	synced    []cache.InformerSynced
	queue     controllerutil.Queue
	expect    *controllerutil.Expectations
	podCtl    controllerutil.PodControl
	backoff   *flowcontrol.Backoff
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
}

var _ controllers.Controller = (*Controller)(nil)

// New returns a daemon set controller over c's informers.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = 250
	}
	if cfg.FailedPodBackoff <= 0 {
		cfg.FailedPodBackoff = time.Second
	}
	dsInf := c.Informers.Apps().V1().DaemonSets()
	revInf := c.Informers.Apps().V1().ControllerRevisions()
	podInf := c.Informers.Core().V1().Pods()
	nodeInf := c.Informers.Core().V1().Nodes()
	dc := &Controller{
		cfg:       cfg,
		client:    c.Client,
		dsLister:  dsInf.Lister(),
		revLister: revInf.Lister(),
		pods:      podInf.Lister(),
		nodes:     nodeInf.Lister(),
		synced: []cache.InformerSynced{dsInf.Informer().HasSynced, revInf.Informer().HasSynced,
			podInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		queue:    controllerutil.NewQueue(Name),
		expect:   controllerutil.NewExpectations(),
		backoff:  flowcontrol.NewBackOff(cfg.FailedPodBackoff, 15*time.Minute),
		recorder: c.Recorder(Name),
		log:      c.Logger.With("controller", Name),
		now:      time.Now,
	}
	dc.podCtl = controllerutil.PodControl{Client: c.Client, Recorder: dc.recorder}
	dc.owners = controllerutil.OwnersFromLister(controllerKind.Kind, dc.dsLister.DaemonSets,
		func(ds *appsv1.DaemonSet) *metav1.LabelSelector { return ds.Spec.Selector })
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandlerFuncs
	}{
		{dsInf.Informer(), controllerutil.EnqueueHandler(dc.queue, dc.expect)},
		{revInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    dc.revChanged,
			UpdateFunc: func(_, obj any) { dc.revChanged(obj) },
			DeleteFunc: dc.revChanged,
		}},
		{podInf.Informer(), controllerutil.OwnedHandler(dc.queue, dc.owners, dc.expect)},
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { dc.enqueueAll() },
			UpdateFunc: dc.nodeUpdated,
			DeleteFunc: func(any) { dc.enqueueAll() },
		}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("%s: event handler: %w", Name, err)
		}
	}
	return dc, nil
}

// Constructor returns a controllers.Constructor that builds the
// controller with cfg.
func Constructor(cfg Config) controllers.Constructor { return controllers.ConstructorFor(New, cfg) }

// Name implements controllers.Controller.
func (dc *Controller) Name() string { return Name }

// Start implements controllers.Controller.
func (dc *Controller) Start(ctx context.Context) error {
	go wait.UntilWithContext(ctx, func(context.Context) { dc.backoff.GC() }, time.Minute)
	controllerutil.Run(ctx, dc.synced, dc.queue, dc.cfg.Workers, dc.log, dc.sync)
	return nil
}

func (dc *Controller) enqueueAll() {
	all, err := dc.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		controllerutil.Enqueue(dc.queue, ds)
	}
}

// nodeUpdated wakes the DaemonSets when a change may move their pods.
func (dc *Controller) nodeUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Node), newObj.(*corev1.Node)
	if reflect.DeepEqual(old.Labels, cur.Labels) && reflect.DeepEqual(old.Spec.Taints, cur.Spec.Taints) &&
		old.Spec.Unschedulable == cur.Spec.Unschedulable {
		return
	}
	dc.enqueueAll()
}

func (dc *Controller) revChanged(obj any) {
	rev, ok := controllerutil.Unwrap[*appsv1.ControllerRevision](obj)
	if !ok {
		return
	}
	if ds, ok := dc.owners.Of(rev.Namespace, metav1.GetControllerOfNoCopy(rev)); ok {
		controllerutil.Enqueue(dc.queue, ds)
	}
}

// sync reconciles one DaemonSet.
func (dc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := controllerutil.SplitKey(key)
	if err != nil {
		return nil
	}
	cached, err := dc.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		dc.expect.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	ds := cached.DeepCopy()
	if reflect.DeepEqual(ds.Spec.Selector, &metav1.LabelSelector{}) {
		dc.recorder.Eventf(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	nodes, err := dc.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	cur, old, err := dc.constructHistory(ctx, ds)
	if err != nil {
		return fmt.Errorf("daemon set %s history: %w", key, err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if !dc.expect.Satisfied(key) {
		return dc.updateStatus(ctx, ds, nodes, hash, false)
	}
	err = dc.manage(ctx, key, ds, nodes, hash)
	if err == nil && dc.expect.Satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		err = dc.rollingUpdate(ctx, key, ds, nodes, hash)
	}
	if err == nil {
		err = dc.cleanupHistory(ctx, ds, old)
	}
	return errors.Join(err, dc.updateStatus(ctx, ds, nodes, hash, err == nil))
}

// claimer adopts and releases the objects of ds (pods, revisions).
func (dc *Controller) claimer(ds *appsv1.DaemonSet) (*controllerutil.Claimer, error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	return &controllerutil.Claimer{
		Owner: ds, Kind: controllerKind, Selector: sel,
		Fresh: func(ctx context.Context) (metav1.Object, error) {
			return dc.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		},
	}, nil
}

// nodePods returns ds's pods by the node they are for, claiming matching
// orphans and releasing pods that stopped matching. Finished pods being
// deleted are left out unless withDeletedTerminal is set.
func (dc *Controller) nodePods(ctx context.Context, ds *appsv1.DaemonSet, withDeletedTerminal bool) (map[string][]*corev1.Pod, error) {
	claimer, err := dc.claimer(ds)
	if err != nil {
		return nil, err
	}
	all, err := dc.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	owned, err := controllerutil.Claim(ctx, claimer, all, controllerutil.PodPatcher(dc.client))
	if err != nil {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, p := range owned {
		if !withDeletedTerminal && controllerutil.IsPodTerminal(p) && p.DeletionTimestamp != nil {
			continue
		}
		if node := targetNode(p); node != "" {
			out[node] = append(out[node], p)
		}
	}
	return out, nil
}

// manage creates the missing daemon pods and deletes the ones that must
// go: on nodes that should not run them, failed ones (with backoff),
// duplicates, and unscheduled ones for nodes that are gone.
func (dc *Controller) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	byNode, err := dc.nodePods(ctx, ds, false)
	if err != nil {
		return err
	}
	var create, del []string
	exists := map[string]bool{}
	for _, node := range nodes {
		exists[node.Name] = true
		c, d := dc.podsShouldBeOnNode(key, node, byNode, ds, hash)
		create = append(create, c...)
		del = append(del, d...)
	}
	for node, pods := range byNode {
		if exists[node] {
			continue
		}
		for _, p := range pods {
			if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
				del = append(del, p.Name)
			}
		}
	}
	return dc.syncNodes(ctx, key, ds, del, create, hash)
}

// podsShouldBeOnNode returns whether node needs a daemon pod and which of
// its daemon pods to delete.
func (dc *Controller) podsShouldBeOnNode(key string, node *corev1.Node, byNode map[string][]*corev1.Pod, ds *appsv1.DaemonSet, hash string) (create, del []string) {
	run, keep := shouldRun(node, ds)
	pods, exists := byNode[node.Name]
	switch {
	case run && !exists:
		return []string{node.Name}, nil
	case keep:
		var running []*corev1.Pod
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			switch p.Status.Phase {
			case corev1.PodFailed:
				// Replace a failed pod, but not faster than the backoff
				// allows, so that a crash-looping daemon does not storm
				// the API server.
				bk := string(ds.UID) + "/" + node.Name
				now := dc.now()
				if dc.backoff.IsInBackOffSinceUpdate(bk, now) {
					dc.queue.AddAfter(key, dc.backoff.Get(bk))
					continue
				}
				dc.backoff.Next(bk, now)
				dc.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node.Name)
				del = append(del, p.Name)
			case corev1.PodSucceeded:
				del = append(del, p.Name)
			default:
				running = append(running, p)
			}
		}
		if len(running) <= 1 {
			return nil, del
		}
		sort.Slice(running, func(i, j int) bool { return olderFirst(running[i], running[j]) })
		if !allowsSurge(ds) {
			for _, p := range running[1:] {
				del = append(del, p.Name)
			}
			return nil, del
		}
		// With surge, keep the oldest updated and the oldest old pod;
		// the old one goes once the updated one is available (or it is
		// not ready anyway).
		var newest, oldest *corev1.Pod
		for _, p := range running {
			if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
				if newest == nil {
					newest = p
					continue
				}
			} else if oldest == nil {
				oldest = p
				continue
			}
			del = append(del, p.Name)
		}
		if newest != nil && oldest != nil &&
			(!controllerutil.IsPodReady(oldest) || controllerutil.IsPodAvailable(newest, ds.Spec.MinReadySeconds, dc.now())) {
			del = append(del, oldest.Name)
		}
		return nil, del
	case exists:
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				del = append(del, p.Name)
			}
		}
	}
	return nil, del
}

// olderFirst orders scheduled pods first, then by age.
func olderFirst(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName != ""
	}
	if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.Name < b.Name
	}
	return a.CreationTimestamp.Before(&b.CreationTimestamp)
}

// syncNodes deletes the named pods and creates a pod for each node in
// create, under expectations.
func (dc *Controller) syncNodes(ctx context.Context, key string, ds *appsv1.DaemonSet, del, create []string, hash string) error {
	create = create[:min(len(create), dc.cfg.BurstReplicas)]
	del = del[:min(len(del), dc.cfg.BurstReplicas)]
	delKeys := make([]string, len(del))
	for i, name := range del {
		delKeys[i] = ds.Namespace + "/" + name
	}
	dc.expect.Expect(key, len(create), delKeys)

	template := podTemplate(ds, hash)
	ref := metav1.NewControllerRef(ds, controllerKind)
	var next atomic.Int64
	_, createErr := controllerutil.SlowStartBatch(len(create), 1, func() error {
		node := create[next.Add(1)-1]
		pod := controllerutil.PodFromTemplate(template, ds, ref)
		pod.Spec.Affinity = nodeAffinityFor(pod.Spec.Affinity, node)
		_, err := dc.podCtl.Create(ctx, ds, pod)
		if apierrors.IsTimeout(err) {
			return nil
		}
		if err != nil {
			dc.expect.CreationObserved(key)
		}
		return err
	})
	// The pods never attempted will not come either.
	for range len(create) - int(next.Load()) {
		dc.expect.CreationObserved(key)
	}

	errs := make([]error, len(del))
	var wg sync.WaitGroup
	for i, name := range del {
		wg.Go(func() {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ds.Namespace, Name: name}}
			if err := dc.podCtl.Delete(ctx, ds, pod); err != nil {
				dc.expect.DeletionObserved(key, delKeys[i])
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return errors.Join(append(errs, createErr)...)
}

// allowsSurge reports whether ds's rolling update may run a new pod next
// to an old one.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	surge, err := scaled(ds, func(r *appsv1.RollingUpdateDaemonSet) *intstr.IntOrString { return r.MaxSurge }, 1)
	return err == nil && surge != 0
}

// scaled resolves a rolling-update limit against n nodes, rounding up.
func scaled(ds *appsv1.DaemonSet, field func(*appsv1.RollingUpdateDaemonSet) *intstr.IntOrString, n int) (int, error) {
	r := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || r == nil || field(r) == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(field(r), n, true)
}

// updateStatus writes ds's status from its pods; observedGeneration
// moves only when the sync went through.
func (dc *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string, observed bool) error {
	byNode, err := dc.nodePods(ctx, ds, false)
	if err != nil {
		return err
	}
	now := dc.now()
	s := ds.Status
	s.DesiredNumberScheduled, s.CurrentNumberScheduled, s.NumberMisscheduled = 0, 0, 0
	s.NumberReady, s.NumberAvailable, s.UpdatedNumberScheduled = 0, 0, 0
	var next time.Duration
	for _, node := range nodes {
		run, _ := shouldRun(node, ds)
		pods := byNode[node.Name]
		if !run {
			if len(pods) > 0 {
				s.NumberMisscheduled++
			}
			continue
		}
		s.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		s.CurrentNumberScheduled++
		pods = append([]*corev1.Pod(nil), pods...)
		sort.Slice(pods, func(i, j int) bool { return olderFirst(pods[i], pods[j]) })
		pod := pods[0]
		if controllerutil.IsPodReady(pod) {
			s.NumberReady++
			if controllerutil.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				s.NumberAvailable++
			}
		}
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			s.UpdatedNumberScheduled++
		}
	}
	s.NumberUnavailable = s.DesiredNumberScheduled - s.NumberAvailable
	if observed {
		s.ObservedGeneration = ds.Generation
	}
	// Look again when a ready pod becomes available: the status counts it
	// then, and a surging update deletes the old pod beside it.
	for _, pods := range byNode {
		for _, p := range pods {
			if wait, ready := controllerutil.UntilAvailable(p, ds.Spec.MinReadySeconds, now); ready && wait > 0 && (next == 0 || wait < next) {
				next = wait
			}
		}
	}
	if next > 0 {
		dc.queue.AddAfter(ds.Namespace+"/"+ds.Name, next)
	}
	if reflect.DeepEqual(ds.Status, s) {
		return nil
	}
	upd := ds.DeepCopy()
	upd.Status = s
	if _, err := dc.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}
