package snapshot_test

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

func node(name string) *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelTopologyZone: "z1"}},
		Status: v1.NodeStatus{Allocatable: v1.ResourceList{
			v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("8Gi"), v1.ResourcePods: resource.MustParse("110"),
		}},
	}
}

func pod(t *testing.T, name, cpu, mem string, opts ...func(*v1.Pod)) *snapshot.PodInfo {
	t.Helper()
	rl := v1.ResourceList{}
	if cpu != "" {
		rl[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		rl[v1.ResourceMemory] = resource.MustParse(mem)
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name), Labels: map[string]string{"app": "web"}},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: rl}}}},
	}
	for _, o := range opts {
		o(p)
	}
	pi, err := snapshot.NewPodInfo(p)
	if err != nil {
		t.Fatal(err)
	}
	return pi
}

func owned(uid string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		ctrl := true
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: uid, UID: types.UID(uid), Controller: &ctrl}}
	}
}

func hostPort(port int32) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{HostPort: port, ContainerPort: port}}
	}
}

func antiAffine(p *v1.Pod) {
	p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: v1.LabelHostname,
	}}}}
}

func checkTotals(t *testing.T, n *snapshot.NodeInfo, cpuMilli, memBytes int64, pods int) {
	t.Helper()
	if n.Requested.MilliCPU != cpuMilli || n.Requested.Memory != memBytes || n.NumPods() != pods {
		t.Fatalf("node %s: requested %dm/%d with %d pods, want %dm/%d with %d pods",
			n.Name, n.Requested.MilliCPU, n.Requested.Memory, n.NumPods(), cpuMilli, memBytes, pods)
	}
}

func TestPodsKeepTotalsRight(t *testing.T) {
	s := snapshot.New()
	s.SetNode(node("a"))
	s.SetNode(node("b"))
	a := s.Node("a")

	s.AddPod(pod(t, "p1", "1", "1Gi", owned("rs"), hostPort(80)), "a")
	s.AddPod(pod(t, "p2", "500m", "", owned("rs")), "a")
	checkTotals(t, a, 1500, 1<<30, 2)
	if a.NonZeroRequested.Memory != 1<<30+snapshot.DefaultMemoryRequest {
		t.Fatalf("non-zero memory %d, want the 200Mi default added for p2", a.NonZeroRequested.Memory)
	}
	if a.OwnerCount("rs") != 2 {
		t.Fatalf("owner count %d, want 2", a.OwnerCount("rs"))
	}

	// Adding the same pod again (the informer confirming an assumed pod,
	// or an update) replaces it instead of counting it twice.
	s.AddPod(pod(t, "p1", "1", "1Gi", owned("rs"), hostPort(80)), "a")
	checkTotals(t, a, 1500, 1<<30, 2)

	// Moving a pod to another node moves its requests.
	s.AddPod(pod(t, "p1", "1", "1Gi", owned("rs"), hostPort(80)), "b")
	checkTotals(t, a, 500, 0, 1)
	checkTotals(t, s.Node("b"), 1000, 1<<30, 1)
	if !s.Node("b").PortsConflict([]snapshot.HostPort{{Protocol: v1.ProtocolTCP, IP: "0.0.0.0", Port: 80}}) || a.PortsConflict([]snapshot.HostPort{{Protocol: v1.ProtocolTCP, IP: "0.0.0.0", Port: 80}}) {
		t.Fatal("host port 80 should have moved from a to b")
	}

	if !s.RemovePod("p2") || s.RemovePod("p2") {
		t.Fatal("RemovePod should report the pod once")
	}
	checkTotals(t, a, 0, 0, 0)
	if a.OwnerCount("rs") != 0 {
		t.Fatalf("owner count on a %d after removal", a.OwnerCount("rs"))
	}
	var owners []string
	for n, c := range s.OwnerCounts("rs") {
		owners = append(owners, fmt.Sprintf("%s=%d", n.Name, c))
	}
	if len(owners) != 1 || owners[0] != "b=1" {
		t.Fatalf("owner nodes %v, want [b=1]", owners)
	}
}

