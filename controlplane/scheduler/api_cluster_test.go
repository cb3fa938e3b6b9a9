package scheduler_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/describe"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/nodelifecycle"
	"skiff.dev/skiff/controlplane/scheduler"
	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/test/simnode"
)

// The tests in this file put the scheduler together with the rest of the
// control plane: the node lifecycle controller, the resource metrics API
// and the events kubectl describe reads.

// TestAPIDeadNode stops a node's heartbeat: the node lifecycle controller
// taints it and evicts its pods once their toleration runs out; meanwhile
// the scheduler sends nothing there and says why a pod fits nowhere; when
// the node comes back, the pods waiting for room go to it.
func TestAPIDeadNode(t *testing.T) {
	fast := nodelifecycle.Config{NodeMonitorGracePeriod: 2 * time.Second, NodeMonitorPeriod: 200 * time.Millisecond}
	c := apiCluster(t, simnode.ClusterConfig{
		Nodes:       simnode.Config{Count: 3, CPU: "2", LeaseInterval: 300 * time.Millisecond},
		Controllers: []controllers.Constructor{nodelifecycle.Constructor(fast)},
	})
	runScheduler(t, c, scheduler.Config{}, nil)
	const toleration = 2
	tolerate := withTolerations(
		v1.Toleration{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(toleration))},
		v1.Toleration{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(toleration))})
	// 6 x 500m over 3 x 2 CPU: least-allocated puts two on each node.
	var pods []*v1.Pod
	for i := range 6 {
		pods = append(pods, apiPod(fmt.Sprintf("a%d", i), "500m", "256Mi", tolerate))
	}
	createPods(t, c.Client, pods...)
	waitRunning(t, c.Client, 6)
	dead := getAPIPod(t, c.Client, "a0").Spec.NodeName
	onDead := map[string]bool{}
	for _, p := range listPods(t, c.Client) {
		if p.Spec.NodeName == dead {
			onDead[p.Name] = true
		}
	}

	c.Nodes.StopHeartbeat(dead)
	var tainted time.Time
	waitUntil(t, 15*time.Second, dead+" tainted unreachable", func() (bool, string) {
		n, err := c.Client.CoreV1().Nodes().Get(t.Context(), dead, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		noSchedule := false
		for _, taint := range n.Spec.Taints {
			if taint.Key == v1.TaintNodeUnreachable && taint.Effect == v1.TaintEffectNoSchedule {
				noSchedule = true
			}
			if taint.Key == v1.TaintNodeUnreachable && taint.Effect == v1.TaintEffectNoExecute && taint.TimeAdded != nil {
				tainted = taint.TimeAdded.Time
			}
		}
		return noSchedule && !tainted.IsZero(), fmt.Sprint(n.Spec.Taints)
	})

	// The live nodes have room for two pods each; the dead one would win
	// on free room, but is tainted.
	var after []*v1.Pod
	for i := range 4 {
		after = append(after, apiPod(fmt.Sprintf("b%d", i), "500m", "256Mi", tolerate))
	}
	createPods(t, c.Client, after...)
	for _, p := range settled(t, c.Client, 10*time.Second) {
		if strings.HasPrefix(p.Name, "b") && p.Spec.NodeName == dead {
			t.Errorf("%s bound to %s after it was tainted unreachable", p.Name, dead)
		}
		if strings.HasPrefix(p.Name, "b") && p.Spec.NodeName == "" {
			t.Errorf("%s not placed: %s", p.Name, unschedulableMessage(&p))
		}
	}

	// The dead node's pods are evicted once the toleration has run out
	// (the taint's timeAdded has whole seconds).
	waitUntil(t, 15*time.Second, "pods of "+dead+" evicted", func() (bool, string) {
		var left []string
		for _, p := range listPods(t, c.Client) {
			if onDead[p.Name] && p.DeletionTimestamp == nil {
				left = append(left, p.Name)
			}
		}
		return len(left) == 0, fmt.Sprint(left)
	})
	for _, p := range listPods(t, c.Client) {
		if onDead[p.Name] && p.DeletionTimestamp.Time.Before(tainted.Add(toleration*time.Second-time.Second)) {
			t.Errorf("%s evicted at %v, before its %ds toleration of the taint added at %v ran out", p.Name, p.DeletionTimestamp.Time, toleration, tainted)
		}
		if !onDead[p.Name] && p.DeletionTimestamp != nil {
			t.Errorf("%s on live node %s evicted", p.Name, p.Spec.NodeName)
		}
	}

	// Replacements fit nowhere while the node is dead (its evicted pods
	// are still terminating there, and it is tainted)...
	createPods(t, c.Client, apiPod("r0", "500m", "256Mi", tolerate), apiPod("r1", "500m", "256Mi", tolerate))
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu."
	waitUntil(t, 10*time.Second, "replacements reported unschedulable", func() (bool, string) {
		msg := unschedulableMessage(getAPIPod(t, c.Client, "r1"))
		return strings.HasPrefix(msg, want), msg
	})
	// ...and go to it once it is back: its pods finish terminating, its
	// taints go.
	c.Nodes.ResumeHeartbeat(dead)
	for _, name := range []string{"r0", "r1"} {
		waitUntil(t, 15*time.Second, name+" bound", func() (bool, string) {
			p := getAPIPod(t, c.Client, name)
			return p.Spec.NodeName != "", unschedulableMessage(p)
		})
		if n := getAPIPod(t, c.Client, name).Spec.NodeName; n != dead {
			t.Errorf("%s bound to %s, want %s, the only node with room", name, n, dead)
		}
	}
	checkCapacity(t, c.Client)
}

