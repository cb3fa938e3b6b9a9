package simnode_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/test/simnode"
)

func TestNodesRegisterAndHeartbeat(t *testing.T) {
	c := simnode.StartCluster(t, simnode.ClusterConfig{NoScheduler: true, Nodes: simnode.Config{
		Count: 3, Prefix: "n", CPU: "8", Labels: map[string]string{"pool": "a"},
		Taints:        []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectPreferNoSchedule}},
		LeaseInterval: 300 * time.Millisecond,
	}})
	ctx := t.Context()
	if got, want := fmt.Sprint(c.Nodes.Names()), "[n-0 n-1 n-2]"; got != want {
		t.Fatalf("Names() = %s, want %s", got, want)
	}
	node, err := c.Client.CoreV1().Nodes().Get(ctx, "n-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"kubernetes.io/hostname": "n-2", "topology.kubernetes.io/zone": "zone-2", "pool": "a", "kubernetes.io/os": "linux"} {
		if node.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "dedicated" {
		t.Errorf("taints = %v, want the configured one", node.Spec.Taints)
	}
	for name, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "8", corev1.ResourceMemory: "32Gi", corev1.ResourcePods: "110"} {
		if q := node.Status.Allocatable[name]; q.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("allocatable %s = %s, want %s", name, q.String(), want)
		}
		if q := node.Status.Capacity[name]; q.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("capacity %s = %s, want %s", name, q.String(), want)
		}
	}
	want := map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady: corev1.ConditionTrue, corev1.NodeMemoryPressure: corev1.ConditionFalse,
		corev1.NodeDiskPressure: corev1.ConditionFalse, corev1.NodePIDPressure: corev1.ConditionFalse,
	}
	for _, cond := range node.Status.Conditions {
		if want[cond.Type] != cond.Status {
			t.Errorf("condition %s = %s, want %s", cond.Type, cond.Status, want[cond.Type])
		}
		delete(want, cond.Type)
	}
	if len(want) > 0 {
		t.Errorf("conditions missing: %v", want)
	}
	addrs := fmt.Sprint(node.Status.Addresses)
	if wantAddrs := "[{InternalIP 192.0.2.2} {Hostname n-2}]"; addrs != wantAddrs {
		t.Errorf("addresses = %s, want %s", addrs, wantAddrs)
	}
	info := node.Status.NodeInfo
	if info.KubeletVersion != "v1.37.2-skiff" || info.OperatingSystem != "linux" || info.Architecture != "amd64" {
		t.Errorf("nodeInfo = %+v", info)
	}

	// The Lease and the Ready condition are renewed every interval.
	lease0 := getLease(t, c.Client, "n-1")
	if lease0.Spec.HolderIdentity == nil || *lease0.Spec.HolderIdentity != "n-1" || len(lease0.OwnerReferences) != 1 {
		t.Errorf("lease = %+v, want held by n-1 and owned by its node", lease0.Spec)
	}
	beat0 := readyCondition(node).LastHeartbeatTime
	waitFor(t, 5*time.Second, "lease and status renewed", func() (bool, error) {
		lease := getLease(t, c.Client, "n-1")
		n, err := c.Client.CoreV1().Nodes().Get(ctx, "n-2", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return lease.Spec.RenewTime.After(lease0.Spec.RenewTime.Add(500*time.Millisecond)) &&
			readyCondition(n).LastHeartbeatTime.After(beat0.Add(500*time.Millisecond)), nil
	})

	// A node that stops its heartbeat renews nothing more.
	c.Nodes.StopHeartbeat("n-0")
	time.Sleep(400 * time.Millisecond) // a renewal in flight may land
	stopped := getLease(t, c.Client, "n-0").Spec.RenewTime
	time.Sleep(900 * time.Millisecond)
	if now := getLease(t, c.Client, "n-0").Spec.RenewTime; !now.Equal(stopped) {
		t.Errorf("lease of a stopped node renewed: %v -> %v", stopped, now)
	}
	c.Nodes.ResumeHeartbeat("n-0")
	waitFor(t, 5*time.Second, "lease renewed after resume", func() (bool, error) {
		return getLease(t, c.Client, "n-0").Spec.RenewTime.After(stopped.Time), nil
	})

	// Add numbers on, Delete removes the node and its Lease.
	added, err := c.Nodes.Add(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(added) != "[n-3 n-4]" {
		t.Errorf("Add = %v, want [n-3 n-4]", added)
	}
	if err := c.Nodes.Delete("n-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Nodes().Get(ctx, "n-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deleted node: get = %v, want NotFound", err)
	}
	if _, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "n-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deleted node's lease: get = %v, want NotFound", err)
	}
	if got := fmt.Sprint(c.Nodes.Names()); got != "[n-0 n-2 n-3 n-4]" {
		t.Errorf("Names() = %s after Add and Delete", got)
	}
}

