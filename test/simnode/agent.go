package simnode

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// agent is the mini kubelet of all simulated nodes: one pod informer, one
// work queue of pod keys, a fixed pool of workers.
type agent struct {
	n       *Nodes
	factory informers.SharedInformerFactory
	pods    cache.SharedIndexInformer
	nodes   listerscorev1.NodeLister
	queue   workqueue.TypedRateLimitingInterface[string]

	mu sync.Mutex
	// firstSeen is when each pending pod was first seen bound, and
	// stopping when each pod was first seen being deleted.
	firstSeen, stopping map[types.UID]time.Time
	// unready holds the pods whose readiness probe fails (SetPodReady).
	unready map[types.UID]bool
	// ips are the pod addresses handed out, and by pod.
	ips   map[netip.Addr]types.UID
	podIP map[types.UID]netip.Addr
}

const byNode = "nodeName"

func newAgent(n *Nodes) *agent {
	f := informers.NewSharedInformerFactory(n.cs, 0)
	a := &agent{
		n: n, factory: f,
		pods:  f.Core().V1().Pods().Informer(),
		nodes: f.Core().V1().Nodes().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "simnode"}),
		firstSeen: map[types.UID]time.Time{},
		stopping:  map[types.UID]time.Time{},
		unready:   map[types.UID]bool{},
		ips:       map[netip.Addr]types.UID{},
		podIP:     map[types.UID]netip.Addr{},
	}
	return a
}

// sync registers the handlers, starts the informers on runCtx and waits
// until they are synced or ctx ends.
func (a *agent) sync(ctx, runCtx context.Context) error {
	err := a.pods.AddIndexers(cache.Indexers{byNode: func(obj any) ([]string, error) {
		return []string{obj.(*corev1.Pod).Spec.NodeName}, nil
	}})
	if err != nil {
		return fmt.Errorf("simnode: pod index: %w", err)
	}
	_, err = a.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.enqueue,
		UpdateFunc: func(_, obj any) { a.enqueue(obj) },
		DeleteFunc: a.forget,
	})
	if err != nil {
		return fmt.Errorf("simnode: pod handler: %w", err)
	}
	a.factory.Start(runCtx.Done())
	for typ, ok := range a.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("simnode: informer for %v did not sync: %w", typ, ctx.Err())
		}
	}
	return nil
}

func (a *agent) enqueue(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" || a.n.node(pod.Spec.NodeName) == nil {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		a.queue.Add(key)
	}
}

// forget drops what the agent holds for a deleted pod.
func (a *agent) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.firstSeen, pod.UID)
	delete(a.stopping, pod.UID)
	delete(a.unready, pod.UID)
	a.releaseIPLocked(pod.UID)
}

// resyncNode queues every pod bound to node.
func (a *agent) resyncNode(node string) {
	objs, _ := a.pods.GetIndexer().ByIndex(byNode, node)
	for _, obj := range objs {
		a.enqueue(obj)
	}
}

func (a *agent) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range a.n.cfg.Workers {
		wg.Go(func() {
			for a.work(ctx) {
			}
		})
	}
	<-ctx.Done()
	a.queue.ShutDown()
	wg.Wait()
	a.factory.Shutdown()
}

func (a *agent) work(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	after, err := a.syncPod(ctx, key)
	switch {
	case err != nil && ctx.Err() == nil:
		a.n.log.Debug("pod sync", "pod", key, "err", err)
		a.queue.AddRateLimited(key)
	case after > 0:
		a.queue.Forget(key)
		a.queue.AddAfter(key, after)
	default:
		a.queue.Forget(key)
	}
	return true
}

// syncPod moves one pod along: a bound pending pod starts, a pod being
// deleted stops. It returns how long to wait before looking again.
func (a *agent) syncPod(ctx context.Context, key string) (time.Duration, error) {
	obj, exists, err := a.pods.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return 0, err
	}
	pod := obj.(*corev1.Pod)
	s := a.n.node(pod.Spec.NodeName)
	if s == nil {
		return 0, nil
	}
	now := time.Now()
	if pod.DeletionTimestamp != nil {
		return a.terminate(ctx, pod, now)
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return 0, nil
	case corev1.PodRunning:
		if ip, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
			a.claimIP(pod.UID, ip)
		}
		return 0, a.reportReadiness(ctx, pod)
	}
	a.mu.Lock()
	seen, ok := a.firstSeen[pod.UID]
	if !ok {
		seen = now
		a.firstSeen[pod.UID] = now
	}
	ready := !a.unready[pod.UID]
	a.mu.Unlock()
	if wait := seen.Add(a.n.cfg.StartupDelay).Sub(now); wait > 0 {
		return wait, nil
	}
	ip, err := a.allocateIP(pod, s)
	if err != nil {
		return 0, err
	}
	pod = pod.DeepCopy()
	setRunning(pod, HostIP(s.index), ip, metav1.NewTime(now), ready)
	if _, err := a.n.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("start pod %s: %w", key, err)
	}
	a.mu.Lock()
	delete(a.firstSeen, pod.UID)
	a.mu.Unlock()
	return 0, nil
}