// TestAPIPreemption fills a node with pods of a low priority, then asks
// for room for a pod of a higher PriorityClass (admission turns the class
// into spec.priority): one victim is evicted with a Preempted event, the
// pod is nominated to the node and bound there once the victim is gone;
// the other pod stays. The classes are the built-in
// system-cluster-critical over no class (priority 0), and an operator's
// two classes.
func TestAPIPreemption(t *testing.T) {
	for _, c := range []struct {
		name      string
		classes   []*schedulingv1.PriorityClass
		low, high string
		want      int32
	}{
		{name: "built-in class", high: "system-cluster-critical", want: 2000000000},
		{name: "operator's classes", classes: []*schedulingv1.PriorityClass{
			{ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Value: 10},
			{ObjectMeta: metav1.ObjectMeta{Name: "online"}, Value: 1000, Description: "serves users"},
		}, low: "batch", high: "online", want: 1000},
	} {
		t.Run(c.name, func(t *testing.T) { testAPIPreemption(t, c.classes, c.low, c.high, c.want) })
	}
}

func testAPIPreemption(t *testing.T, classes []*schedulingv1.PriorityClass, low, high string, want int32) {
	c := apiCluster(t, simnode.ClusterConfig{Nodes: simnode.Config{Count: 1, CPU: "1", TerminationDelay: 300 * time.Millisecond}})
	for _, pc := range classes {
		if _, err := c.Client.SchedulingV1().PriorityClasses().Create(t.Context(), pc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create PriorityClass %s: %v", pc.Name, err)
		}
	}
	runScheduler(t, c, scheduler.Config{}, nil)
	class := func(name string) podOpt { return func(p *v1.Pod) { p.Spec.PriorityClassName = name } }
	createPods(t, c.Client, apiPod("low-0", "500m", "64Mi", class(low)), apiPod("low-1", "500m", "64Mi", class(low)))
	waitRunning(t, c.Client, 2)
	createPods(t, c.Client, apiPod("critical", "500m", "64Mi", class(high)))
	if p := getAPIPod(t, c.Client, "critical"); p.Spec.Priority == nil || *p.Spec.Priority != want {
		t.Fatalf("critical pod priority = %v, want %d from its class %s", p.Spec.Priority, want, high)
	}
	waitUntil(t, 15*time.Second, "critical bound", func() (bool, string) {
		p := getAPIPod(t, c.Client, "critical")
		return p.Spec.NodeName != "", fmt.Sprintf("nominated %q, %s", p.Status.NominatedNodeName, unschedulableMessage(p))
	})
	if n := getAPIPod(t, c.Client, "critical").Spec.NodeName; n != "sim-0" {
		t.Errorf("critical bound to %s", n)
	}
	var victims, kept []string
	for _, name := range []string{"low-0", "low-1"} {
		_, err := c.Client.CoreV1().Pods("default").Get(t.Context(), name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			victims = append(victims, name)
		case err == nil:
			kept = append(kept, name)
		default:
			t.Fatal(err)
		}
	}
	if len(victims) != 1 || len(kept) != 1 {
		t.Fatalf("victims %v, kept %v: want one of each", victims, kept)
	}
	waitUntil(t, 10*time.Second, "a Preempted event on the victim", func() (bool, string) {
		l, err := c.Client.CoreV1().Events("default").List(t.Context(), metav1.ListOptions{
			FieldSelector: fields.Set{"involvedObject.name": victims[0], "reason": "Preempted"}.AsSelector().String(),
		})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range l.Items {
			if strings.HasPrefix(e.Message, "Preempted by pod ") && strings.HasSuffix(e.Message, " on node sim-0") {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(l.Items), " events")
	})
	checkCapacity(t, c.Client)
}

// TestAPIObservedUsageSteersPlacement reports node usage through the
// resource metrics API (as agents do) to a server running its own
// scheduler, which reads the in-server store: new pods go to the node
// that really works least, though requests alone would spread them.
func TestAPIObservedUsageSteersPlacement(t *testing.T) {
	c := simnode.StartCluster(t, simnode.ClusterConfig{
		NoScheduler:   true,
		ServerOptions: []func(*server.Config){func(c *server.Config) { c.DisableScheduler = false }},
		Nodes:         simnode.Config{Count: 3},
	})
	ctx := t.Context()
	for node, use := range map[string][2]string{"sim-0": {"3600m", "28Gi"}, "sim-1": {"3000m", "20Gi"}, "sim-2": {"300m", "2Gi"}} {
		putNodeMetrics(t, c.Client, node, use[0], use[1])
	}
	var m metricsv1beta1.NodeMetrics
	if err := c.Client.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes/sim-0").Do(ctx).Into(&m); err != nil {
		t.Fatalf("get NodeMetrics: %v", err)
	}
	if cpu := m.Usage.Cpu(); cpu.MilliValue() != 3600 {
		t.Fatalf("sim-0 NodeMetrics usage cpu = %s, want 3600m", cpu)
	}

	// The server's scheduler reads usage when its term starts and every
	// 10 s after: wait for the first reading after the nodes registered.
	var acquired time.Time
	waitUntil(t, 10*time.Second, "the server's scheduler leads", func() (bool, string) {
		l, err := c.Client.CoordinationV1().Leases("kube-system").Get(ctx, scheduler.DefaultName, metav1.GetOptions{})
		if err != nil || l.Spec.AcquireTime == nil {
			return false, fmt.Sprint(err)
		}
		acquired = l.Spec.AcquireTime.Time
		return true, ""
	})
	time.Sleep(time.Until(acquired.Add(12 * time.Second)))

	for i := range 3 {
		name := fmt.Sprintf("p%d", i)
		createPods(t, c.Client, apiPod(name, "100m", "128Mi"))
		waitUntil(t, 10*time.Second, name+" bound", func() (bool, string) {
			return getAPIPod(t, c.Client, name).Spec.NodeName != "", ""
		})
		if n := getAPIPod(t, c.Client, name).Spec.NodeName; n != "sim-2" {
			t.Errorf("%s bound to %s, want sim-2, the idle node", name, n)
		}
	}
}

