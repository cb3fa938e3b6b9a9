package pipeline_test

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/controlplane/scheduler/pipeline"
)

func victimNames(p *pipeline.Preemption) []string {
	var out []string
	for _, v := range p.Victims {
		out = append(out, v.Pod.Name)
	}
	slices.Sort(out)
	return out
}

func TestPreemptEvictsFewestLowestPriorityPods(t *testing.T) {
	s := cluster(t, []*v1.Node{node("a"), node("b")}, map[string][]*v1.Pod{
		// Freeing 2 CPU on a takes the two 1-CPU pods of priority 10; on b,
		// one pod of priority 50. The lowest highest-priority wins: a.
		"a": {pod("a-low1", "1", "", withPriority(10)), pod("a-low2", "1", "", withPriority(10)), pod("a-keep", "2", "", withPriority(1000))},
		"b": {pod("b-mid", "2", "", withPriority(50)), pod("b-keep", "2", "", withPriority(1000))},
	})
	pl := everyNode(pipeline.DefaultWeights())
	pi := info(t, pod("urgent", "2", "", withPriority(100)))
	_, fe := pl.Schedule(pi, s)
	if fe == nil {
		t.Fatal("pod fits without preemption")
	}
	plan := pl.Preempt(pi, s, fe)
	if plan == nil {
		t.Fatalf("no preemption: %v", fe)
	}
	if plan.Node != "a" || !slices.Equal(victimNames(plan), []string{"a-low1", "a-low2"}) {
		t.Fatalf("got node %s victims %v, want a [a-low1 a-low2]", plan.Node, victimNames(plan))
	}
}

func TestPreemptReprievesWhatIsNotNeeded(t *testing.T) {
	s := cluster(t, []*v1.Node{node("a")}, map[string][]*v1.Pod{
		"a": {pod("p1", "1", "", withPriority(1)), pod("p5", "1", "", withPriority(5)), pod("p9", "2", "", withPriority(9))},
	})
	pl := everyNode(pipeline.DefaultWeights())
	pi := info(t, pod("urgent", "1", "", withPriority(100)))
	_, fe := pl.Schedule(pi, s)
	if fe == nil {
		t.Fatal("pod fits without preemption")
	}
	plan := pl.Preempt(pi, s, fe)
	if plan == nil || !slices.Equal(victimNames(plan), []string{"p1"}) {
		t.Fatalf("got %+v, want only the lowest-priority pod p1 evicted", plan)
	}
}

func TestPreemptNotHelpful(t *testing.T) {
	s := cluster(t, []*v1.Node{
		node("a", withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
		node("b"),
		node("c"),
	}, map[string][]*v1.Pod{
		"b": {pod("b-high", "4", "", withPriority(1000))},
		"c": {pod("c-low", "2", "", withPriority(1))},
	})
	pl := everyNode(pipeline.DefaultWeights())
	pi := info(t, pod("big", "6", "", withPriority(100)))
	_, fe := pl.Schedule(pi, s)
	if fe == nil {
		t.Fatal("pod fits")
	}
	if plan := pl.Preempt(pi, s, fe); plan != nil {
		t.Fatalf("preemption planned %+v, want none", plan)
	}
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu. " +
		"preemption: 0/3 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
	if got := fe.Error(); got != want {
		t.Fatalf("message\n got: %s\nwant: %s", got, want)
	}
}

func TestPreemptNever(t *testing.T) {
	s := cluster(t, []*v1.Node{node("a")}, map[string][]*v1.Pod{"a": {pod("low", "4", "", withPriority(1))}})
	pl := everyNode(pipeline.DefaultWeights())
	pi := info(t, pod("polite", "1", "", withPriority(100), func(p *v1.Pod) {
		p.Spec.PreemptionPolicy = ptr(v1.PreemptNever)
	}))
	_, fe := pl.Schedule(pi, s)
	if plan := pl.Preempt(pi, s, fe); plan != nil {
		t.Fatalf("preemptionPolicy Never preempted %+v", plan)
	}
	if want := "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."; fe.Error() != want {
		t.Fatalf("message %q, want %q", fe.Error(), want)
	}
}

func TestNominatedNodeIsTriedFirst(t *testing.T) {
	s := cluster(t, []*v1.Node{node("a"), node("b")}, map[string][]*v1.Pod{"b": {pod("x", "2", "")}})
	p := pod("p", "1", "", func(p *v1.Pod) { p.Status.NominatedNodeName = "b" })
	if got, msg := schedule(t, s, p); got != "b" {
		t.Fatalf("got %q (%s), want the nominated node b", got, msg)
	}
}
