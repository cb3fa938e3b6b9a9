package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/controlplane/scheduler/pipeline"
	"skiff.dev/skiff/controlplane/scheduler/queue"
	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// Event reasons and the PodScheduled condition reasons, kube-scheduler's.
const (
	reasonFailedScheduling = "FailedScheduling"
	reasonScheduled        = "Scheduled"
	reasonPreempted        = "Preempted"
	reasonUnschedulable    = v1.PodReasonUnschedulable
	reasonSchedulerError   = v1.PodReasonSchedulerError
)

// scheduleOne runs one pod through the pipeline and, if it fits, assumes
// it on the chosen node and binds it in the background.
func (st *state) scheduleOne(ctx context.Context, qp *queue.QueuedPod) {
	pod := qp.Pod
	pi, err := snapshot.NewPodInfo(pod)
	if err != nil {
		// Nothing but a change to the pod can help: no event moves it.
		st.fail(ctx, qp, reasonSchedulerError, fmt.Sprintf("invalid pod: %v", err), "")
		st.queue.Unschedulable(qp, []string{})
		return
	}
	var (
		res  pipeline.Result
		fe   *pipeline.FitError
		plan *pipeline.Preemption
	)
	st.locked(func() {
		res, fe = st.pipeline.Schedule(pi, st.snap)
		if fe != nil && !st.cfg.DisablePreemption {
			plan = st.pipeline.Preempt(pi, st.snap, fe)
		}
		if fe == nil {
			st.snap.AddPod(pi, res.Node)
			st.assumed[pod.UID] = res.Node
		}
	})
	if fe != nil {
		nominated := ""
		if plan != nil {
			nominated = plan.Node
			st.preempt(ctx, pod, plan)
		}
		st.fail(ctx, qp, reasonUnschedulable, fe.Error(), nominated)
		st.queue.Unschedulable(qp, fe.Plugins())
		return
	}
	st.log.Debug("assumed", "pod", podRef(pod), "node", res.Node, "evaluated", res.Evaluated, "feasible", res.Feasible)
	st.async(ctx, func(ctx context.Context) { st.bind(ctx, qp, res.Node) })
}

// bind posts the binding; on failure it forgets the assumption and
// retries the pod after its backoff.
func (st *state) bind(ctx context.Context, qp *queue.QueuedPod, node string) {
	pod := qp.Pod
	err := st.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		st.forget(pod.UID)
		if ctx.Err() != nil {
			return
		}
		st.log.Warn("binding failed", "pod", podRef(pod), "node", node, "err", err)
		st.recorder.Eventf(pod, nil, v1.EventTypeWarning, reasonFailedScheduling, "Scheduling", "Binding rejected: %v", err)
		st.queue.Retry(qp)
		return
	}
	st.queue.Done(pod.UID)
	st.recorder.Eventf(pod, nil, v1.EventTypeNormal, reasonScheduled, "Binding", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
}

// forget undoes an assumption the apiserver did not confirm.
func (st *state) forget(uid types.UID) {
	var removed bool
	st.locked(func() {
		if _, ok := st.assumed[uid]; ok {
			delete(st.assumed, uid)
			removed = st.snap.RemovePod(uid)
		}
	})
	if removed {
		st.queue.Move(evAssignedPodDeleted)
	}
}

// fail reports why a pod was not placed: a FailedScheduling event and the
// PodScheduled=False condition (with the nominated node, after
// preemption), as kube-scheduler does.
func (st *state) fail(ctx context.Context, qp *queue.QueuedPod, reason, msg, nominated string) {
	pod := qp.Pod
	st.log.Info("pod not scheduled", "pod", podRef(pod), "attempts", qp.Attempts, "reason", msg)
	st.recorder.Eventf(pod, nil, v1.EventTypeWarning, reasonFailedScheduling, "Scheduling", "%s", msg)
	cond := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg}
	if !conditionChanged(pod, cond) && (nominated == "" || nominated == pod.Status.NominatedNodeName) {
		return
	}
	st.async(ctx, func(ctx context.Context) {
		if err := st.patchStatus(ctx, pod, cond, nominated); err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
			st.log.Warn("setting PodScheduled condition failed", "pod", podRef(pod), "err", err)
		}
	})
}

func conditionChanged(pod *v1.Pod, c v1.PodCondition) bool {
	for _, old := range pod.Status.Conditions {
		if old.Type == c.Type {
			return old.Status != c.Status || old.Reason != c.Reason || old.Message != c.Message
		}
	}
	return true
}

// patchStatus sets one condition (merged by type) and, if given, the
// nominated node, with a strategic merge patch on pods/status.
func (st *state) patchStatus(ctx context.Context, pod *v1.Pod, c v1.PodCondition, nominated string) error {
	c.LastTransitionTime = metav1.Now()
	for _, old := range pod.Status.Conditions {
		if old.Type == c.Type && old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
	}
	status := map[string]any{"conditions": []v1.PodCondition{c}}
	if nominated != "" {
		status["nominatedNodeName"] = nominated
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return fmt.Errorf("pod %s/%s status patch: %w", pod.Namespace, pod.Name, err)
	}
	_, err = st.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("pod %s/%s status patch: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// preempt evicts the victims of a preemption plan (deletes them with their
// grace period); the preemptor is nominated to the node by fail and
// retried when the victims are gone.
func (st *state) preempt(ctx context.Context, preemptor *v1.Pod, plan *pipeline.Preemption) {
	st.log.Info("preempting", "pod", podRef(preemptor), "node", plan.Node, "victims", len(plan.Victims))
	for _, v := range plan.Victims {
		victim := v.Pod
		if victim.DeletionTimestamp != nil {
			continue
		}
		st.async(ctx, func(ctx context.Context) {
			uid := victim.UID
			err := st.client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: &uid},
			})
			if err != nil && !apierrors.IsNotFound(err) {
				if ctx.Err() == nil {
					st.log.Warn("evicting preemption victim failed", "pod", podRef(victim), "err", err)
				}
				return
			}
			st.recorder.Eventf(victim, preemptor, v1.EventTypeNormal, reasonPreempted, "Preempting",
				"Preempted by pod %s on node %s", preemptor.UID, plan.Node)
		})
	}
}
