package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"

	"skiff.dev/skiff/controlplane/scheduler"
)

var podsGVR = v1.SchemeGroupVersion.WithResource("pods")

// newClient is a fake clientset whose pods/binding sets spec.nodeName, as
// the apiserver does. bindHook, if set, runs first and may fail the bind.
func newClient(t *testing.T, bindHook func(b *v1.Binding) error) *fake.Clientset {
	t.Helper()
	c := fake.NewClientset()
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(k8stesting.CreateAction)
		if !ok || a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := ca.GetObject().(*v1.Binding)
		if bindHook != nil {
			if err := bindHook(b); err != nil {
				return true, nil, err
			}
		}
		obj, err := c.Tracker().Get(podsGVR, b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*v1.Pod).DeepCopy()
		if p.Spec.NodeName != "" {
			return true, nil, fmt.Errorf("pod %s is already assigned to %s", p.Name, p.Spec.NodeName)
		}
		p.Spec.NodeName = b.Target.Name
		return true, b, c.Tracker().Update(podsGVR, p, p.Namespace)
	})
	return c
}

func newNode(name, cpu string) *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}},
		Status: v1.NodeStatus{Allocatable: v1.ResourceList{
			v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("8Gi"), v1.ResourcePods: resource.MustParse("110"),
		}},
	}
}

func newPod(name, cpu string, opts ...func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), CreationTimestamp: metav1.Now()},
		Spec: v1.PodSpec{
			SchedulerName: scheduler.DefaultName,
			Containers: []v1.Container{{Name: "c", Image: "img", Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)},
			}}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func create(t *testing.T, c kubernetes.Interface, objs ...runtime.Object) {
	t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *v1.Node:
			_, err = c.CoreV1().Nodes().Create(ctx, o, metav1.CreateOptions{})
		case *v1.Pod:
			_, err = c.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// logCounter counts log records by message.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[r.Message]++
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }
func (l *logCounter) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[msg]
}

// start runs a scheduler on c until the test ends.
func start(t *testing.T, c kubernetes.Interface, cfg scheduler.Config) (*logCounter, context.CancelFunc) {
	t.Helper()
	logs := &logCounter{counts: map[string]int{}}
	cfg.Client = c
	cfg.Logger = slog.New(logs)
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff, cfg.MaxBackoff = 50*time.Millisecond, 200*time.Millisecond
	}
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Start: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return logs, stop
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getPod(t *testing.T, c kubernetes.Interface, name string) *v1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitBound(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	var node string
	eventually(t, name+" bound", func() (bool, string) {
		node = getPod(t, c, name).Spec.NodeName
		return node != "", "unbound"
	})
	return node
}

func events(t *testing.T, c kubernetes.Interface, pod, reason string) []eventsv1.Event {
	t.Helper()
	l, err := c.EventsV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range l.Items {
		if e.Regarding.Name == pod && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestPodsAreBound(t *testing.T) {
	c := newClient(t, nil)
	create(t, c, newNode("a", "4"), newNode("b", "4"))
	start(t, c, scheduler.Config{})
	var pods []runtime.Object
	for i := range 6 {
		pods = append(pods, newPod(fmt.Sprintf("p%d", i), "1"))
	}
	create(t, c, pods...)
	perNode := map[string]int{}
	for i := range 6 {
		perNode[waitBound(t, c, fmt.Sprintf("p%d", i))]++
	}
	// Least-allocated spreads them.
	if perNode["a"] != 3 || perNode["b"] != 3 {
		t.Fatalf("pods per node %v, want 3 and 3", perNode)
	}
	eventually(t, "Scheduled event", func() (bool, string) {
		ev := events(t, c, "p0", "Scheduled")
		if len(ev) == 0 {
			return false, "none"
		}
		return strings.HasPrefix(ev[0].Note, "Successfully assigned default/p0 to "), ev[0].Note
	})
}

func TestPodsOfOtherSchedulersAreLeftAlone(t *testing.T) {
	c := newClient(t, nil)
	create(t, c, newNode("a", "4"))
	start(t, c, scheduler.Config{})
	create(t, c,
		newPod("other", "1", func(p *v1.Pod) { p.Spec.SchedulerName = "other-scheduler" }),
		newPod("gated", "1", func(p *v1.Pod) { p.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: "wait"}} }),
		newPod("mine", "1", func(p *v1.Pod) { p.Spec.SchedulerName = "" }),
	)
	waitBound(t, c, "mine")
	time.Sleep(200 * time.Millisecond)
	for _, name := range []string{"other", "gated"} {
		if n := getPod(t, c, name).Spec.NodeName; n != "" {
			t.Fatalf("%s was bound to %s", name, n)
		}
	}
}

