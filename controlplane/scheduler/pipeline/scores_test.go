package pipeline_test

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/controlplane/scheduler/pipeline"
	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// only is a pipeline where the one scorer set by w counts. Nodes that
// tie go to the first in order, so each case lists the losing node first.
func only(w func(*pipeline.Weights)) *pipeline.Pipeline {
	var ws pipeline.Weights
	w(&ws)
	return everyNode(ws)
}

func TestScores(t *testing.T) {
	web := withPodLabels("app", "web")
	tests := []struct {
		name   string
		weight func(*pipeline.Weights)
		nodes  []*v1.Node
		placed map[string][]*v1.Pod
		pod    *v1.Pod
		want   string
	}{
		{
			name:   "least allocated",
			weight: func(w *pipeline.Weights) { w.LeastAllocated = 1 },
			nodes:  []*v1.Node{node("a"), node("b")},
			placed: map[string][]*v1.Pod{"a": {pod("x", "2", "1Gi")}},
			pod:    pod("p", "1", "1Gi"),
			want:   "b",
		},
		{
			// Both leave half of the node free on average; only a leaves CPU
			// and memory equally used.
			name:   "balanced allocation",
			weight: func(w *pipeline.Weights) { w.BalancedAllocation = 1 },
			nodes:  []*v1.Node{node("b"), node("a")},
			placed: map[string][]*v1.Pod{"a": {pod("x", "1", "2Gi")}, "b": {pod("y", "2", "1")}},
			pod:    pod("p", "1", "2Gi"),
			want:   "a",
		},
		{
			name:   "preferred node affinity",
			weight: func(w *pipeline.Weights) { w.NodeAffinity = 1 },
			nodes:  []*v1.Node{node("a"), node("b", withLabels("disk", "ssd"))},
			pod: pod("p", "1", "1Gi", withAffinity(&v1.Affinity{NodeAffinity: &v1.NodeAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{{Weight: 10, Preference: v1.NodeSelectorTerm{
					MatchExpressions: []v1.NodeSelectorRequirement{{Key: "disk", Operator: v1.NodeSelectorOpIn, Values: []string{"ssd"}}},
				}}},
			}})),
			want: "b",
		},
		{
			name:   "PreferNoSchedule taint",
			weight: func(w *pipeline.Weights) { w.TaintToleration = 1 },
			nodes:  []*v1.Node{node("a", withTaint("soft", "", v1.TaintEffectPreferNoSchedule)), node("b")},
			pod:    pod("p", "1", "1Gi"),
			want:   "b",
		},
		{
			name:   "preferred pod affinity",
			weight: func(w *pipeline.Weights) { w.InterPodAffinity = 1 },
			nodes:  []*v1.Node{node("a"), node("b")},
			placed: map[string][]*v1.Pod{"b": {pod("db", "", "", withPodLabels("app", "db"))}},
			pod: pod("p", "1", "1Gi", withAffinity(&v1.Affinity{PodAffinity: &v1.PodAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{Weight: 50, PodAffinityTerm: podTerm("db", v1.LabelHostname)}},
			}})),
			want: "b",
		},
		{
			name:   "preferred pod anti-affinity",
			weight: func(w *pipeline.Weights) { w.InterPodAffinity = 1 },
			nodes:  []*v1.Node{node("a"), node("b")},
			placed: map[string][]*v1.Pod{"a": {pod("w1", "", "", web)}},
			pod: pod("p", "1", "1Gi", withAffinity(&v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{Weight: 50, PodAffinityTerm: podTerm("web", v1.LabelHostname)}},
			}})),
			want: "b",
		},
		{
			name:   "existing pod's preferred affinity to the incoming pod",
			weight: func(w *pipeline.Weights) { w.InterPodAffinity = 1 },
			nodes:  []*v1.Node{node("a"), node("b")},
			placed: map[string][]*v1.Pod{"b": {pod("cache", "", "", withAffinity(&v1.Affinity{PodAffinity: &v1.PodAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{Weight: 50, PodAffinityTerm: podTerm("web", v1.LabelHostname)}},
			}}))}},
			pod:  pod("p", "1", "1Gi", web),
			want: "b",
		},
		{
			name:   "ScheduleAnyway spread",
			weight: func(w *pipeline.Weights) { w.TopologySpread = 1 },
			nodes:  []*v1.Node{node("a", withLabels(v1.LabelTopologyZone, "z1")), node("b", withLabels(v1.LabelTopologyZone, "z2"))},
			placed: map[string][]*v1.Pod{"a": {pod("w1", "", "", web), pod("w2", "", "", web)}},
			pod:    pod("p", "1", "1Gi", web, zoneSpread(1, v1.ScheduleAnyway)),
			want:   "b",
		},
		{
			name:   "pods of one owner spread over zones",
			weight: func(w *pipeline.Weights) { w.OwnerSpread = 1 },
			nodes: []*v1.Node{
				node("a", withLabels(v1.LabelTopologyZone, "z1")),
				node("b", withLabels(v1.LabelTopologyZone, "z1")),
				node("c", withLabels(v1.LabelTopologyZone, "z2")),
			},
			placed: map[string][]*v1.Pod{"a": {pod("r1", "", "", withOwner("rs"))}},
			pod:    pod("p", "1", "1Gi", withOwner("rs")),
			want:   "c",
		},
		{
			name:   "pods of one owner spread over nodes",
			weight: func(w *pipeline.Weights) { w.OwnerSpread = 1 },
			nodes:  []*v1.Node{node("a"), node("b")},
			placed: map[string][]*v1.Pod{"a": {pod("r1", "", "", withOwner("rs"))}, "b": {pod("o1", "", "", withOwner("other"))}},
			pod:    pod("p", "1", "1Gi", withOwner("rs")),
			want:   "b",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := cluster(t, tc.nodes, tc.placed)
			if got, msg := scheduleWith(t, only(tc.weight), s, tc.pod); got != tc.want {
				t.Fatalf("got %q (%s), want %q", got, msg, tc.want)
			}
			// Without the scorer the first node wins the tie: the scorer
			// made the choice.
			if got, _ := scheduleWith(t, only(func(*pipeline.Weights) {}), s, tc.pod); got == tc.want {
				t.Fatalf("%q wins without the scorer too: the case tests nothing", got)
			}
		})
	}
}

