package nodelifecycle_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/nodelifecycle"
	"skiff.dev/skiff/test/simnode"
)

// fast are test periods: a node is Unknown 2 s after its last heartbeat.
var fast = nodelifecycle.Config{NodeMonitorGracePeriod: 2 * time.Second, NodeMonitorPeriod: 200 * time.Millisecond, OrphanQuarantine: 2 * time.Second}

// startCluster starts three nodes, no scheduler, and the controller.
func startCluster(t *testing.T) (*simnode.Cluster, *ctrltest.Manager) {
	c := simnode.StartCluster(t, simnode.ClusterConfig{NoScheduler: true, Nodes: simnode.Config{Count: 3, LeaseInterval: 300 * time.Millisecond}})
	return c, ctrltest.StartManager(t, c.Server.Config, nodelifecycle.Constructor(fast))
}

func TestDeadNodeTaintedAndPodsEvicted(t *testing.T) {
	c, _ := startCluster(t)
	ctx := t.Context()
	// Admission gives every pod 300 s tolerations of unreachable nodes
	// unless it brings its own: a zero one is no toleration at all.
	createPod(t, c.Client, "intolerant", "sim-0", ptr(int64(0)))
	createPod(t, c.Client, "tolerates-2s", "sim-0", ptr(int64(2)))
	createPod(t, c.Client, "tolerates-forever", "sim-0", nil, corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	createPod(t, c.Client, "elsewhere", "sim-1", nil)
	ctrltest.WaitFor(t, 10*time.Second, "pods ready", func() bool { return countReady(t, c.Client) == 4 })

	c.Nodes.StopHeartbeat("sim-0")
	// The last heartbeat is the Lease's last renewal, which may come a
	// moment before StopHeartbeat.
	lease, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "sim-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := lease.Spec.RenewTime.Time
	ctrltest.WaitFor(t, 10*time.Second, "sim-0 Unknown", func() bool {
		return readyStatus(ctrltest.GetNode(t, c.Client, "sim-0")) == corev1.ConditionUnknown
	})
	if d := time.Since(stopped); d < fast.NodeMonitorGracePeriod {
		t.Errorf("sim-0 Unknown %v after its last heartbeat, before the grace period of %v", d, fast.NodeMonitorGracePeriod)
	}
	node := ctrltest.GetNode(t, c.Client, "sim-0")
	for _, cond := range node.Status.Conditions {
		if cond.Status != corev1.ConditionUnknown || cond.Reason != "NodeStatusUnknown" {
			t.Errorf("sim-0 condition %s = %s (%s), want Unknown (NodeStatusUnknown)", cond.Type, cond.Status, cond.Reason)
		}
	}
	ctrltest.WaitFor(t, 5*time.Second, "sim-0 tainted unreachable", func() bool {
		return fmt.Sprint(taintKeys(ctrltest.GetNode(t, c.Client, "sim-0"))) ==
			"[node.kubernetes.io/unreachable:NoExecute node.kubernetes.io/unreachable:NoSchedule]"
	})
	tainted := time.Now()
	for _, n := range []string{"sim-1", "sim-2"} {
		if node := ctrltest.GetNode(t, c.Client, n); readyStatus(node) != corev1.ConditionTrue || len(node.Spec.Taints) > 0 {
			t.Errorf("healthy %s: Ready %s, taints %v", n, readyStatus(node), node.Spec.Taints)
		}
	}

	// A pod with no toleration goes at once, one tolerating 2 s after 2 s,
	// one tolerating forever stays; all of the node's pods are not Ready.
	ctrltest.WaitFor(t, 5*time.Second, "intolerant evicted", func() bool { return getPod(t, c.Client, "intolerant").DeletionTimestamp != nil })
	if cond := podCondition(getPod(t, c.Client, "intolerant"), corev1.DisruptionTarget); cond == nil || cond.Reason != "DeletionByTaintManager" {
		t.Errorf("evicted pod's DisruptionTarget condition = %+v", cond)
	}
	ctrltest.WaitFor(t, 5*time.Second, "tolerates-2s evicted", func() bool { return getPod(t, c.Client, "tolerates-2s").DeletionTimestamp != nil })
	if d := time.Since(tainted); d < 1500*time.Millisecond {
		t.Errorf("tolerates-2s evicted %v after the taint, before its toleration ran out", d)
	}
	time.Sleep(time.Second)
	forever := getPod(t, c.Client, "tolerates-forever")
	if forever.DeletionTimestamp != nil {
		t.Error("a pod tolerating the taint forever was evicted")
	}
	if cond := podCondition(forever, corev1.PodReady); cond == nil || cond.Status != corev1.ConditionFalse {
		t.Errorf("pod on an Unknown node: Ready = %+v, want False", cond)
	}
	if cond := podCondition(getPod(t, c.Client, "elsewhere"), corev1.PodReady); cond.Status != corev1.ConditionTrue || getPod(t, c.Client, "elsewhere").DeletionTimestamp != nil {
		t.Error("the pod on a healthy node was touched")
	}

	// The node comes back: Ready, untainted; its pods finish deleting or
	// report Ready again.
	c.Nodes.ResumeHeartbeat("sim-0")
	ctrltest.WaitFor(t, 5*time.Second, "sim-0 back", func() bool {
		node := ctrltest.GetNode(t, c.Client, "sim-0")
		return readyStatus(node) == corev1.ConditionTrue && len(node.Spec.Taints) == 0
	})
	ctrltest.WaitFor(t, 5*time.Second, "pods settled", func() bool {
		_, err := c.Client.CoreV1().Pods("default").Get(ctx, "intolerant", metav1.GetOptions{})
		return apierrors.IsNotFound(err) && countReady(t, c.Client) == 2
	})
}

func TestDeletedNodePodsRemoved(t *testing.T) {
	c, _ := startCluster(t)
	ctx := t.Context()
	createPod(t, c.Client, "a", "sim-1", nil)
	createPod(t, c.Client, "b", "sim-1", nil)
	createPod(t, c.Client, "keep", "sim-2", nil)
	ctrltest.WaitFor(t, 10*time.Second, "pods ready", func() bool { return countReady(t, c.Client) == 3 })
	// A dead node's terminating pod goes too.
	c.Nodes.StopHeartbeat("sim-1")
	if err := c.Client.CoreV1().Pods("default").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Nodes.Delete("sim-1"); err != nil {
		t.Fatal(err)
	}
	ctrltest.WaitFor(t, 5*time.Second, "pods of sim-1 removed", func() bool { return len(listPods(t, c.Client)) == 1 })
	if pods := listPods(t, c.Client); pods[0].Name != "keep" {
		t.Errorf("left %s, want keep", pods[0].Name)
	}

	// A pod bound to a node that never registers goes after the
	// quarantine, not before.
	created := time.Now()
	createPod(t, c.Client, "ghost", "no-such-node", nil)
	ctrltest.WaitFor(t, 10*time.Second, "ghost removed", func() bool { return len(listPods(t, c.Client)) == 1 })
	if d := time.Since(created); d < fast.OrphanQuarantine-time.Second {
		t.Errorf("pod of an unknown node removed after %v, within its quarantine", d)
	}
}

// TestRestartChangesNothing stops the controller after it tainted a dead
// node and starts another: the node's conditions and taints stay as they
// were (timeAdded included), healthy nodes stay untouched, and a pending
// eviction keeps its deadline instead of starting over.
func TestRestartChangesNothing(t *testing.T) {
	c, mgr := startCluster(t)
	const toleration = 4 * time.Second
	createPod(t, c.Client, "tolerates", "sim-0", ptr(int64(toleration/time.Second)))
	createPod(t, c.Client, "healthy", "sim-1", nil)
	ctrltest.WaitFor(t, 10*time.Second, "pods ready", func() bool { return countReady(t, c.Client) == 2 })
	c.Nodes.StopHeartbeat("sim-0")
	ctrltest.WaitFor(t, 10*time.Second, "sim-0 tainted", func() bool { return len(ctrltest.GetNode(t, c.Client, "sim-0").Spec.Taints) == 2 })
	before := ctrltest.GetNode(t, c.Client, "sim-0")

	// Restart well into the toleration: an eviction timer that started
	// over would fire toleration after the restart, not before.
	time.Sleep(2500 * time.Millisecond)
	mgr.Stop()
	restarted := time.Now()
	mgr.Start()
	time.Sleep(time.Second) // five monitor periods of the new controller

	after := ctrltest.GetNode(t, c.Client, "sim-0")
	if b, a := fmt.Sprint(before.Spec.Taints), fmt.Sprint(after.Spec.Taints); b != a {
		t.Errorf("taints changed across restart:\n%s\n%s", b, a)
	}
	if b, a := fmt.Sprint(before.Status.Conditions), fmt.Sprint(after.Status.Conditions); b != a {
		t.Errorf("conditions changed across restart:\n%s\n%s", b, a)
	}
	for _, n := range []string{"sim-1", "sim-2"} {
		if node := ctrltest.GetNode(t, c.Client, n); readyStatus(node) != corev1.ConditionTrue || len(node.Spec.Taints) > 0 {
			t.Errorf("healthy %s after restart: Ready %s, taints %v", n, readyStatus(node), node.Spec.Taints)
		}
	}
	ctrltest.WaitFor(t, 10*time.Second, "tolerates evicted", func() bool { return getPod(t, c.Client, "tolerates").DeletionTimestamp != nil })
	var taintedAt *metav1.Time
	for _, taint := range before.Spec.Taints {
		if taint.Effect == corev1.TaintEffectNoExecute {
			taintedAt = taint.TimeAdded
		}
	}
	if d := time.Since(restarted); d > toleration-500*time.Millisecond {
		t.Errorf("evicted %v after the restart: the toleration (%v from the taint at %v) started over", d, toleration, taintedAt)
	}
	if p := getPod(t, c.Client, "healthy"); p.DeletionTimestamp != nil || podCondition(p, corev1.PodReady).Status != corev1.ConditionTrue {
		t.Error("pod on a healthy node touched across restart")
	}
}

func createPod(t *testing.T, cs kubernetes.Interface, name, node string, unreachableSeconds *int64, tolerations ...corev1.Toleration) {
	t.Helper()
	if unreachableSeconds != nil {
		tolerations = append(tolerations, corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: unreachableSeconds})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: node, Tolerations: tolerations,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func listPods(t *testing.T, cs kubernetes.Interface) []corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func countReady(t *testing.T, cs kubernetes.Interface) int {
	t.Helper()
	n := 0
	for _, p := range listPods(t, cs) {
		if c := podCondition(&p, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

func getPod(t *testing.T, cs kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func podCondition(p *corev1.Pod, typ corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// taintKeys lists a node's taints as key:effect, sorted.
func taintKeys(n *corev1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	slices.Sort(out)
	return out
}

func ptr[T any](v T) *T { return &v }