func putNodeMetrics(t *testing.T, cs kubernetes.Interface, node, cpu, mem string) {
	t.Helper()
	m := metricsv1beta1.NodeMetrics{
		TypeMeta:   metav1.TypeMeta{APIVersion: metricsv1beta1.SchemeGroupVersion.String(), Kind: "NodeMetrics"},
		ObjectMeta: metav1.ObjectMeta{Name: node},
		Timestamp:  metav1.Now(),
		Window:     metav1.Duration{Duration: 10 * time.Second},
		Usage:      v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem)},
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	err = cs.CoreV1().RESTClient().Put().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes", node).
		SetHeader("Content-Type", "application/json").Body(body).Do(t.Context()).Error()
	if err != nil {
		t.Fatalf("put NodeMetrics of %s: %v", node, err)
	}
}

// TestAPIEventsInDescribe checks what `kubectl describe pod` shows of a
// pod that fits nowhere, then fits: the scheduler writes events.k8s.io/v1
// events, kubectl reads core/v1 ones by field selector.
func TestAPIEventsInDescribe(t *testing.T) {
	c := apiCluster(t, simnode.ClusterConfig{Nodes: simnode.Config{Count: 3, CPU: "1"}})
	runScheduler(t, c, scheduler.Config{}, nil)
	createPods(t, c.Client, apiPod("huge", "2", "1Gi"))
	pod := getAPIPod(t, c.Client, "huge")
	const msg = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."

	// The field selector kubectl describe uses.
	sel := fields.Set{
		"involvedObject.name": "huge", "involvedObject.namespace": "default",
		"involvedObject.kind": "Pod", "involvedObject.uid": string(pod.UID),
	}.AsSelector().String()
	var ev v1.Event
	waitUntil(t, 10*time.Second, "a FailedScheduling event through core/v1", func() (bool, string) {
		l, err := c.Client.CoreV1().Events("default").List(t.Context(), metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range l.Items {
			if e.Reason == "FailedScheduling" {
				ev = e
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(l.Items))
	})
	if ev.Type != v1.EventTypeWarning || ev.Message != msg || ev.ReportingController != scheduler.DefaultName || ev.Action != "Scheduling" {
		t.Errorf("FailedScheduling event: type %q, message %q, reportingController %q, action %q", ev.Type, ev.Message, ev.ReportingController, ev.Action)
	}
	out := describePod(t, c.Client, "huge")
	for _, want := range []string{"Status:           Pending", "PodScheduled      False", "Warning  FailedScheduling", "default-scheduler  " + msg} {
		if !containsFields(out, want) {
			t.Errorf("kubectl describe pod huge lacks %q:\n%s", want, out)
		}
	}

	if _, err := simnode.Start(t.Context(), c.Client, simnode.Config{Count: 1, Prefix: "large", CPU: "4", LeaseInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "a Scheduled event in describe", func() (bool, string) {
		out = describePod(t, c.Client, "huge")
		return containsFields(out, "Normal   Scheduled") && containsFields(out, "default-scheduler  Successfully assigned default/huge to large-0"), out
	})
	if !containsFields(out, "PodScheduled      True") {
		t.Errorf("kubectl describe pod huge, bound, lacks PodScheduled True:\n%s", out)
	}
}

// describePod is `kubectl describe pod name` in the default namespace.
func describePod(t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	d := &describe.PodDescriber{Interface: cs}
	out, err := d.Describe("default", name, describe.DescriberSettings{ShowEvents: true, ChunkSize: 500})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return out
}

// containsFields tells whether some line of out holds the words of want
// in order, however they are aligned.
func containsFields(out, want string) bool {
	w := strings.Join(strings.Fields(want), " ")
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(strings.Join(strings.Fields(line), " "), w) {
			return true
		}
	}
	return false
}

// waitRunning waits until n pods of the default namespace are Running.
func waitRunning(t *testing.T, cs kubernetes.Interface, n int) {
	t.Helper()
	waitUntil(t, 20*time.Second, fmt.Sprintf("%d pods running", n), func() (bool, string) {
		running := 0
		for _, p := range listPods(t, cs) {
			if p.Status.Phase == v1.PodRunning {
				running++
			}
		}
		return running == n, fmt.Sprint(running)
	})
}
