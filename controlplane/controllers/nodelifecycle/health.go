package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"
)

// health is what the controller last saw of a node's heartbeat. probe is
// this controller's clock when the heartbeat last moved, so that clock
// skew between node and controller does not matter.
type health struct {
	probe time.Time
	beat  metav1.Time      // the Ready condition's lastHeartbeatTime
	renew metav1.MicroTime // the Lease's renewTime
}

// conditionsMarked are the conditions a kubelet owns, which go Unknown
// when it stops reporting.
var conditionsMarked = []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}

// monitor checks every node once: heartbeats, conditions, taints and the
// readiness of pods on nodes that are not Ready. Nodes needing writes are
// handled by up to Workers goroutines.
func (c *Controller) monitor(ctx context.Context, now time.Time) error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	live := make(map[string]bool, len(nodes))
	var todo []*corev1.Node
	for _, node := range nodes {
		live[node.Name] = true
		stale := c.observe(node, now)
		if stale && !allUnknown(node) || !sameTaints(managedTaints(node.Spec.Taints), c.desiredTaints(node, now)) ||
			readyStatus(node) != corev1.ConditionTrue && c.hasReadyPods(node.Name) {
			todo = append(todo, node)
		}
	}
	for name := range c.health {
		if !live[name] {
			delete(c.health, name)
		}
	}
	c.pruneDeleted(now)
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.cfg.Workers)
	for i, node := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = c.reconcileNode(ctx, node, c.isStale(node, now), now)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// observe records node's heartbeat and reports whether it is older than
// the grace period.
func (c *Controller) observe(node *corev1.Node, now time.Time) bool {
	var beat metav1.Time
	if ready := condition(node, corev1.NodeReady); ready != nil {
		beat = ready.LastHeartbeatTime
	}
	var renew metav1.MicroTime
	if lease, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name); err == nil && lease.Spec.RenewTime != nil && ownedBy(lease, node) {
		renew = *lease.Spec.RenewTime
	}
	h, ok := c.health[node.Name]
	switch {
	case !ok:
		c.health[node.Name] = &health{probe: now, beat: beat, renew: renew}
	case !beat.Equal(&h.beat) || renew.After(h.renew.Time):
		h.probe, h.beat, h.renew = now, beat, renew
	}
	return c.isStale(node, now)
}

// isStale reports whether node's last heartbeat is older than its grace
// period: the startup grace period for a node that never reported Ready.
func (c *Controller) isStale(node *corev1.Node, now time.Time) bool {
	grace := c.cfg.NodeMonitorGracePeriod
	if condition(node, corev1.NodeReady) == nil {
		grace = c.cfg.NodeStartupGracePeriod
	}
	return now.Sub(c.health[node.Name].probe) > grace
}

// ownedBy tells whether the lease is the node's own (and not left over
// from an earlier node of the same name).
func ownedBy(lease *coordinationv1.Lease, node *corev1.Node) bool {
	for _, o := range lease.OwnerReferences {
		if o.Kind == "Node" && o.UID != node.UID {
			return false
		}
	}
	return true
}

// reconcileNode marks a stale node Unknown, sets its taints from its
// conditions and marks the pods of a node that is not Ready not Ready.
func (c *Controller) reconcileNode(ctx context.Context, node *corev1.Node, stale bool, now time.Time) error {
	var err error
	if stale && !allUnknown(node) {
		if node, err = c.markUnknown(ctx, node, now); err != nil {
			return err
		}
	}
	if node, err = c.updateTaints(ctx, node, now); err != nil {
		return err
	}
	if readyStatus(node) != corev1.ConditionTrue {
		return c.markPodsNotReady(ctx, node.Name, now)
	}
	return nil
}