func TestUnschedulablePodWaitsForANode(t *testing.T) {
	c := newClient(t, nil)
	create(t, c, newNode("small", "1"))
	logs, _ := start(t, c, scheduler.Config{})
	create(t, c, newPod("big", "2"))

	// The preemption verdict follows, word for word kube-scheduler's.
	const msg = "0/1 nodes are available: 1 Insufficient cpu. " +
		"preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
	eventually(t, "FailedScheduling event", func() (bool, string) {
		ev := events(t, c, "big", "FailedScheduling")
		if len(ev) == 0 {
			return false, "none"
		}
		return ev[0].Note == msg && ev[0].Type == v1.EventTypeWarning, ev[0].Note
	})
	eventually(t, "PodScheduled=False", func() (bool, string) {
		for _, cond := range getPod(t, c, "big").Status.Conditions {
			if cond.Type == v1.PodScheduled {
				ok := cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable && cond.Message == msg
				return ok, fmt.Sprintf("%+v", cond)
			}
		}
		return false, "no condition"
	})

	// No retries in a loop while nothing changes (backoff is 50ms here).
	before := logs.count("pod not scheduled")
	time.Sleep(time.Second)
	if n := logs.count("pod not scheduled") - before; n > 0 {
		t.Fatalf("%d retries without any cluster change", n)
	}
	// A status-only node update (heartbeat) does not wake it either.
	n := newNode("small", "1")
	n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := logs.count("pod not scheduled") - before; n > 0 {
		t.Fatalf("%d retries after a heartbeat", n)
	}

	create(t, c, newNode("large", "4"))
	if node := waitBound(t, c, "big"); node != "large" {
		t.Fatalf("bound to %s", node)
	}
}

// Pods placed but not yet bound (assumed) take their room at once: with a
// slow bind, three 1-CPU pods for a 2-CPU node bind two, not three. Once
// the binds are confirmed by the informer they are not counted twice.
func TestAssumedPodsCountOnce(t *testing.T) {
	c := newClient(t, func(*v1.Binding) error { time.Sleep(100 * time.Millisecond); return nil })
	create(t, c, newNode("a", "3"))
	start(t, c, scheduler.Config{})
	create(t, c, newPod("p1", "1"), newPod("p2", "1"))
	waitBound(t, c, "p1")
	waitBound(t, c, "p2")
	time.Sleep(100 * time.Millisecond) // the informer confirms both binds

	// 1 CPU is left: counted twice, the assumed-and-confirmed pods would
	// leave none.
	create(t, c, newPod("p3", "1"), newPod("p4", "1"))
	eventually(t, "p3 or p4 bound, the other unschedulable", func() (bool, string) {
		b3, b4 := getPod(t, c, "p3").Spec.NodeName != "", getPod(t, c, "p4").Spec.NodeName != ""
		failed := len(events(t, c, "p3", "FailedScheduling")) + len(events(t, c, "p4", "FailedScheduling"))
		return b3 != b4 && failed > 0, fmt.Sprintf("p3 bound %v, p4 bound %v, failures %d", b3, b4, failed)
	})
}

func TestFailedBindIsRetried(t *testing.T) {
	var fails atomic.Int32
	c := newClient(t, func(b *v1.Binding) error {
		if b.Name == "flaky" && fails.Add(1) == 1 {
			return errors.New("etcd hiccup")
		}
		return nil
	})
	create(t, c, newNode("a", "1"))
	start(t, c, scheduler.Config{})
	create(t, c, newPod("flaky", "1"))
	waitBound(t, c, "flaky")
	if len(events(t, c, "flaky", "FailedScheduling")) == 0 {
		t.Fatal("no FailedScheduling event for the rejected binding")
	}
	// The failed assumption was forgotten: the node is full with flaky
	// alone, so another 1-CPU pod does not fit.
	create(t, c, newPod("next", "1"))
	eventually(t, "next unschedulable", func() (bool, string) {
		return len(events(t, c, "next", "FailedScheduling")) > 0, ""
	})
}