func TestIndexesFollowPods(t *testing.T) {
	s := snapshot.New()
	s.SetNode(node("a"))
	for i := range 100 {
		opts := []func(*v1.Pod){}
		if i%10 == 5 {
			opts = append(opts, antiAffine)
		}
		s.AddPod(pod(t, fmt.Sprintf("p%d", i), "10m", "", opts...), "a")
	}
	for i := 0; i < 100; i += 2 {
		s.RemovePod(types.UID(fmt.Sprintf("p%d", i)))
	}
	count := func(each func(func(*snapshot.PodInfo, *snapshot.NodeInfo))) int {
		n := 0
		each(func(*snapshot.PodInfo, *snapshot.NodeInfo) { n++ })
		return n
	}
	inDefault := func(ns string, _ labels.Set) bool { return ns == "default" }
	if got := count(func(f func(*snapshot.PodInfo, *snapshot.NodeInfo)) { s.PodsMatching(inDefault, labels.Everything(), f) }); got != 50 {
		t.Fatalf("%d pods in namespace, want 50", got)
	}
	// p5, p15, ..., p95 remain with anti-affinity against app=web.
	anti := func(l map[string]string) func(func(*snapshot.PodInfo, *snapshot.NodeInfo)) {
		return func(f func(*snapshot.PodInfo, *snapshot.NodeInfo)) { s.PodsWithAntiAffinityFor(l, f) }
	}
	if got := count(anti(map[string]string{"app": "web", "tier": "x"})); got != 10 {
		t.Fatalf("%d pods with anti-affinity selecting app=web, want 10", got)
	}
	if got := count(anti(map[string]string{"app": "db"})); got != 0 {
		t.Fatalf("%d pods with anti-affinity selecting app=db, want 0", got)
	}
	web := labels.SelectorFromSet(labels.Set{"app": "web"})
	if got := count(func(f func(*snapshot.PodInfo, *snapshot.NodeInfo)) { s.PodsMatching(inDefault, web, f) }); got != 50 {
		t.Fatalf("%d pods match app=web, want 50", got)
	}
	if got := count(func(f func(*snapshot.PodInfo, *snapshot.NodeInfo)) { s.PodsMatching(inDefault, labels.Nothing(), f) }); got != 0 || s.NumPods() != 50 {
		t.Fatalf("%d pods match nothing (%d placed), want 0", got, s.NumPods())
	}
	checkTotals(t, s.Node("a"), 500, 0, 50)

	scoring := func() int {
		return count(func(f func(*snapshot.PodInfo, *snapshot.NodeInfo)) {
			s.PodsWithAffinityFor(map[string]string{"app": "web"}, f)
		})
	}
	s.AddPod(pod(t, "near-web", "", "", func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{
			Weight: 1, PodAffinityTerm: v1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: v1.LabelHostname},
		}}}}
	}), "a")
	if got := scoring(); got != 1 {
		t.Fatalf("%d pods with preferred terms selecting app=web, want 1", got)
	}
	s.RemovePod("near-web")
	if got := scoring(); got != 0 {
		t.Fatalf("%d pods with preferred terms after removal, want 0", got)
	}
}

func TestNodesComeAndGo(t *testing.T) {
	s := snapshot.New()
	// A pod bound to a node the informer has not delivered yet counts on
	// a placeholder that is not schedulable.
	s.AddPod(pod(t, "early", "1", ""), "late")
	if s.Node("late") != nil || s.NumNodes() != 0 {
		t.Fatal("placeholder node is listed")
	}
	s.SetNode(node("late"))
	checkTotals(t, s.Node("late"), 1000, 0, 1)
	if s.NumNodes() != 1 || s.Node("late").Allocatable.MilliCPU != 4000 {
		t.Fatal("node not listed with its allocatable")
	}

	// Updating the node keeps its pods, and the fields copied out of the
	// Node follow it.
	n := node("late")
	n.Status.Allocatable[v1.ResourceCPU] = resource.MustParse("8")
	n.Labels[v1.LabelTopologyZone] = "z2"
	n.Spec.Unschedulable = true
	n.Spec.Taints = []v1.Taint{{Key: "k", Effect: v1.TaintEffectNoSchedule}}
	s.SetNode(n)
	late := s.Node("late")
	checkTotals(t, late, 1000, 0, 1)
	if late.Allocatable.MilliCPU != 8000 {
		t.Fatal("allocatable not updated")
	}
	if z, ok := late.Zone(); !ok || z != "z2" || !late.Unschedulable() || len(late.Taints()) != 1 {
		t.Fatalf("zone %q %v, unschedulable %v, taints %v: not updated", z, ok, late.Unschedulable(), late.Taints())
	}
	s.SetNode(node("late"))
	if z, _ := late.Zone(); z != "z1" || late.Unschedulable() || len(late.Taints()) != 0 {
		t.Fatal("zone, unschedulable or taints not restored")
	}

	s.SetNode(node("other"))
	if d := s.TopologyDomains(v1.LabelTopologyZone); d["z1"] != 2 {
		t.Fatalf("zone domains %v, want z1=2", d)
	}
	s.RemoveNode("late")
	if d := s.TopologyDomains(v1.LabelTopologyZone); d["z1"] != 1 {
		t.Fatalf("zone domains %v after removal, want z1=1", d)
	}
	if s.NumNodes() != 1 || s.Nodes()[0].Name != "other" || s.Node("late") != nil {
		t.Fatal("removed node still listed")
	}
	if _, where, ok := s.Pod("early"); !ok || where != "late" {
		t.Fatal("pods of a removed node must stay counted until they go")
	}
	s.RemovePod("early")
	if _, _, ok := s.Pod("early"); ok {
		t.Fatal("pod still placed")
	}
}

