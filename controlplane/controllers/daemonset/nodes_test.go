package daemonset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestShouldRun(t *testing.T) {
	node := func(labels map[string]string, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
	}
	ds := func(sel map[string]string, tols ...corev1.Toleration) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{NodeSelector: sel, Tolerations: tols},
		}}}
	}
	noSchedule := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	noExecute := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}
	tolerate := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists}
	for _, c := range []struct {
		name      string
		node      *corev1.Node
		ds        *appsv1.DaemonSet
		run, keep bool
	}{
		{"plain node", node(nil), ds(nil), true, true},
		{"selector matches", node(map[string]string{"role": "edge"}), ds(map[string]string{"role": "edge"}), true, true},
		{"selector misses", node(nil), ds(map[string]string{"role": "edge"}), false, false},
		{"NoSchedule taint", node(nil, noSchedule), ds(nil), false, true},
		{"NoExecute taint", node(nil, noExecute), ds(nil), false, false},
		{"tolerated taint", node(nil, noExecute), ds(nil, tolerate), true, true},
		{"cordoned node", node(nil, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}), ds(nil), true, true},
		{"not-ready node", node(nil, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}), ds(nil), true, true},
	} {
		if run, keep := shouldRun(c.node, c.ds); run != c.run || keep != c.keep {
			t.Errorf("%s: run %v keep %v, want %v %v", c.name, run, keep, c.run, c.keep)
		}
	}
}

func TestNodeAffinityFor(t *testing.T) {
	aff := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}},
	}}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Affinity: nodeAffinityFor(aff, "node-7")}}
	if got := targetNode(pod); got != "node-7" {
		t.Fatalf("target node %q", got)
	}
	pod.Spec.NodeName = "node-8"
	if got := targetNode(pod); got != "node-8" {
		t.Fatalf("bound pod's target node %q", got)
	}
}