// reportReadiness sets a running pod's Ready condition back to what its
// readiness probe says, if someone else (the node lifecycle controller,
// while the node was dead) changed it.
func (a *agent) reportReadiness(ctx context.Context, pod *corev1.Pod) error {
	a.mu.Lock()
	ready := !a.unready[pod.UID]
	a.mu.Unlock()
	want := corev1.ConditionFalse
	if ready {
		want = corev1.ConditionTrue
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == want {
			return nil
		}
	}
	pod = pod.DeepCopy()
	setReady(pod, ready, metav1.Now())
	_, err := a.n.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("pod %s/%s readiness: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// terminate finishes a pod being deleted once it has had
// min(grace period, TerminationDelay) to stop since the agent saw the
// deletion: a delete with no grace period, for this pod's UID only, as a
// kubelet does.
func (a *agent) terminate(ctx context.Context, pod *corev1.Pod, now time.Time) (time.Duration, error) {
	var grace time.Duration
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	a.mu.Lock()
	seen, ok := a.stopping[pod.UID]
	if !ok {
		seen = now
		a.stopping[pod.UID] = now
	}
	a.mu.Unlock()
	if wait := seen.Add(min(grace, a.n.cfg.TerminationDelay)).Sub(now); wait > 0 {
		return wait, nil
	}
	err := a.n.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return 0, fmt.Errorf("finish pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return 0, nil
}

// allocateIP gives the pod an address: its own if it has one, else the
// lowest free one of the node's podCIDR, or of 10.244.<node>.0/24 when the
// node has none.
func (a *agent) allocateIP(pod *corev1.Pod, s *simNode) (netip.Addr, error) {
	base := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244 + byte(s.index>>8), byte(s.index), 0}), 24)
	if node, err := a.nodes.Get(s.name); err == nil && node.Spec.PodCIDR != "" {
		p, err := netip.ParsePrefix(node.Spec.PodCIDR)
		if err != nil || !p.Addr().Is4() {
			return netip.Addr{}, fmt.Errorf("node %s podCIDR %q is not an IPv4 prefix", s.name, node.Spec.PodCIDR)
		}
		base = p.Masked()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.podIP[pod.UID]; ok && base.Contains(ip) {
		return ip, nil
	}
	a.releaseIPLocked(pod.UID)
	// Skip the network address and the first host (the bridge's gateway).
	ip := base.Addr().Next().Next()
	for ; base.Contains(ip) && base.Contains(ip.Next()); ip = ip.Next() {
		if _, used := a.ips[ip]; !used {
			a.ips[ip], a.podIP[pod.UID] = pod.UID, ip
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("node %s: no free pod address in %s", s.name, base)
}

// claimIP records the address a running pod already has (pods started
// before this agent).
func (a *agent) claimIP(uid types.UID, ip netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.podIP[uid]; !ok {
		a.ips[ip], a.podIP[uid] = uid, ip
	}
}

func (a *agent) releaseIPLocked(uid types.UID) {
	if ip, ok := a.podIP[uid]; ok {
		delete(a.podIP, uid)
		if a.ips[ip] == uid {
			delete(a.ips, ip)
		}
	}
}

// errNotHere is returned for a pod that is not on a live simulated node.
var errNotHere = errors.New("pod is not on a live simulated node")

// updatePod applies change to the current pod through pods/status,
// retrying on conflicts; the pod must be on a live simulated node.
func (a *agent) updatePod(ns, name string, change func(*corev1.Pod) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		pod, err := a.n.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("pod %s/%s: %w", ns, name, err)
		}
		if a.n.node(pod.Spec.NodeName) == nil {
			return fmt.Errorf("pod %s/%s on node %q: %w", ns, name, pod.Spec.NodeName, errNotHere)
		}
		if err := change(pod); errors.Is(err, errUnchanged) {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := a.n.cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("pod %s/%s status: %w", ns, name, err)
		}
		return nil
	})
}

// SetPodReady sets the readiness of a pod on a simulated node, as a
// readiness probe would: a running pod changes at once, a pending one
// starts that way.
func (n *Nodes) SetPodReady(ns, name string, ready bool) error {
	a := n.agent
	return a.updatePod(ns, name, func(pod *corev1.Pod) error {
		a.mu.Lock()
		if ready {
			delete(a.unready, pod.UID)
		} else {
			a.unready[pod.UID] = true
		}
		a.mu.Unlock()
		if pod.Status.Phase != corev1.PodRunning {
			return errUnchanged
		}
		setReady(pod, ready, metav1.Now())
		return nil
	})
}

// FailPod makes the containers of a running pod on a simulated node exit
// with exitCode. Per the pod's restartPolicy, the pod ends (Never; or
// OnFailure with code 0): Succeeded for code 0, else Failed; or its
// containers restart (Always; OnFailure with a non-zero code), counting
// a restart.
func (n *Nodes) FailPod(ns, name string, exitCode int32) error {
	a := n.agent
	return a.updatePod(ns, name, func(pod *corev1.Pod) error {
		if pod.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pod %s/%s is %s, not Running", ns, name, pod.Status.Phase)
		}
		policy := pod.Spec.RestartPolicy
		now := metav1.Now()
		if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && exitCode == 0) {
			setFinished(pod, exitCode, now)
			a.mu.Lock()
			a.releaseIPLocked(pod.UID)
			a.mu.Unlock()
			return nil
		}
		a.mu.Lock()
		ready := !a.unready[pod.UID]
		a.mu.Unlock()
		setRestarted(pod, exitCode, now, ready)
		return nil
	})
}

// errUnchanged ends an update that has nothing to write.
var errUnchanged = errors.New("unchanged")
