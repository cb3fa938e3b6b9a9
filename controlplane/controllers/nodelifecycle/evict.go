package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// checkPod evicts a pod whose node has NoExecute taints it no longer
// tolerates, or removes it when its node is gone. It returns how long to
// wait before looking again.
func (c *Controller) checkPod(ctx context.Context, key string) (time.Duration, error) {
	obj, exists, err := c.pods.GetByKey(key)
	if err != nil || !exists {
		return 0, err
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" {
		return 0, nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return c.removeOrphan(ctx, pod, time.Now())
	}
	if err != nil {
		return 0, fmt.Errorf("node %s: %w", pod.Spec.NodeName, err)
	}
	if pod.DeletionTimestamp != nil {
		return 0, nil
	}
	taints := noExecuteTaints(node.Spec.Taints)
	if len(taints) == 0 {
		return 0, nil
	}
	wait, tolerated := tolerationTime(pod.Spec.Tolerations, taints)
	if tolerated {
		if wait < 0 {
			return 0, nil // tolerates the taints forever
		}
		if left := c.taintedSince(node, taints).Add(wait).Sub(time.Now()); left > 0 {
			return left, nil
		}
	}
	return 0, c.evict(ctx, pod, taints)
}

// taintedSince is when the newest of the NoExecute taints was added (or,
// lacking timeAdded, first seen): tolerations count from then. timeAdded
// holds whole seconds, so it counts from the end of its second: no pod
// goes before its toleration ran out, and a restarted controller keeps
// the deadline.
func (c *Controller) taintedSince(node *corev1.Node, taints []corev1.Taint) time.Time {
	var since time.Time
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range taints {
		added := t.TimeAdded
		var at time.Time
		if added != nil {
			at = added.Truncate(time.Second).Add(time.Second)
		} else {
			k := node.Name + "/" + t.Key + "/" + string(t.Effect)
			if _, ok := c.taintSeen[k]; !ok {
				c.taintSeen[k] = time.Now()
			}
			at = c.taintSeen[k]
		}
		if at.After(since) {
			since = at
		}
	}
	return since
}

// evict deletes the pod as the taint eviction controller does: a
// DisruptionTarget condition first, then a delete with the pod's own grace
// period, for this pod's UID only.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod, taints []corev1.Taint) error {
	if err := c.markDisruption(ctx, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("mark pod %s/%s for eviction: %w", pod.Namespace, pod.Name, err)
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("evict pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	c.log.Info("evicted pod", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName, "taints", taintStrings(taints))
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	return nil
}

// removeOrphan force-deletes a pod whose node is gone, as pod GC does. A
// node not seen deleted may not have registered yet: its pods are left
// alone until they are OrphanQuarantine old, and the node's absence is
// checked against the apiserver, not the cache.
func (c *Controller) removeOrphan(ctx context.Context, pod *corev1.Pod, now time.Time) (time.Duration, error) {
	c.mu.Lock()
	_, deleted := c.deleted[pod.Spec.NodeName]
	c.mu.Unlock()
	if !deleted {
		if left := pod.CreationTimestamp.Add(c.cfg.OrphanQuarantine).Sub(now); left > 0 {
			return left, nil
		}
	}
	_, err := c.client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err == nil {
		return 0, nil // the node exists: the cache lags
	}
	if !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("node %s of pod %s/%s: %w", pod.Spec.NodeName, pod.Namespace, pod.Name, err)
	}
	err = c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("remove pod %s/%s of deleted node %s: %w", pod.Namespace, pod.Name, pod.Spec.NodeName, err)
	}
	c.log.Info("removed pod of deleted node", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName)
	return 0, nil
}

// markDisruption adds the condition that tells why the pod goes, with a
// strategic merge patch (conditions merge by type).
func (c *Controller) markDisruption(ctx context.Context, pod *corev1.Pod) error {
	cond := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
		Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint",
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{cond}}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}