func TestPodsRunAndFinish(t *testing.T) {
	c := simnode.StartCluster(t, simnode.ClusterConfig{Nodes: simnode.Config{Count: 3, TerminationDelay: time.Second}})
	ctx := t.Context()
	// The IPAM controller's job, done by hand: sim-0's pods take addresses
	// from its podCIDR.
	setPodCIDR(t, c.Client, "sim-0", "10.42.7.0/24")
	waitFor(t, 10*time.Second, "the agent to see sim-0's podCIDR", func() (bool, error) {
		return c.Nodes.PodCIDR("sim-0") == "10.42.7.0/24", nil
	})

	for i := range 9 {
		createPod(t, c.Client, fmt.Sprintf("p%d", i), "", corev1.RestartPolicyAlways)
	}
	createPod(t, c.Client, "on-0", "sim-0", corev1.RestartPolicyAlways)
	pods := waitRunningReady(t, c.Client, 10)
	seen := map[string]string{}
	for _, p := range pods {
		if other, dup := seen[p.Status.PodIP]; dup {
			t.Errorf("pods %s and %s share IP %s", p.Name, other, p.Status.PodIP)
		}
		seen[p.Status.PodIP] = p.Name
		node, err := c.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.HostIP != node.Status.Addresses[0].Address {
			t.Errorf("pod %s hostIP %s, node %s has %s", p.Name, p.Status.HostIP, node.Name, node.Status.Addresses[0].Address)
		}
		ip := netip.MustParseAddr(p.Status.PodIP)
		if p.Spec.NodeName == "sim-0" && !netip.MustParsePrefix("10.42.7.0/24").Contains(ip) {
			t.Errorf("pod %s on sim-0 has IP %s outside the node's podCIDR", p.Name, ip)
		}
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready || cs[0].RestartCount != 0 || p.Status.StartTime == nil {
			t.Errorf("pod %s container statuses = %+v", p.Name, cs)
		}
		for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			if podCondition(&p, ct) != corev1.ConditionTrue {
				t.Errorf("pod %s condition %s = %q, want True", p.Name, ct, podCondition(&p, ct))
			}
		}
	}

	// Readiness flips both ways.
	if err := c.Nodes.SetPodReady("default", "p0", false); err != nil {
		t.Fatal(err)
	}
	if p := getPod(t, c.Client, "p0"); podCondition(p, corev1.PodReady) != corev1.ConditionFalse || p.Status.ContainerStatuses[0].Ready {
		t.Errorf("p0 after SetPodReady(false): Ready=%s", podCondition(p, corev1.PodReady))
	}
	if err := c.Nodes.SetPodReady("default", "p0", true); err != nil {
		t.Fatal(err)
	}
	if p := getPod(t, c.Client, "p0"); podCondition(p, corev1.PodReady) != corev1.ConditionTrue {
		t.Errorf("p0 after SetPodReady(true): Ready=%s", podCondition(p, corev1.PodReady))
	}

	// Containers exit: per restartPolicy the pod ends or restarts.
	createPod(t, c.Client, "job-ok", "", corev1.RestartPolicyNever)
	createPod(t, c.Client, "job-bad", "", corev1.RestartPolicyNever)
	createPod(t, c.Client, "retry", "", corev1.RestartPolicyOnFailure)
	waitRunningReady(t, c.Client, 13)
	for _, tc := range []struct {
		pod      string
		code     int32
		phase    corev1.PodPhase
		restarts int32
	}{
		{"job-ok", 0, corev1.PodSucceeded, 0},
		{"job-bad", 3, corev1.PodFailed, 0},
		{"retry", 1, corev1.PodRunning, 1},
		{"p1", 137, corev1.PodRunning, 1},
		{"retry", 0, corev1.PodSucceeded, 1},
	} {
		if err := c.Nodes.FailPod("default", tc.pod, tc.code); err != nil {
			t.Fatalf("FailPod(%s, %d): %v", tc.pod, tc.code, err)
		}
		p := getPod(t, c.Client, tc.pod)
		cs := p.Status.ContainerStatuses[0]
		if p.Status.Phase != tc.phase || cs.RestartCount != tc.restarts {
			t.Errorf("%s after exit %d: phase %s, restarts %d; want %s, %d", tc.pod, tc.code, p.Status.Phase, cs.RestartCount, tc.phase, tc.restarts)
		}
		if tc.phase != corev1.PodRunning && (cs.State.Terminated == nil || cs.State.Terminated.ExitCode != tc.code || podCondition(p, corev1.PodReady) != corev1.ConditionFalse) {
			t.Errorf("%s after exit %d: state %+v, Ready %s", tc.pod, tc.code, cs.State, podCondition(p, corev1.PodReady))
		}
	}

	// A graceful deletion finishes after min(grace, TerminationDelay): the
	// pod is Terminating for about a second, then gone.
	start := time.Now()
	if err := c.Client.CoreV1().Pods("default").Delete(ctx, "p2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := getPod(t, c.Client, "p2"); p.DeletionTimestamp == nil {
		t.Fatal("p2 not terminating after delete")
	}
	waitFor(t, 10*time.Second, "p2 gone", func() (bool, error) {
		_, err := c.Client.CoreV1().Pods("default").Get(ctx, "p2", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("p2 gone after %v, before its termination delay of 1s", d)
	}
}

func TestStartupDelayAndDeadNode(t *testing.T) {
	c := simnode.StartCluster(t, simnode.ClusterConfig{NoScheduler: true, Nodes: simnode.Config{Count: 2, StartupDelay: 700 * time.Millisecond}})
	start := time.Now()
	createPod(t, c.Client, "slow", "sim-0", corev1.RestartPolicyAlways)
	waitRunningReady(t, c.Client, 1)
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Errorf("pod Running after %v, before the startup delay", d)
	}
	// A dead node runs nothing and finishes no deletion.
	c.Nodes.StopHeartbeat("sim-0")
	c.Nodes.StopHeartbeat("sim-1")
	createPod(t, c.Client, "stuck", "sim-1", corev1.RestartPolicyAlways)
	if err := c.Client.CoreV1().Pods("default").Delete(t.Context(), "slow", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if p := getPod(t, c.Client, "stuck"); p.Status.Phase != corev1.PodPending {
		t.Errorf("pod on a dead node is %s, want Pending", p.Status.Phase)
	}
	if p := getPod(t, c.Client, "slow"); p.DeletionTimestamp == nil {
		t.Errorf("pod being deleted on a dead node: no deletion timestamp")
	}
	// Back to life, the nodes catch up.
	c.Nodes.ResumeHeartbeat("sim-0")
	c.Nodes.ResumeHeartbeat("sim-1")
	waitFor(t, 10*time.Second, "slow gone", func() (bool, error) {
		_, err := c.Client.CoreV1().Pods("default").Get(t.Context(), "slow", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	waitRunningReady(t, c.Client, 1)
}

// TestThousandNodes registers 1,000 nodes and waits for every Lease to be
// renewed once; it reports how long both took.
func TestThousandNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 nodes: not in -short")
	}
	const count, interval = 1000, 3 * time.Second
	c := simnode.StartCluster(t, simnode.ClusterConfig{NoScheduler: true})
	ctx := t.Context()
	start := time.Now()
	nodes, err := simnode.Start(ctx, c.Client, simnode.Config{Count: count, Prefix: "big", LeaseInterval: interval, Workers: 32})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodes.Stop)
	registered := time.Since(start)
	list, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != count {
		t.Fatalf("%d nodes registered, want %d", len(list.Items), count)
	}
	renewedAt := start
	waitFor(t, 30*time.Second, "every lease renewed", func() (bool, error) {
		leases, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		renewed := 0
		for _, l := range leases.Items {
			if l.Spec.RenewTime.After(l.Spec.AcquireTime.Time) {
				renewed++
			}
		}
		renewedAt = time.Now()
		return renewed == count, nil
	})
	t.Logf("%d nodes: registered in %v; every lease renewed (interval %v) %v after start", count, registered.Round(time.Millisecond), interval, renewedAt.Sub(start).Round(time.Millisecond))
}

func getLease(t *testing.T, cs kubernetes.Interface, name string) *coordinationv1.Lease {
	t.Helper()
	l, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func readyCondition(n *corev1.Node) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func setPodCIDR(t *testing.T, cs kubernetes.Interface, node, cidr string) {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Get(t.Context(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	if _, err := cs.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createPod(t *testing.T, cs kubernetes.Interface, name, node string, policy corev1.RestartPolicy) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: node, RestartPolicy: policy,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func getPod(t *testing.T, cs kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitRunningReady waits until want pods of the default namespace are
// Running and Ready (or finished) and returns them.
func waitRunningReady(t *testing.T, cs kubernetes.Interface, want int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	waitFor(t, 20*time.Second, fmt.Sprintf("%d pods running and ready", want), func() (bool, error) {
		list, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods = list.Items
		ready := 0
		for i := range pods {
			if pods[i].Status.Phase == corev1.PodRunning && podCondition(&pods[i], corev1.PodReady) == corev1.ConditionTrue {
				ready++
			}
		}
		return ready == want, nil
	})
	return pods
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