func TestObservedUsage(t *testing.T) {
	usageOnly := only(func(w *pipeline.Weights) { w.ObservedUsage = 1 })
	s := cluster(t, []*v1.Node{node("a"), node("b")}, map[string][]*v1.Pod{
		"a": {pod("x", "1", "1Gi")},
		"b": {pod("y", "1", "1Gi")},
	})
	p := pod("p", "500m", "512Mi")

	// Equal requests; a is busy for real.
	s.SetUsage("a", snapshot.Usage{MilliCPU: 3500, Memory: 7 << 30})
	s.SetUsage("b", snapshot.Usage{MilliCPU: 500, Memory: 1 << 30})
	if got, _ := scheduleWith(t, usageOnly, s, p); got != "b" {
		t.Fatalf("a is busy, got %q, want b", got)
	}
	// The default weights let usage win over requests that look equal.
	if got, _ := schedule(t, s, p); got != "b" {
		t.Fatalf("default weights: got %q, want b", got)
	}
	// Now b is the busy one.
	s.SetUsage("a", snapshot.Usage{MilliCPU: 200, Memory: 1 << 30})
	s.SetUsage("b", snapshot.Usage{MilliCPU: 3900, Memory: 6 << 30})
	if got, _ := schedule(t, s, p); got != "a" {
		t.Fatalf("b is busy, got %q, want a", got)
	}

	// Pods placed after the sample count on top of it, so a burst does not
	// pile onto the node that looked idle.
	for i := range 4 {
		s.AddPod(info(t, pod(fmt.Sprintf("burst-%d", i), "500m", "512Mi")), "a")
	}
	s.SetUsage("b", snapshot.Usage{MilliCPU: 2000, Memory: 2 << 30})
	if got, _ := scheduleWith(t, usageOnly, s, p); got != "b" {
		t.Fatalf("after a burst onto a, got %q, want b", got)
	}
}

