package podautoscaler

import (
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// runningPod requests 100m CPU; it started long ago and is ready (or
// not, since long ago).
func runningPod(name string, ready bool) *corev1.Pod {
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	start := metav1.NewTime(t0.Add(-time.Hour))
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("100Mi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &start,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(t0.Add(-10 * time.Minute))}}},
	}
}

func calc() replicaCalc {
	return replicaCalc{tolerance: 0.1, cpuInitializationPeriod: 5 * time.Minute, readyDelay: 30 * time.Second, now: func() time.Time { return t0 }}
}

func cpu(m int64) PodUsage { return PodUsage{CPUMilli: m, Timestamp: t0} }

func TestUtilizationReplicas(t *testing.T) {
	three := []*corev1.Pod{runningPod("a", true), runningPod("b", true), runningPod("c", true)}
	pending := runningPod("p", true)
	pending.Status.Phase = corev1.PodPending
	for _, tc := range []struct {
		name    string
		pods    []*corev1.Pod
		usage   map[string]PodUsage
		target  int32
		want    int32
		percent int32
	}{
		{"at target", three, map[string]PodUsage{"a": cpu(50), "b": cpu(50), "c": cpu(50)}, 50, 3, 50},
		{"within tolerance", three, map[string]PodUsage{"a": cpu(54), "b": cpu(54), "c": cpu(54)}, 50, 3, 54},
		{"double", three, map[string]PodUsage{"a": cpu(100), "b": cpu(100), "c": cpu(100)}, 50, 6, 100},
		{"half", three, map[string]PodUsage{"a": cpu(25), "b": cpu(25), "c": cpu(25)}, 50, 2, 25},
		// Scaling down, a pod without figures counts as using its whole
		// request: (10+10+100)/300 = 40% -> ceil(0.8*3) = 3.
		{"missing on scale down", three, map[string]PodUsage{"a": cpu(10), "b": cpu(10)}, 50, 3, 10},
		// Scaling up, it counts as idle: (100+100+0)/300 = 66% -> 4.
		{"missing on scale up", three, map[string]PodUsage{"a": cpu(100), "b": cpu(100)}, 50, 4, 100},
		// Pending pods count as idle when scaling up.
		{"unready on scale up", append(three[:2:2], pending), map[string]PodUsage{"a": cpu(100), "b": cpu(100)}, 50, 4, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, percent, _, err := calc().utilizationReplicas(3, tc.target, tc.pods, tc.usage, corev1.ResourceCPU)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || percent != tc.percent {
				t.Errorf("replicas %d at %d%%, want %d at %d%%", got, percent, tc.want, tc.percent)
			}
		})
	}
	if _, _, _, err := calc().utilizationReplicas(3, 50, three, map[string]PodUsage{}, corev1.ResourceCPU); err == nil {
		t.Error("no figures: no error")
	}
	noRequest := runningPod("x", true)
	noRequest.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	if _, _, _, err := calc().utilizationReplicas(1, 50, []*corev1.Pod{noRequest}, map[string]PodUsage{"x": cpu(10)}, corev1.ResourceCPU); err == nil {
		t.Error("pod without a request: no error")
	}
}

func TestAverageValueReplicas(t *testing.T) {
	pods := []*corev1.Pod{runningPod("a", true), runningPod("b", true)}
	usage := map[string]PodUsage{"a": {MemoryBytes: 300 << 20, Timestamp: t0}, "b": {MemoryBytes: 300 << 20, Timestamp: t0}}
	got, mean, err := calc().averageReplicas(2, 100<<20, pods, usage, corev1.ResourceMemory)
	if err != nil {
		t.Fatal(err)
	}
	if got != 6 || mean != 300<<20 {
		t.Errorf("replicas %d, mean %d; want 6, %d", got, mean, 300<<20)
	}
}

func TestBehavior(t *testing.T) {
	up := rules(nil, defaultScaleUp, 0)
	down := rules(&autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](60)}, defaultScaleDown, 300)
	h := newHistory()
	step := func(at time.Duration, current, desired int32) string {
		now := t0.Add(at)
		s, _, _ := h.stabilize("k", now, current, desired, up, down)
		l, reason, _ := h.limit("k", now, current, s, 1, 20, up, down)
		if l != current {
			h.record("k", now, current, l)
		}
		return fmt.Sprintf("%d %s", l, reason)
	}
	// Scale-up rate: 100% or 4 pods per 15s, whichever is more.
	for _, s := range []struct {
		at               time.Duration
		current, desired int32
		want             string
	}{
		{0, 2, 20, "6 ScaleUpLimit"},               // max(2*2, 2+4)
		{5 * time.Second, 6, 20, "6 ScaleUpLimit"}, // 4 added within 15s: start 2 again
		{20 * time.Second, 6, 20, "12 ScaleUpLimit"},
		{40 * time.Second, 12, 30, "20 TooManyReplicas"},
		// A drop waits for the 60s scale-down window.
		{50 * time.Second, 20, 5, "20 DesiredWithinRange"},
		{101 * time.Second, 20, 5, "5 DesiredWithinRange"},
	} {
		if got := step(s.at, s.current, s.desired); got != s.want {
			t.Errorf("at %v %d->%d: got %s, want %s", s.at, s.current, s.desired, got, s.want)
		}
	}
}
