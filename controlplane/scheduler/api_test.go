package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/scheduler"
	"skiff.dev/skiff/test/simnode"
)

// The tests in this file run the scheduler against the real apiserver
// (servertest) with simulated nodes (test/simnode) that run the pods bound
// to them.

// TestAPIEveryPodLandsWhereItFits offers more pods than the cluster holds,
// of several sizes, some for a tainted node: every bound pod fits its node
// and tolerates its taints, every pod left pending fits nowhere and says
// why, and the simulated nodes run what was bound.
func TestAPIEveryPodLandsWhereItFits(t *testing.T) {
	c := apiCluster(t, simnode.ClusterConfig{Nodes: simnode.Config{Count: 2, Prefix: "small", CPU: "1", Memory: "2Gi"}})
	ctx := t.Context()
	if _, err := simnode.Start(ctx, c.Client, simnode.Config{Count: 2, Prefix: "big", CPU: "4", Memory: "8Gi", LeaseInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	gpuTaint := v1.Taint{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}
	if _, err := simnode.Start(ctx, c.Client, simnode.Config{Count: 1, Prefix: "gpu", CPU: "2", Memory: "4Gi", Taints: []v1.Taint{gpuTaint}, LeaseInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	runScheduler(t, c, scheduler.Config{}, nil)

	// 15.6 CPU asked of 12 (2 of them tainted): some pods cannot fit.
	sizes := []struct{ cpu, mem string }{{"100m", "128Mi"}, {"300m", "512Mi"}, {"700m", "1Gi"}, {"1500m", "2Gi"}}
	gpuToleration := v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule}
	var pods []*v1.Pod
	for i := range 24 {
		s := sizes[i%len(sizes)]
		var opts []podOpt
		if i%6 == 0 {
			opts = append(opts, withTolerations(gpuToleration))
		}
		pods = append(pods, apiPod(fmt.Sprintf("p%02d", i), s.cpu, s.mem, opts...))
	}
	createPods(t, c.Client, pods...)

	final := settled(t, c.Client, 30*time.Second)
	load := checkCapacity(t, c.Client)
	bound, pending := 0, 0
	for _, p := range final {
		if p.Spec.NodeName == "" {
			pending++
			continue
		}
		bound++
		if strings.HasPrefix(p.Spec.NodeName, "gpu-") && !tolerates(&p, gpuTaint) {
			t.Errorf("pod %s landed on tainted %s without tolerating it", p.Name, p.Spec.NodeName)
		}
	}
	if pending == 0 || bound == 0 {
		t.Fatalf("%d pods bound, %d pending: the test wants both", bound, pending)
	}
	// Pods were only added: a pod judged unschedulable still fits nowhere.
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range final {
		if p.Spec.NodeName != "" {
			continue
		}
		msg := unschedulableMessage(&p)
		if !strings.HasPrefix(msg, "0/5 nodes are available:") || !strings.Contains(msg, "Insufficient cpu") {
			t.Errorf("pending pod %s: condition message %q", p.Name, msg)
		}
		cpu, mem := podRequests(&p)
		for _, n := range nodes.Items {
			if len(n.Spec.Taints) > 0 && !tolerates(&p, n.Spec.Taints[0]) {
				continue
			}
			l := load[n.Name]
			if l.cpuMilli+cpu <= n.Status.Allocatable.Cpu().MilliValue() && l.mem+mem <= n.Status.Allocatable.Memory().Value() {
				t.Errorf("pod %s (%dm, %d bytes) left pending, but fits %s (holding %dm, %d bytes)", p.Name, cpu, mem, n.Name, l.cpuMilli, l.mem)
			}
		}
	}
	// The nodes run every pod bound to them.
	waitRunning(t, c.Client, bound)
}

// TestAPIAntiAffinityAndSpread checks required anti-affinity both ways
// (a pod's own terms, and an existing pod's terms against newcomers) and
// a DoNotSchedule zone spread that has to count a pod the scheduler did
// not place.
func TestAPIAntiAffinityAndSpread(t *testing.T) {
	// 6 nodes, two in each of zone-0, zone-1, zone-2.
	c := apiCluster(t, simnode.ClusterConfig{Nodes: simnode.Config{Count: 6}})
	runScheduler(t, c, scheduler.Config{}, nil)

	// One per node: 6 of 8 fit, 2 say why not.
	var web []*v1.Pod
	for i := range 8 {
		web = append(web, apiPod(fmt.Sprintf("web-%d", i), "100m", "64Mi", withLabels("app", "web"), withAntiAffinity("web")))
	}
	createPods(t, c.Client, web...)
	final := settled(t, c.Client, 20*time.Second)
	used := map[string]string{}
	pending := 0
	for _, p := range final {
		if p.Spec.NodeName == "" {
			pending++
			if msg := unschedulableMessage(&p); !strings.Contains(msg, "didn't match pod anti-affinity rules") {
				t.Errorf("pending %s: %q", p.Name, msg)
			}
			continue
		}
		if other, ok := used[p.Spec.NodeName]; ok {
			t.Errorf("%s and %s share node %s despite anti-affinity", p.Name, other, p.Spec.NodeName)
		}
		used[p.Spec.NodeName] = p.Name
	}
	if len(used) != 6 || pending != 2 {
		t.Fatalf("%d web pods bound on distinct nodes, %d pending; want 6 and 2", len(used), pending)
	}
	for _, p := range final {
		if p.Spec.NodeName == "" {
			if err := c.Client.CoreV1().Pods("default").Delete(t.Context(), p.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A loner keeps "noisy" pods off its node; newcomers have no terms of
	// their own.
	createPods(t, c.Client, apiPod("loner", "100m", "64Mi", withAntiAffinity("noisy")))
	loner := settled(t, c.Client, 10*time.Second)
	lonerNode := ""
	for _, p := range loner {
		if p.Name == "loner" {
			lonerNode = p.Spec.NodeName
		}
	}
	if lonerNode == "" {
		t.Fatal("loner not bound")
	}
	var noisy []*v1.Pod
	for i := range 10 {
		noisy = append(noisy, apiPod(fmt.Sprintf("noisy-%d", i), "100m", "64Mi", withLabels("app", "noisy")))
	}
	createPods(t, c.Client, noisy...)
	for _, p := range settled(t, c.Client, 20*time.Second) {
		if strings.HasPrefix(p.Name, "noisy-") && p.Spec.NodeName == lonerNode {
			t.Errorf("%s placed beside the loner on %s, whose anti-affinity forbids it", p.Name, lonerNode)
		}
	}

	// Zone spread: two pods pinned to zone-0 by hand, then seven through
	// the scheduler: 3, 3, 3.
	createPods(t, c.Client,
		apiPod("spread-pinned-0", "100m", "64Mi", withLabels("app", "spread"), onNode("sim-0")),
		apiPod("spread-pinned-1", "100m", "64Mi", withLabels("app", "spread"), onNode("sim-3")))
	var spread []*v1.Pod
	for i := range 7 {
		spread = append(spread, apiPod(fmt.Sprintf("spread-%d", i), "100m", "64Mi", withLabels("app", "spread"), withZoneSpread("spread")))
	}
	createPods(t, c.Client, spread...)
	zones := map[string]int{}
	for _, p := range settled(t, c.Client, 20*time.Second) {
		if !strings.HasPrefix(p.Name, "spread-") {
			continue
		}
		if p.Spec.NodeName == "" {
			t.Errorf("%s not placed: %s", p.Name, unschedulableMessage(&p))
			continue
		}
		var idx int
		fmt.Sscanf(p.Spec.NodeName, "sim-%d", &idx)
		zones[fmt.Sprintf("zone-%d", idx%3)]++
	}
	if zones["zone-0"] != 3 || zones["zone-1"] != 3 || zones["zone-2"] != 3 {
		t.Errorf("spread pods per zone = %v, want 3 in each", zones)
	}
	checkCapacity(t, c.Client)
}

// TestAPIUnschedulableUntilNodeAdded: a pod too big for every node is
// reported and waits; a node that can hold it arrives and the pod goes
// there, long before the periodic retry of unschedulable pods (5 min).
func TestAPIUnschedulableUntilNodeAdded(t *testing.T) {
	c := apiCluster(t, simnode.ClusterConfig{Nodes: simnode.Config{Count: 2, CPU: "1"}})
	runScheduler(t, c, scheduler.Config{}, nil)
	createPods(t, c.Client, apiPod("big", "3", "1Gi"))
	waitUntil(t, 10*time.Second, "big reported unschedulable", func() (bool, string) {
		msg := unschedulableMessage(getAPIPod(t, c.Client, "big"))
		return msg == "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.", msg
	})
	time.Sleep(500 * time.Millisecond)
	if n := getAPIPod(t, c.Client, "big").Spec.NodeName; n != "" {
		t.Fatalf("big bound to %s, which cannot hold it", n)
	}
	if _, err := simnode.Start(t.Context(), c.Client, simnode.Config{Count: 1, Prefix: "large", CPU: "8", LeaseInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "big bound after the node came", func() (bool, string) {
		n := getAPIPod(t, c.Client, "big").Spec.NodeName
		return n != "", n
	})
	if n := getAPIPod(t, c.Client, "big").Spec.NodeName; n != "large-0" {
		t.Errorf("big bound to %s, want large-0", n)
	}
	waitUntil(t, 10*time.Second, "big running", func() (bool, string) {
		p := getAPIPod(t, c.Client, "big")
		return p.Status.Phase == v1.PodRunning, string(p.Status.Phase)
	})
}

// TestAPISchedulerRestartMidStream stops a scheduler while its binds are
// in flight and starts another at once (a crash and restart: the old one's
// last requests may still land). The cluster is filled exactly: no pod is
// bound twice or moved, no node holds more than it can, every pod that
// fits is bound and the rest are reported.
func TestAPISchedulerRestartMidStream(t *testing.T) {
	// 4 nodes x 4 CPU = 64 pods of 250m; 80 are created.
	c := apiCluster(t, simnode.ClusterConfig{Nodes: simnode.Config{Count: 4}})
	seen := watchBindings(t, c.Client)
	var pods []*v1.Pod
	for i := range 80 {
		pods = append(pods, apiPod(fmt.Sprintf("p%02d", i), "250m", "256Mi"))
	}
	createPods(t, c.Client, pods...)

	// Slow binds, four at a time: the first scheduler is stopped with binds
	// in flight and pods still queued.
	first := &apiTap{delay: 30 * time.Millisecond}
	stopFirst := runScheduler(t, c, scheduler.Config{APIConcurrency: 4}, first.wrap)
	waitUntil(t, 20*time.Second, "the first scheduler to bind 20 pods", func() (bool, string) {
		n := first.tally().ok
		return n >= 20, fmt.Sprint(n)
	})
	stopFirst()
	second := &apiTap{}
	runScheduler(t, c, scheduler.Config{}, second.wrap)

	final := settled(t, c.Client, 30*time.Second)
	bound := 0
	for _, p := range final {
		if p.Spec.NodeName != "" {
			bound++
		} else if !strings.Contains(unschedulableMessage(&p), "Insufficient cpu") {
			t.Errorf("pending %s: %q", p.Name, unschedulableMessage(&p))
		}
	}
	if bound != 64 {
		t.Errorf("%d pods bound, want 64 (the cluster's capacity)", bound)
	}
	for n, l := range checkCapacity(t, c.Client) {
		if l.cpuMilli != 4000 {
			t.Errorf("node %s holds %dm of 4000m", n, l.cpuMilli)
		}
	}
	if moved := seen.moved(); len(moved) > 0 {
		t.Errorf("pods seen on more than one node: %v", moved)
	}
	// A bind cancelled by the stop may still have landed.
	checkBinds(t, first.tally(), second.tally(), 64)
}

// TestAPILeaderElectionNeverBothBind runs two leader-elected schedulers
// while pods keep coming, and cuts the leader off from the Lease API
// (its other calls still work, the nastiest partition): it must stop
// binding before the other starts, and no pod may be bound twice.
func TestAPILeaderElectionNeverBothBind(t *testing.T) {
	c := apiCluster(t, simnode.ClusterConfig{Nodes: simnode.Config{Count: 3, CPU: "16"}})
	le := func(id string) scheduler.LeaderElection {
		return scheduler.LeaderElection{Enabled: true, Identity: id, LeaseDuration: 3 * time.Second, RenewDeadline: time.Second, RetryPeriod: 200 * time.Millisecond}
	}
	holder := func() string {
		l, err := c.Client.CoordinationV1().Leases("kube-system").Get(t.Context(), scheduler.DefaultName, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	var cutA atomic.Bool
	a := &apiTap{delay: 5 * time.Millisecond, cutLease: &cutA}
	b := &apiTap{delay: 5 * time.Millisecond}
	runScheduler(t, c, scheduler.Config{LeaderElection: le("a")}, a.wrap)
	waitUntil(t, 10*time.Second, "a leads", func() (bool, string) { h := holder(); return h == "a", h })
	runScheduler(t, c, scheduler.Config{LeaderElection: le("b")}, b.wrap)
	createPods(t, c.Client, apiPod("first", "10m", "16Mi")) // waits for the service account

	// Pods keep coming, 40 a second, through the hand-over.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	created := make(chan int, 1)
	go func() {
		n := 0
		defer func() { created <- n }()
		for ; n < 240 && ctx.Err() == nil; n++ {
			if _, err := c.Client.CoreV1().Pods("default").Create(ctx, apiPod(fmt.Sprintf("p%03d", n), "10m", "16Mi"), metav1.CreateOptions{}); err != nil {
				t.Errorf("create pod: %v", err)
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	cutA.Store(true)
	waitUntil(t, 15*time.Second, "b leads", func() (bool, string) { h := holder(); return h == "b", h })
	total := <-created
	waitUntil(t, 20*time.Second, "every pod bound", func() (bool, string) {
		n := 0
		for _, p := range listPods(t, c.Client) {
			if p.Spec.NodeName != "" {
				n++
			}
		}
		return n == total+1, fmt.Sprintf("%d of %d", n, total+1)
	})

	// a's calls, answered or not, all ended before b's first began.
	at, bt := a.tally(), b.tally()
	checkBinds(t, at, bt, total+1)
	if !at.last.Before(bt.first) {
		t.Errorf("both bound: a's last bind call ended %v after b's first began", at.last.Sub(bt.first))
	}

	// Healed, a follows: new pods are b's.
	cutA.Store(false)
	aBefore := len(a.calls())
	createPods(t, c.Client, apiPod("late", "10m", "16Mi"))
	waitUntil(t, 10*time.Second, "late bound", func() (bool, string) {
		return getAPIPod(t, c.Client, "late").Spec.NodeName != "", ""
	})
	if n := len(a.calls()); n != aBefore {
		t.Errorf("a, no longer leading, made %d bind calls", n-aBefore)
	}
}