func TestObservedUsageAddsWhatWasPlacedSinceTheSample(t *testing.T) {
	s := snapshot.New()
	s.SetNode(node("a"))
	s.AddPod(pod(t, "before", "1", "1Gi"), "a")
	if _, ok := s.Node("a").ObservedUsage(); ok {
		t.Fatal("usage without a sample")
	}
	s.SetUsage("a", snapshot.Usage{MilliCPU: 300, Memory: 100 << 20})
	s.AddPod(pod(t, "after", "1", "1Gi"), "a")
	u, ok := s.Node("a").ObservedUsage()
	if !ok || u.MilliCPU != 1300 || u.Memory != 100<<20+1<<30 {
		t.Fatalf("usage %+v, want the sample plus the pod placed after it (1300m, 1124Mi)", u)
	}
	s.RemovePod("before")
	s.RemovePod("after")
	if u, _ := s.Node("a").ObservedUsage(); u.MilliCPU != 0 || u.Memory != 0 {
		t.Fatalf("usage %+v after removing more than was sampled, want it floored at 0", u)
	}
}

func TestPodInfo(t *testing.T) {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"app": "web", "rev": "7"}},
		Spec: v1.PodSpec{
			InitContainers: []v1.Container{{Name: "init", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("2")}}}},
			Containers: []v1.Container{
				{Name: "a", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m")}}},
				{Name: "b", Ports: []v1.ContainerPort{{HostPort: 53, Protocol: v1.ProtocolUDP}}},
			},
			Affinity: &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				LabelSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				MatchLabelKeys: []string{"rev"}, TopologyKey: v1.LabelHostname,
			}}}},
		},
	}
	pi, err := snapshot.NewPodInfo(p)
	if err != nil {
		t.Fatal(err)
	}
	// The init container's 2 CPU is the peak; memory asks nothing but
	// counts the default for scores.
	if pi.Requests.MilliCPU != 2000 || pi.Requests.Memory != 0 || pi.NonZero.Memory != 2*snapshot.DefaultMemoryRequest {
		t.Fatalf("requests %+v non-zero %+v", pi.Requests, pi.NonZero)
	}
	if len(pi.HostPorts) != 1 || pi.HostPorts[0] != (snapshot.HostPort{Protocol: v1.ProtocolUDP, IP: "0.0.0.0", Port: 53}) {
		t.Fatalf("host ports %+v", pi.HostPorts)
	}
	term := pi.RequiredAntiAffinity[0]
	same := &snapshot.PodInfo{Pod: &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Labels: map[string]string{"app": "web", "rev": "7"}}}}
	older := &snapshot.PodInfo{Pod: &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Labels: map[string]string{"app": "web", "rev": "6"}}}}
	elsewhere := &snapshot.PodInfo{Pod: &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Labels: map[string]string{"app": "web", "rev": "7"}}}}
	if !term.Matches(same, nil) || term.Matches(older, nil) || term.Matches(elsewhere, nil) {
		t.Fatal("term must select app=web,rev=7 in the pod's own namespace only (matchLabelKeys)")
	}

	p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}
	if _, err := snapshot.NewPodInfo(p); err == nil {
		t.Fatal("a selector that does not parse must fail")
	}
}
