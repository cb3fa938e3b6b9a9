package pipeline_test

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

func TestFitErrorMessage(t *testing.T) {
	s := cluster(t, []*v1.Node{
		node("a", withAllocatable("1", "8Gi", "110")),
		node("b", withAllocatable("1", "8Gi", "110")),
		node("c", withLabels("disk", "hdd")),
	}, nil)
	_, msg := schedule(t, s, pod("p", "2", "1Gi", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }))
	// a and b fail the selector first: filters stop at the first failure,
	// in kube-scheduler's order.
	want := "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
	if msg != want {
		t.Fatalf("message\n got: %s\nwant: %s", msg, want)
	}

	_, msg = schedule(t, s, pod("p", "2", "1Gi", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{v1.LabelHostname: "a"} }))
	want = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector."
	if msg != want {
		t.Fatalf("message\n got: %s\nwant: %s", msg, want)
	}

	s = cluster(t, []*v1.Node{
		node("a", withAllocatable("1", "8Gi", "110")),
		node("b", withAllocatable("1", "8Gi", "110")),
		node("c", withTaint("dedicated", "gpu", v1.TaintEffectNoSchedule)),
	}, nil)
	_, msg = schedule(t, s, pod("p", "2", "1Gi"))
	want = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
	if msg != want {
		t.Fatalf("message\n got: %s\nwant: %s", msg, want)
	}

	if _, msg := schedule(t, snapshot.New(), pod("p", "1", "1Gi")); msg != "no nodes available to schedule pods" {
		t.Fatalf("empty cluster: %q", msg)
	}
}

