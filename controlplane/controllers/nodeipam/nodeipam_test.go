package nodeipam_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/nodeipam"
	"skiff.dev/skiff/test/simnode"
)

func TestCIDRsUniqueAndPodsUseThem(t *testing.T) {
	c := simnode.StartCluster(t, simnode.ClusterConfig{Nodes: simnode.Config{Count: 30}})
	ctrltest.StartManager(t, c.Server.Config, nodeipam.Constructor(nodeipam.Config{}))
	cidrs := waitCIDRs(t, c.Client, 30)
	cluster := netip.MustParsePrefix("10.42.0.0/16")
	seen := map[string]string{}
	for node, cidr := range cidrs {
		p := netip.MustParsePrefix(cidr)
		if p.Bits() != 24 || !cluster.Contains(p.Addr()) {
			t.Errorf("node %s has %s, not a /24 of %s", node, p, cluster)
		}
		if other, dup := seen[cidr]; dup {
			t.Errorf("nodes %s and %s share %s", node, other, cidr)
		}
		seen[cidr] = node
	}
	n, err := c.Client.CoreV1().Nodes().Get(t.Context(), "sim-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		t.Errorf("podCIDRs %v do not match podCIDR %s", n.Spec.PodCIDRs, n.Spec.PodCIDR)
	}

	// Pods take their addresses from their node's CIDR.
	for i := range 10 {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		if _, err := c.Client.CoreV1().Pods("default").Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ctrltest.WaitFor(t, 20*time.Second, "pods running", func() bool {
		list, err := c.Client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, p := range list.Items {
			if p.Status.PodIP == "" {
				continue
			}
			running++
			if !netip.MustParsePrefix(cidrs[p.Spec.NodeName]).Contains(netip.MustParseAddr(p.Status.PodIP)) {
				t.Fatalf("pod %s on %s has %s, outside the node's %s", p.Name, p.Spec.NodeName, p.Status.PodIP, cidrs[p.Spec.NodeName])
			}
		}
		return running == 10
	})
}

// TestExhaustionAndReuse splits a /22 into four /24s for five nodes: the
// fifth gets an event and NetworkUnavailable, and the CIDR of a deleted
// node once it is released.
func TestExhaustionAndReuse(t *testing.T) {
	cfg := nodeipam.Config{ClusterCIDR: netip.MustParsePrefix("10.42.0.0/22"), NodeMaskSize: 24}
	c := simnode.StartCluster(t, simnode.ClusterConfig{NoScheduler: true, Nodes: simnode.Config{Count: 4}})
	ctrltest.StartManager(t, c.Server.Config, nodeipam.Constructor(cfg))
	before := waitCIDRs(t, c.Client, 4)
	if _, err := c.Nodes.Add(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	ctrltest.WaitFor(t, 10*time.Second, "sim-4 NetworkUnavailable", func() bool {
		cond := nodeCondition(ctrltest.GetNode(t, c.Client, "sim-4"), corev1.NodeNetworkUnavailable)
		return cond != nil && cond.Status == corev1.ConditionTrue && cond.Reason == nodeipam.ReasonNoCIDR
	})
	ctrltest.WaitFor(t, 10*time.Second, "CIDRNotAvailable event", func() bool {
		events, err := c.Client.CoreV1().Events("").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events.Items {
			if e.Reason == nodeipam.EventCIDRNotAvail && e.InvolvedObject.Name == "sim-4" {
				return true
			}
		}
		return false
	})
	if cidr := ctrltest.GetNode(t, c.Client, "sim-4").Spec.PodCIDR; cidr != "" {
		t.Fatalf("fifth node of four CIDRs got %s", cidr)
	}

	if err := c.Nodes.Delete("sim-2"); err != nil {
		t.Fatal(err)
	}
	// The CIDR and the condition are two writes: wait for both.
	ctrltest.Eventually(t, 10*time.Second, "sim-4 given the released CIDR, NetworkUnavailable False", func() (bool, string, error) {
		n := ctrltest.GetNode(t, c.Client, "sim-4")
		cond := nodeCondition(n, corev1.NodeNetworkUnavailable)
		return n.Spec.PodCIDR == before["sim-2"] && cond != nil && cond.Status == corev1.ConditionFalse,
			fmt.Sprintf("podCIDR %q, NetworkUnavailable %+v", n.Spec.PodCIDR, cond), nil
	})
	after := waitCIDRs(t, c.Client, 4)
	for _, n := range []string{"sim-0", "sim-1", "sim-3"} {
		if after[n] != before[n] {
			t.Errorf("%s changed from %s to %s", n, before[n], after[n])
		}
	}
}

// TestRestartKeepsCIDRs stops the controller, adds nodes (one with a CIDR
// of its own) and starts another: nothing assigned changes, and the new
// nodes get CIDRs nobody has.
func TestRestartKeepsCIDRs(t *testing.T) {
	cfg := nodeipam.Config{ClusterCIDR: netip.MustParsePrefix("10.42.0.0/20"), NodeMaskSize: 24}
	c := simnode.StartCluster(t, simnode.ClusterConfig{NoScheduler: true, Nodes: simnode.Config{Count: 6}})
	mgr := ctrltest.StartManager(t, c.Server.Config, nodeipam.Constructor(cfg))
	before := waitCIDRs(t, c.Client, 6)
	mgr.Stop()

	if _, err := c.Nodes.Add(t.Context(), 6); err != nil {
		t.Fatal(err)
	}
	// sim-6 brings a CIDR of the range that the new controller must not
	// give again; take the one after the highest in use.
	var highest byte
	for _, cidr := range before {
		highest = max(highest, netip.MustParsePrefix(cidr).Addr().As4()[2])
	}
	own := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 42, highest + 1, 0}), 24)
	n := ctrltest.GetNode(t, c.Client, "sim-6")
	n.Spec.PodCIDR, n.Spec.PodCIDRs = own.String(), []string{own.String()}
	if _, err := c.Client.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	mgr.Start()
	after := waitCIDRs(t, c.Client, 12)
	for node, cidr := range before {
		if after[node] != cidr {
			t.Errorf("%s changed from %s to %s across restart", node, cidr, after[node])
		}
	}
	if after["sim-6"] != own.String() {
		t.Errorf("sim-6 lost its own CIDR %s: %s", own, after["sim-6"])
	}
	seen := map[string]string{}
	for node, cidr := range after {
		if other, dup := seen[cidr]; dup {
			t.Errorf("nodes %s and %s share %s", node, other, cidr)
		}
		seen[cidr] = node
	}
}

// waitCIDRs waits until want nodes have a pod CIDR and returns them by
// node.
func waitCIDRs(t *testing.T, cs kubernetes.Interface, want int) map[string]string {
	t.Helper()
	cidrs := map[string]string{}
	ctrltest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d nodes with pod CIDRs", want), func() bool {
		list, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		clear(cidrs)
		for _, n := range list.Items {
			if n.Spec.PodCIDR != "" {
				cidrs[n.Name] = n.Spec.PodCIDR
			}
		}
		return len(cidrs) == want
	})
	return cidrs
}

func nodeCondition(n *corev1.Node, typ corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == typ {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