func TestPreemption(t *testing.T) {
	c := newClient(t, nil)
	low := newPod("low", "2", func(p *v1.Pod) { p.Spec.NodeName = "a"; p.Spec.Priority = ptr(int32(1)) })
	create(t, c, newNode("a", "2"), low)
	start(t, c, scheduler.Config{})
	create(t, c, newPod("urgent", "1", func(p *v1.Pod) { p.Spec.Priority = ptr(int32(1000)) }))
	eventually(t, "victim deleted", func() (bool, string) {
		_, err := c.CoreV1().Pods("default").Get(context.Background(), "low", metav1.GetOptions{})
		return err != nil, fmt.Sprint(err)
	})
	if node := waitBound(t, c, "urgent"); node != "a" {
		t.Fatalf("urgent bound to %s", node)
	}
	if p := getPod(t, c, "urgent"); p.Status.NominatedNodeName != "a" {
		t.Fatalf("nominated node %q, want a", p.Status.NominatedNodeName)
	}
}

type usage map[string][2]int64

func (u usage) NodeUsage(node string) (int64, int64, bool) {
	f, ok := u[node]
	return f[0], f[1], ok
}

func TestObservedUsageSteersPods(t *testing.T) {
	c := newClient(t, nil)
	create(t, c, newNode("a", "4"), newNode("b", "4"))
	start(t, c, scheduler.Config{Usage: usage{"a": {3800, 7 << 30}, "b": {200, 1 << 30}}})
	create(t, c, newPod("p", "100m"))
	if node := waitBound(t, c, "p"); node != "b" {
		t.Fatalf("bound to busy node %s", node)
	}
}

// taggedClient records which scheduler instance posted each binding.
type taggedClient struct {
	kubernetes.Interface
	tag   string
	binds *sync.Map // pod name -> tag
}

// IsWatchListSemanticsUnSupported tells client-go's informers that the fake
// underneath cannot stream initial events (the fake says so itself, but the
// wrapper hides it).
func (c taggedClient) IsWatchListSemanticsUnSupported() bool { return true }

func (c taggedClient) CoreV1() corev1client.CoreV1Interface {
	return taggedCore{c.Interface.CoreV1(), c}
}

type taggedCore struct {
	corev1client.CoreV1Interface
	c taggedClient
}

func (t taggedCore) Pods(ns string) corev1client.PodInterface {
	return taggedPods{t.CoreV1Interface.Pods(ns), t.c}
}

type taggedPods struct {
	corev1client.PodInterface
	c taggedClient
}

func (p taggedPods) Bind(ctx context.Context, b *v1.Binding, opts metav1.CreateOptions) error {
	if prev, loaded := p.c.binds.LoadOrStore(b.Name, p.c.tag); loaded {
		return fmt.Errorf("%s bound %s already bound by %s", p.c.tag, b.Name, prev)
	}
	return p.PodInterface.Bind(ctx, b, opts)
}

func TestLeaderElectionLetsOneSchedule(t *testing.T) {
	c := newClient(t, nil)
	create(t, c, newNode("a", "8"))
	binds := &sync.Map{}
	le := func(id string) scheduler.LeaderElection {
		return scheduler.LeaderElection{Enabled: true, Identity: id, LeaseDuration: time.Second, RenewDeadline: 500 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}
	}
	_, stopOne := start(t, taggedClient{c, "one", binds}, scheduler.Config{LeaderElection: le("one")})
	eventually(t, "one leads", func() (bool, string) {
		l, err := c.CoordinationV1().Leases("kube-system").Get(context.Background(), scheduler.DefaultName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "one", fmt.Sprint(l.Spec.HolderIdentity)
	})
	start(t, taggedClient{c, "two", binds}, scheduler.Config{LeaderElection: le("two")})

	for i := range 4 {
		create(t, c, newPod(fmt.Sprintf("first-%d", i), "100m"))
	}
	for i := range 4 {
		waitBound(t, c, fmt.Sprintf("first-%d", i))
	}
	binds.Range(func(k, v any) bool {
		if v != "one" {
			t.Errorf("%s bound by %s, which does not lead", k, v)
		}
		return true
	})

	// The leader stops and releases the Lease; the other takes over.
	stopOne()
	create(t, c, newPod("second", "100m"))
	waitBound(t, c, "second")
	if by, _ := binds.Load("second"); by != "two" {
		t.Fatalf("second bound by %v, want two", by)
	}
}

func ptr[T any](v T) *T { return &v }