func TestObservedUsageFallsBackToRequests(t *testing.T) {
	usageOnly := only(func(w *pipeline.Weights) { w.ObservedUsage = 1 })
	s := cluster(t, []*v1.Node{node("a"), node("b")}, map[string][]*v1.Pod{
		"a": {pod("x", "3", "6Gi")},
		"b": {pod("y", "1", "1Gi")},
	})
	p := pod("p", "500m", "512Mi")
	if got, _ := scheduleWith(t, usageOnly, s, p); got != "b" {
		t.Fatalf("no figures: got %q, want b (fewer requests)", got)
	}
	// Figures for a alone: a idle for real beats b judged by requests.
	s.SetUsage("a", snapshot.Usage{MilliCPU: 100, Memory: 256 << 20})
	if got, _ := scheduleWith(t, usageOnly, s, p); got != "a" {
		t.Fatalf("a idle: got %q, want a", got)
	}
	s.ClearUsage("a")
	if got, _ := scheduleWith(t, usageOnly, s, p); got != "b" {
		t.Fatalf("figures cleared: got %q, want b", got)
	}
}

// A large cluster searched in parallel and only partly (the adaptive
// percentage) still only ever returns nodes that pass every filter.
func TestPartialParallelSearchKeepsFiltersExact(t *testing.T) {
	var nodes []*v1.Node
	for i := range 1000 {
		var opts []func(*v1.Node)
		if i%5 == 0 {
			opts = append(opts, withTaint("busy", "", v1.TaintEffectNoSchedule))
		}
		nodes = append(nodes, node(fmt.Sprintf("n%d", i), opts...))
	}
	s := cluster(t, nodes, nil)
	pl := pipeline.New(pipeline.Config{Weights: pipeline.DefaultWeights(), Parallelism: 4})
	for i := range 300 {
		pi := info(t, pod(fmt.Sprintf("p%d", i), "100m", "100Mi"))
		res, fe := pl.Schedule(pi, s)
		if fe != nil {
			t.Fatalf("pod %d: %v", i, fe)
		}
		n := s.Node(res.Node)
		if len(n.Node.Spec.Taints) > 0 {
			t.Fatalf("pod %d placed on %s, which fails a filter", i, res.Node)
		}
		if res.Evaluated >= 1000 {
			t.Fatalf("pod %d: evaluated %d nodes, want the search to stop early", i, res.Evaluated)
		}
		s.AddPod(pi, res.Node)
	}
}

// Two pipelines given the same snapshot and pods make the same choices,
// whatever their parallelism.
func TestScheduleIsDeterministic(t *testing.T) {
	run := func(par int) []string {
		var nodes []*v1.Node
		for i := range 600 {
			nodes = append(nodes, node(fmt.Sprintf("n%d", i)))
		}
		s := cluster(t, nodes, nil)
		pl := pipeline.New(pipeline.Config{Weights: pipeline.DefaultWeights(), Parallelism: par})
		var out []string
		for i := range 200 {
			pi := info(t, pod(fmt.Sprintf("p%d", i), "100m", "100Mi", withOwner("rs"),
				func(p *v1.Pod) { p.ObjectMeta.Labels = map[string]string{"app": "x"} }))
			res, fe := pl.Schedule(pi, s)
			if fe != nil {
				t.Fatal(fe)
			}
			s.AddPod(pi, res.Node)
			out = append(out, res.Node)
		}
		return out
	}
	a, b := run(1), run(4)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("pod %d: %s with 1 worker, %s with 4", i, a[i], b[i])
		}
	}
}
