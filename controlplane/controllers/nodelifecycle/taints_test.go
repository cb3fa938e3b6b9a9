package nodelifecycle

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDesiredTaints(t *testing.T) {
	c := &Controller{}
	node := func(unschedulable bool, conds ...corev1.NodeCondition) *corev1.Node {
		return &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: unschedulable}, Status: corev1.NodeStatus{Conditions: conds}}
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s}
	}
	for _, tc := range []struct {
		node *corev1.Node
		want string
	}{
		{node(false, cond(corev1.NodeReady, corev1.ConditionTrue)), "[]"},
		{node(false), "[]"},
		{node(false, cond(corev1.NodeReady, corev1.ConditionFalse)), "[node.kubernetes.io/not-ready:NoExecute node.kubernetes.io/not-ready:NoSchedule]"},
		{node(false, cond(corev1.NodeReady, corev1.ConditionUnknown)), "[node.kubernetes.io/unreachable:NoExecute node.kubernetes.io/unreachable:NoSchedule]"},
		{node(true, cond(corev1.NodeReady, corev1.ConditionTrue), cond(corev1.NodeMemoryPressure, corev1.ConditionTrue), cond(corev1.NodeDiskPressure, corev1.ConditionFalse), cond(corev1.NodePIDPressure, corev1.ConditionTrue)),
			"[node.kubernetes.io/memory-pressure:NoSchedule node.kubernetes.io/pid-pressure:NoSchedule node.kubernetes.io/unschedulable:NoSchedule]"},
	} {
		var got []string
		for _, taint := range c.desiredTaints(tc.node, time.Now()) {
			got = append(got, taint.ToString())
			if (taint.TimeAdded != nil) != (taint.Effect == corev1.TaintEffectNoExecute) {
				t.Errorf("%s: timeAdded %v", taint.ToString(), taint.TimeAdded)
			}
		}
		slices.Sort(got)
		if fmt.Sprint(got) != tc.want {
			t.Errorf("conditions %v: taints %v, want %s", tc.node.Status.Conditions, got, tc.want)
		}
	}
}

func TestMergeTaintsKeepsOthersAndTimes(t *testing.T) {
	then := metav1.NewTime(time.Unix(1000, 0))
	current := []corev1.Taint{
		{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &then},
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
	}
	now := metav1.Now()
	want := []corev1.Taint{
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &now},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
	}
	got := mergeTaints(current, want)
	if len(got) != 3 || got[0].Key != "dedicated" || !got[1].TimeAdded.Equal(&then) || got[2].Key != corev1.TaintNodeUnreachable {
		t.Errorf("mergeTaints = %v", got)
	}
}

func TestTolerationTime(t *testing.T) {
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	tol := func(key string, secs *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
	}
	s := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name   string
		tols   []corev1.Toleration
		taints []corev1.Taint
		wait   time.Duration
		ok     bool
	}{
		{"no toleration", nil, []corev1.Taint{unreachable}, 0, false},
		{"300s", []corev1.Toleration{tol(corev1.TaintNodeUnreachable, s(300))}, []corev1.Taint{unreachable}, 300 * time.Second, true},
		{"forever", []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, []corev1.Taint{unreachable}, -1, true},
		{"one of two taints untolerated", []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, []corev1.Taint{unreachable, notReady}, 0, false},
		{"shortest wins", []corev1.Toleration{tol(corev1.TaintNodeUnreachable, s(60)), tol(corev1.TaintNodeNotReady, s(30))}, []corev1.Taint{unreachable, notReady}, 30 * time.Second, true},
		{"wildcard", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, []corev1.Taint{unreachable, notReady}, -1, true},
		{"negative is zero", []corev1.Toleration{tol("", s(-5))}, []corev1.Taint{unreachable}, 0, true},
	} {
		wait, ok := tolerationTime(tc.tols, tc.taints)
		if wait != tc.wait || ok != tc.ok {
			t.Errorf("%s: tolerationTime = %v, %v; want %v, %v", tc.name, wait, ok, tc.wait, tc.ok)
		}
	}
}
