package replicaset

import (
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// DeletionCostAnnotation lets a user say which pods of a ReplicaSet go
// first when it scales down: lower cost first.
const DeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// podsToDelete picks the n pods of pods to delete when scaling down, the
// least useful first, as Kubernetes does: unscheduled before scheduled,
// pending before running, not ready before ready, lower deletion cost,
// pods doubled up on a node with related pods (of the same owner's other
// ReplicaSets too), ready for less time, more container restarts, and
// newer before older.
func podsToDelete(pods, related []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	onNode := map[string]int{}
	for _, p := range related {
		if controllerutil.IsPodActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	ranked := make([]rankedPod, len(pods))
	for i, p := range pods {
		rank := 0
		if p.Spec.NodeName != "" {
			rank = onNode[p.Spec.NodeName]
		}
		ranked[i] = rankedPod{pod: p, rank: rank, ready: controllerutil.IsPodReady(p), cost: deletionCost(p)}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return ranked[i].deleteBefore(&ranked[j]) })
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = ranked[i].pod
	}
	return out
}

type rankedPod struct {
	pod   *corev1.Pod
	rank  int
	ready bool
	cost  int64
}

func (a *rankedPod) deleteBefore(b *rankedPod) bool {
	pa, pb := a.pod, b.pod
	if (pa.Spec.NodeName == "") != (pb.Spec.NodeName == "") {
		return pa.Spec.NodeName == ""
	}
	if phaseOrder[pa.Status.Phase] != phaseOrder[pb.Status.Phase] {
		return phaseOrder[pa.Status.Phase] < phaseOrder[pb.Status.Phase]
	}
	if a.ready != b.ready {
		return !a.ready
	}
	if a.cost != b.cost {
		return a.cost < b.cost
	}
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if a.ready && b.ready {
		ta, tb := readySince(pa), readySince(pb)
		if !ta.Equal(&tb) {
			return afterOrZero(ta, tb)
		}
	}
	if ra, rb := maxRestarts(pa), maxRestarts(pb); ra != rb {
		return ra > rb
	}
	if !pa.CreationTimestamp.Equal(&pb.CreationTimestamp) {
		return afterOrZero(pa.CreationTimestamp, pb.CreationTimestamp)
	}
	return false
}

// afterOrZero orders zero times first, then newer before older.
func afterOrZero(a, b metav1.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b.Time)
}

func readySince(p *corev1.Pod) metav1.Time {
	if c := controllerutil.ReadyCondition(p); c != nil {
		return c.LastTransitionTime
	}
	return metav1.Time{}
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, s := range p.Status.ContainerStatuses {
		m = max(m, s.RestartCount)
	}
	return m
}

func deletionCost(p *corev1.Pod) int64 {
	v, ok := p.Annotations[DeletionCostAnnotation]
	if !ok {
		return 0
	}
	c, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return c
}
