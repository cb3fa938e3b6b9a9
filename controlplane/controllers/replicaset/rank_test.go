package replicaset

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rankPod(name, node string, phase corev1.PodPhase, ready bool, created int64) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.Unix(created, 0)},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Unix(created, 0)}}
	return p
}

func TestPodsToDelete(t *testing.T) {
	running := func(name, node string, created int64) *corev1.Pod {
		return rankPod(name, node, corev1.PodRunning, true, created)
	}
	cheap := running("cheap", "n3", 1)
	cheap.Annotations = map[string]string{DeletionCostAnnotation: "-10"}
	pods := []*corev1.Pod{
		running("old", "n1", 1),
		running("doubled", "n2", 2),
		running("doubled-too", "n2", 2),
		running("newer", "n4", 5),
		cheap,
		rankPod("unready", "n5", corev1.PodRunning, false, 1),
		rankPod("pending", "n6", corev1.PodPending, false, 1),
		rankPod("unscheduled", "", corev1.PodPending, false, 1),
	}
	want := []string{"unscheduled", "pending", "unready", "cheap", "doubled", "doubled-too", "newer", "old"}
	got := podsToDelete(pods, pods, len(pods)-1)
	for i, p := range got {
		if p.Name != want[i] {
			t.Fatalf("deletion order %d: %s, want %s (full want %v)", i, p.Name, want[i], want)
		}
	}
	if n := len(podsToDelete(pods, pods, 3)); n != 3 {
		t.Fatalf("asked for 3, got %d", n)
	}
}