func TestFilters(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []*v1.Node
		placed map[string][]*v1.Pod
		pod    *v1.Pod
		// wantNode is where the pod goes (empty: nowhere); wantMsg the
		// FitError message when none fits.
		wantNode string
		wantMsg  string
	}{
		{
			name:     "requests count what is already requested",
			nodes:    []*v1.Node{node("a"), node("b")},
			placed:   map[string][]*v1.Pod{"a": {pod("x", "3", "1Gi")}},
			pod:      pod("p", "2", "1Gi"),
			wantNode: "b",
		},
		{
			name:    "insufficient memory and cpu on one node",
			nodes:   []*v1.Node{node("a")},
			pod:     pod("p", "5", "9Gi"),
			wantMsg: "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.",
		},
		{
			name:  "insufficient ephemeral-storage",
			nodes: []*v1.Node{node("a", func(n *v1.Node) { n.Status.Allocatable[v1.ResourceEphemeralStorage] = mustQuantity("10Gi") })},
			pod: pod("p", "1", "1Gi", func(p *v1.Pod) {
				p.Spec.Containers[0].Resources.Requests[v1.ResourceEphemeralStorage] = mustQuantity("20Gi")
			}),
			wantMsg: "0/1 nodes are available: 1 Insufficient ephemeral-storage.",
		},
		{
			name:  "extended resources",
			nodes: []*v1.Node{node("a"), node("b", func(n *v1.Node) { n.Status.Allocatable["example.com/gpu"] = mustQuantity("2") })},
			pod: pod("p", "1", "1Gi", func(p *v1.Pod) {
				p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = mustQuantity("1")
			}),
			wantNode: "b",
		},
		{
			name:    "pod count",
			nodes:   []*v1.Node{node("a", withAllocatable("4", "8Gi", "1"))},
			placed:  map[string][]*v1.Pod{"a": {pod("x", "", "")}},
			pod:     pod("p", "", ""),
			wantMsg: "0/1 nodes are available: 1 Too many pods.",
		},
		{
			name:     "nodeSelector",
			nodes:    []*v1.Node{node("a"), node("b", withLabels("disk", "ssd"))},
			pod:      pod("p", "1", "1Gi", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			wantNode: "b",
		},
		{
			name:  "required node affinity",
			nodes: []*v1.Node{node("a", withLabels("zone", "z1")), node("b", withLabels("zone", "z2"))},
			pod: pod("p", "1", "1Gi", withAffinity(&v1.Affinity{NodeAffinity: &v1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
					MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpNotIn, Values: []string{"z1"}}},
				}}},
			}})),
			wantNode: "b",
		},
		{
			name:    "untolerated taints, NoExecute too",
			nodes:   []*v1.Node{node("a", withTaint("k", "", v1.TaintEffectNoExecute)), node("b", withTaint("gpu", "true", v1.TaintEffectNoSchedule))},
			pod:     pod("p", "1", "1Gi"),
			wantMsg: "0/2 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 1 node(s) had untolerated taint {k: }.",
		},
		{
			name:  "tolerated taint",
			nodes: []*v1.Node{node("a", withTaint("gpu", "true", v1.TaintEffectNoSchedule))},
			pod: pod("p", "1", "1Gi", func(p *v1.Pod) {
				p.Spec.Tolerations = []v1.Toleration{{Key: "gpu", Operator: v1.TolerationOpEqual, Value: "true", Effect: v1.TaintEffectNoSchedule}}
			}),
			wantNode: "a",
		},
		{
			name:     "PreferNoSchedule does not filter",
			nodes:    []*v1.Node{node("a", withTaint("soft", "", v1.TaintEffectPreferNoSchedule))},
			pod:      pod("p", "1", "1Gi"),
			wantNode: "a",
		},
		{
			name:    "unschedulable",
			nodes:   []*v1.Node{node("a", unschedulable), node("b", unschedulable)},
			pod:     pod("p", "1", "1Gi"),
			wantMsg: "0/2 nodes are available: 2 node(s) were unschedulable.",
		},
		{
			name:  "unschedulable tolerated",
			nodes: []*v1.Node{node("a", unschedulable)},
			pod: pod("p", "1", "1Gi", func(p *v1.Pod) {
				p.Spec.Tolerations = []v1.Toleration{{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists}}
			}),
			wantNode: "a",
		},
		{
			name:     "host port in use",
			nodes:    []*v1.Node{node("a"), node("b")},
			placed:   map[string][]*v1.Pod{"a": {pod("x", "", "", withHostPort(80))}},
			pod:      pod("p", "1", "1Gi", withHostPort(80)),
			wantNode: "b",
		},
		{
			name:    "host port in use everywhere",
			nodes:   []*v1.Node{node("a")},
			placed:  map[string][]*v1.Pod{"a": {pod("x", "", "", withHostPort(80))}},
			pod:     pod("p", "1", "1Gi", withHostPort(80)),
			wantMsg: "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.",
		},
		{
			name:     "host port on two distinct addresses",
			nodes:    []*v1.Node{node("a")},
			placed:   map[string][]*v1.Pod{"a": {pod("x", "", "", withHostPort(80), hostIP("10.0.0.1"))}},
			pod:      pod("p", "1", "1Gi", withHostPort(80), hostIP("10.0.0.2")),
			wantNode: "a",
		},
		{
			name:     "pod affinity by hostname",
			nodes:    []*v1.Node{node("a"), node("b")},
			placed:   map[string][]*v1.Pod{"b": {pod("db", "", "", withPodLabels("app", "db"))}},
			pod:      pod("p", "1", "1Gi", withAffinity(&v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{podTerm("db", v1.LabelHostname)}}})),
			wantNode: "b",
		},
		{
			name:  "pod affinity by zone",
			nodes: []*v1.Node{node("a", withLabels(v1.LabelTopologyZone, "z1")), node("b", withLabels(v1.LabelTopologyZone, "z2")), node("c", withLabels(v1.LabelTopologyZone, "z2"))},
			placed: map[string][]*v1.Pod{
				"b": {pod("db", "", "", withPodLabels("app", "db"))},
				"c": {pod("big", "4", "")},
			},
			pod:      pod("p", "1", "1Gi", withAffinity(&v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{podTerm("db", v1.LabelTopologyZone)}}})),
			wantNode: "b",
		},
		{
			name:    "pod affinity unmet",
			nodes:   []*v1.Node{node("a"), node("b")},
			placed:  map[string][]*v1.Pod{"b": {pod("web", "", "", withPodLabels("app", "web"))}},
			pod:     pod("p", "1", "1Gi", withAffinity(&v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{podTerm("db", v1.LabelHostname)}}})),
			wantMsg: "0/2 nodes are available: 2 node(s) didn't match pod affinity rules.",
		},
		{
			name:  "first pod of a self-affine group",
			nodes: []*v1.Node{node("a")},
			pod: pod("p", "1", "1Gi", withPodLabels("app", "db"),
				withAffinity(&v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{podTerm("db", v1.LabelHostname)}}})),
			wantNode: "a",
		},
		{
			name:     "pod anti-affinity by hostname",
			nodes:    []*v1.Node{node("a"), node("b")},
			placed:   map[string][]*v1.Pod{"a": {pod("web1", "", "", withPodLabels("app", "web"))}},
			pod:      pod("p", "1", "1Gi", withAffinity(&v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{podTerm("web", v1.LabelHostname)}}})),
			wantNode: "b",
		},
		{
			name:    "pod anti-affinity by zone",
			nodes:   []*v1.Node{node("a", withLabels(v1.LabelTopologyZone, "z1")), node("b", withLabels(v1.LabelTopologyZone, "z1"))},
			placed:  map[string][]*v1.Pod{"a": {pod("web1", "", "", withPodLabels("app", "web"))}},
			pod:     pod("p", "1", "1Gi", withAffinity(&v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{podTerm("web", v1.LabelTopologyZone)}}})),
			wantMsg: "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.",
		},
		{
			name:  "existing pod's anti-affinity",
			nodes: []*v1.Node{node("a"), node("b")},
			placed: map[string][]*v1.Pod{"a": {pod("loner", "", "",
				withAffinity(&v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{podTerm("web", v1.LabelHostname)}}}))}},
			pod:      pod("p", "1", "1Gi", withPodLabels("app", "web")),
			wantNode: "b",
		},
		{
			name:     "anti-affinity in another namespace does not count",
			nodes:    []*v1.Node{node("a")},
			placed:   map[string][]*v1.Pod{"a": {pod("web1", "", "", withPodLabels("app", "web"), func(p *v1.Pod) { p.Namespace = "other" })}},
			pod:      pod("p", "1", "1Gi", withAffinity(&v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{podTerm("web", v1.LabelHostname)}}})),
			wantNode: "a",
		},
		{
			name:  "topology spread DoNotSchedule by zone",
			nodes: []*v1.Node{node("a", withLabels(v1.LabelTopologyZone, "z1")), node("b", withLabels(v1.LabelTopologyZone, "z2"))},
			placed: map[string][]*v1.Pod{"a": {
				pod("w1", "", "", withPodLabels("app", "web")),
				pod("w2", "", "", withPodLabels("app", "web")),
			}, "b": {pod("w3", "", "", withPodLabels("app", "web"))}},
			pod:      pod("p", "1", "1Gi", withPodLabels("app", "web"), zoneSpread(1, v1.DoNotSchedule)),
			wantNode: "b",
		},
		{
			name:    "topology spread DoNotSchedule unsatisfiable",
			nodes:   []*v1.Node{node("a", withLabels(v1.LabelTopologyZone, "z1")), node("b", withLabels(v1.LabelTopologyZone, "z2"), withAllocatable("0", "8Gi", "110"))},
			placed:  map[string][]*v1.Pod{"a": {pod("w1", "", "", withPodLabels("app", "web"))}},
			pod:     pod("p", "1", "1Gi", withPodLabels("app", "web"), zoneSpread(1, v1.DoNotSchedule)),
			wantMsg: "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints.",
		},
		{
			// nodeAffinityPolicy Honor (the default): the zone of the node
			// the pod's selector excludes is no domain, so its zero count
			// does not make the others look skewed.
			name: "topology spread counts only nodes the pod may use",
			nodes: []*v1.Node{
				node("a", withLabels(v1.LabelTopologyZone, "z1", "disk", "ssd")),
				node("b", withLabels(v1.LabelTopologyZone, "z2", "disk", "ssd")),
				node("c", withLabels(v1.LabelTopologyZone, "z3")),
			},
			placed: map[string][]*v1.Pod{"a": {pod("w1", "", "", withPodLabels("app", "web"))}, "b": {pod("w2", "", "", withPodLabels("app", "web"))}},
			pod: pod("p", "1", "1Gi", withPodLabels("app", "web"), zoneSpread(1, v1.DoNotSchedule), func(p *v1.Pod) {
				p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
			}),
			wantNode: "a",
		},
		{
			name:    "topology spread missing label",
			nodes:   []*v1.Node{node("a")},
			pod:     pod("p", "1", "1Gi", withPodLabels("app", "web"), zoneSpread(1, v1.DoNotSchedule)),
			wantMsg: "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label).",
		},
		{
			name:   "topology spread minDomains counts missing domains as empty",
			nodes:  []*v1.Node{node("a", withLabels(v1.LabelTopologyZone, "z1")), node("b", withLabels(v1.LabelTopologyZone, "z2"))},
			placed: map[string][]*v1.Pod{"a": {pod("w1", "", "", withPodLabels("app", "web"))}, "b": {pod("w2", "", "", withPodLabels("app", "web"))}},
			pod: pod("p", "1", "1Gi", withPodLabels("app", "web"), zoneSpread(1, v1.DoNotSchedule), func(p *v1.Pod) {
				p.Spec.TopologySpreadConstraints[0].MinDomains = ptr(int32(3))
			}),
			wantMsg: "0/2 nodes are available: 2 node(s) didn't match pod topology spread constraints.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := cluster(t, tc.nodes, tc.placed)
			got, msg := schedule(t, s, tc.pod)
			if got != tc.wantNode || msg != tc.wantMsg {
				t.Fatalf("got node %q, message %q; want node %q, message %q", got, msg, tc.wantNode, tc.wantMsg)
			}
		})
	}
}

func hostIP(ip string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		for i := range p.Spec.Containers[0].Ports {
			p.Spec.Containers[0].Ports[i].HostIP = ip
		}
	}
}

func zoneSpread(maxSkew int32, when v1.UnsatisfiableConstraintAction) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
			MaxSkew: maxSkew, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: when,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": p.Labels["app"]}},
		})
	}
}