// markUnknown sets the kubelet's conditions to Unknown, as a node
// controller does when the kubelet stops posting status.
func (c *Controller) markUnknown(ctx context.Context, node *corev1.Node, now time.Time) (*corev1.Node, error) {
	wasReady := readyStatus(node) == corev1.ConditionTrue
	node = node.DeepCopy()
	t := metav1.NewTime(now)
	for _, typ := range conditionsMarked {
		cond := condition(node, typ)
		if cond == nil {
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type: typ, Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated",
				Message: "Kubelet never posted node status.", LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: t,
			})
			continue
		}
		if cond.Status != corev1.ConditionUnknown {
			cond.Status, cond.LastTransitionTime = corev1.ConditionUnknown, t
			cond.Reason, cond.Message = "NodeStatusUnknown", "Kubelet stopped posting node status."
		}
	}
	updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("mark node %s unknown: %w", node.Name, err)
	}
	c.log.Info("node stopped posting status", "node", node.Name)
	if wasReady {
		c.recorder.Eventf(nodeRef(node), corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	}
	return updated, nil
}

// updateTaints brings the node's managed taints to what its conditions
// ask for, keeping every other taint.
func (c *Controller) updateTaints(ctx context.Context, node *corev1.Node, now time.Time) (*corev1.Node, error) {
	first := true
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if !first {
			fresh, err := c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			node = fresh
		}
		first = false
		want := c.desiredTaints(node, now)
		if sameTaints(managedTaints(node.Spec.Taints), want) {
			return nil
		}
		node = node.DeepCopy()
		node.Spec.Taints = mergeTaints(node.Spec.Taints, want)
		updated, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		c.log.Info("node taints", "node", node.Name, "taints", taintStrings(managedTaints(updated.Spec.Taints)))
		node = updated
		return nil
	})
	if apierrors.IsNotFound(err) {
		return node, nil
	}
	if err != nil {
		return nil, fmt.Errorf("taint node %s: %w", node.Name, err)
	}
	return node, nil
}

// hasReadyPods tells whether a pod on node still says it is Ready.
func (c *Controller) hasReadyPods(node string) bool {
	objs, _ := c.pods.ByIndex(podsByNode, node)
	for _, obj := range objs {
		if podReady(obj.(*corev1.Pod)) {
			return true
		}
	}
	return false
}

// markPodsNotReady sets Ready=False on the pods of a node that is not
// Ready, so that Services stop sending them traffic.
func (c *Controller) markPodsNotReady(ctx context.Context, node string, now time.Time) error {
	objs, err := c.pods.ByIndex(podsByNode, node)
	if err != nil {
		return fmt.Errorf("pods of node %s: %w", node, err)
	}
	var errs []error
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		if !podReady(pod) {
			continue
		}
		pod = pod.DeepCopy()
		for i := range pod.Status.Conditions {
			if cond := &pod.Status.Conditions[i]; cond.Type == corev1.PodReady {
				cond.Status, cond.LastTransitionTime = corev1.ConditionFalse, metav1.NewTime(now)
				cond.Reason, cond.Message = "NodeNotReady", fmt.Sprintf("node %s is not ready", node)
			}
		}
		_, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("mark pod %s/%s not ready: %w", pod.Namespace, pod.Name, err))
		}
	}
	return errors.Join(errs...)
}

// pruneDeleted forgets deleted nodes long after their pods had the chance
// to go.
func (c *Controller) pruneDeleted(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, at := range c.deleted {
		if now.Sub(at) > 10*c.cfg.OrphanQuarantine {
			delete(c.deleted, name)
		}
	}
}

func condition(node *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == t {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// readyStatus is the node's Ready status; a node without one is Unknown.
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if c := condition(node, corev1.NodeReady); c != nil {
		return c.Status
	}
	return corev1.ConditionUnknown
}

func allUnknown(node *corev1.Node) bool {
	for _, t := range conditionsMarked {
		if c := condition(node, t); c == nil || c.Status != corev1.ConditionUnknown {
			return false
		}
	}
	return true
}

func podReady(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeRef(node *corev1.Node) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node.Name, UID: node.UID}
}
