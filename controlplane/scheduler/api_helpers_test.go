package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/controlplane/scheduler"
	"skiff.dev/skiff/test/simnode"
)

// This file holds the helpers of the tests against a real apiserver with
// simulated nodes (api_test.go).

// apiCluster starts a server and simulated nodes without a scheduler:
// each test runs its own.
func apiCluster(t *testing.T, cfg simnode.ClusterConfig) *simnode.Cluster {
	t.Helper()
	cfg.NoScheduler = true
	if cfg.Nodes.LeaseInterval == 0 {
		cfg.Nodes.LeaseInterval = time.Second
	}
	return simnode.StartCluster(t, cfg)
}

// runScheduler runs a scheduler against the cluster's server until the
// test ends or stop is called; wrap, if set, wraps its HTTP transport.
// Unset backoffs are short, so that retries show within a test.
func runScheduler(t *testing.T, c *simnode.Cluster, cfg scheduler.Config, wrap func(http.RoundTripper) http.RoundTripper) (stop func()) {
	t.Helper()
	rc := rest.CopyConfig(c.Server.Config)
	rc.QPS, rc.Burst = -1, 0
	if wrap != nil {
		rc.Wrap(wrap)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Client = cs
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff, cfg.MaxBackoff = 100*time.Millisecond, time.Second
	}
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("scheduler Start: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("scheduler did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

type podOpt func(*v1.Pod)

// apiPod is a pending pod of the default namespace asking for cpu and
// memory.
func apiPod(name, cpu, mem string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem)},
		}}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withLabels(kv ...string) podOpt {
	return func(p *v1.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

// withAntiAffinity keeps the pod off nodes (hostname) running pods
// labelled app=app.
func withAntiAffinity(app string) podOpt {
	return func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				TopologyKey:   v1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			}},
		}}
	}
}

// withZoneSpread spreads the pods labelled app=app over zones, maxSkew 1,
// DoNotSchedule.
func withZoneSpread(app string) podOpt {
	return func(p *v1.Pod) {
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		}}
	}
}

func withTolerations(tols ...v1.Toleration) podOpt {
	return func(p *v1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, tols...) }
}

// tolerates tells whether one of the pod's tolerations matches taint.
func tolerates(p *v1.Pod, taint v1.Taint) bool {
	for _, t := range p.Spec.Tolerations {
		if t.Key == taint.Key && (t.Effect == "" || t.Effect == taint.Effect) &&
			(t.Operator == v1.TolerationOpExists || t.Value == taint.Value) {
			return true
		}
	}
	return false
}

func onNode(node string) podOpt { return func(p *v1.Pod) { p.Spec.NodeName = node } }

// createPods creates pods, retrying while the namespace's default service
// account, which admission requires, is not there yet.
func createPods(t *testing.T, cs kubernetes.Interface, pods ...*v1.Pod) {
	t.Helper()
	for _, p := range pods {
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
			if err == nil {
				break
			}
			if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
				t.Fatalf("create pod %s: %v", p.Name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func listPods(t *testing.T, cs kubernetes.Interface) []v1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func getAPIPod(t *testing.T, cs kubernetes.Interface, name string) *v1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitUntil polls cond until it holds or timeout passes; state describes
// the last look for the failure message.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unschedulableMessage is the message of the pod's PodScheduled=False
// condition with reason Unschedulable, or "".
func unschedulableMessage(p *v1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable {
			return c.Message
		}
	}
	return ""
}

// settled waits until every pod of the default namespace is bound or
// reported unschedulable, and returns them.
func settled(t *testing.T, cs kubernetes.Interface, timeout time.Duration) []v1.Pod {
	t.Helper()
	var pods []v1.Pod
	waitUntil(t, timeout, "every pod bound or unschedulable", func() (bool, string) {
		pods = listPods(t, cs)
		var waiting []string
		for i := range pods {
			if pods[i].Spec.NodeName == "" && unschedulableMessage(&pods[i]) == "" {
				waiting = append(waiting, pods[i].Name)
			}
		}
		return len(waiting) == 0, fmt.Sprintf("%d pods neither bound nor unschedulable: %v", len(waiting), waiting)
	})
	return pods
}

// nodeLoad is what the pods bound to a node ask for.
type nodeLoad struct {
	cpuMilli, mem int64
	pods          int
}

func podRequests(p *v1.Pod) (cpuMilli, mem int64) {
	for _, c := range p.Spec.Containers {
		cpuMilli += c.Resources.Requests.Cpu().MilliValue()
		mem += c.Resources.Requests.Memory().Value()
	}
	return cpuMilli, mem
}

// checkCapacity checks that the pods bound to each node (finished ones
// aside) fit its allocatable CPU, memory and pod count, and that every
// bound pod's node exists; it returns the load of each node.
func checkCapacity(t *testing.T, cs kubernetes.Interface) map[string]nodeLoad {
	t.Helper()
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	load := map[string]nodeLoad{}
	alloc := map[string]v1.ResourceList{}
	for _, n := range nodes.Items {
		alloc[n.Name] = n.Status.Allocatable
		load[n.Name] = nodeLoad{}
	}
	for _, p := range listPods(t, cs) {
		if p.Spec.NodeName == "" || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
			continue
		}
		l, ok := load[p.Spec.NodeName]
		if !ok {
			t.Errorf("pod %s bound to %s, which does not exist", p.Name, p.Spec.NodeName)
			continue
		}
		cpu, mem := podRequests(&p)
		l.cpuMilli += cpu
		l.mem += mem
		l.pods++
		load[p.Spec.NodeName] = l
	}
	for name, l := range load {
		a := alloc[name]
		if l.cpuMilli > a.Cpu().MilliValue() || l.mem > a.Memory().Value() || int64(l.pods) > a.Pods().Value() {
			t.Errorf("node %s holds %dm CPU, %d bytes, %d pods; allocatable %s, %s, %s",
				name, l.cpuMilli, l.mem, l.pods, a.Cpu(), a.Memory(), a.Pods())
		}
	}
	return load
}

// bindings watches the pods of the default namespace from now on and
// records every node each pod was seen on, so that a test can tell that
// no pod moved (was bound twice).
type bindings struct {
	mu    sync.Mutex
	nodes map[string][]string // pod -> nodes in the order seen
}

func watchBindings(t *testing.T, cs kubernetes.Interface) *bindings {
	t.Helper()
	w, err := cs.CoreV1().Pods("default").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := &bindings{nodes: map[string][]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*v1.Pod)
			if !ok || ev.Type == watch.Deleted || p.Spec.NodeName == "" {
				continue
			}
			b.mu.Lock()
			if seen := b.nodes[p.Name]; len(seen) == 0 || seen[len(seen)-1] != p.Spec.NodeName {
				b.nodes[p.Name] = append(seen, p.Spec.NodeName)
			}
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		<-done
	})
	return b
}

// moved lists the pods seen on more than one node.
func (b *bindings) moved() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for pod, nodes := range b.nodes {
		if len(nodes) > 1 {
			out = append(out, fmt.Sprintf("%s: %v", pod, nodes))
		}
	}
	slices.Sort(out)
	return out
}

// apiTap wraps a scheduler's transport: it records the pods/binding calls
// it makes, can delay them, and can cut the scheduler off from the Lease
// API (a partition that leaves its other calls working).
type apiTap struct {
	next     http.RoundTripper
	delay    time.Duration
	cutLease *atomic.Bool

	mu    sync.Mutex
	binds []bindCall
}

type bindCall struct {
	pod        string
	start, end time.Time
	status     int // 0 when no response came
}

var errPartitioned = errors.New("test partition: lease API unreachable")

func (a *apiTap) RoundTrip(req *http.Request) (*http.Response, error) {
	if a.cutLease != nil && a.cutLease.Load() && strings.HasPrefix(req.URL.Path, "/apis/coordination.k8s.io/") {
		return nil, errPartitioned
	}
	pod, isBind := bindTarget(req)
	if !isBind || req.Context().Err() != nil {
		// A call whose context is done never reaches the server.
		return a.next.RoundTrip(req)
	}
	start := time.Now()
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-req.Context().Done():
		}
	}
	resp, err := a.next.RoundTrip(req)
	call := bindCall{pod: pod, start: start, end: time.Now()}
	if err == nil {
		call.status = resp.StatusCode
	}
	a.mu.Lock()
	a.binds = append(a.binds, call)
	a.mu.Unlock()
	return resp, err
}

// bindTarget returns the pod of a POST .../pods/<name>/binding.
func bindTarget(req *http.Request) (string, bool) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/binding") {
		return "", false
	}
	parts := strings.Split(req.URL.Path, "/")
	return parts[len(parts)-2], true
}

func (a *apiTap) calls() []bindCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.binds)
}

// bindTally sums up bind calls: those the server accepted, those that got
// no answer (cancelled in flight: they may have landed), the accepted
// ones per pod, and when the calls began and ended.
type bindTally struct {
	ok, unanswered int
	perPod         map[string]int
	first, last    time.Time // first start, last end
}

func (a *apiTap) tally() bindTally {
	t := bindTally{perPod: map[string]int{}}
	for _, c := range a.calls() {
		switch c.status {
		case http.StatusCreated:
			t.ok++
			t.perPod[c.pod]++
		case 0:
			t.unanswered++
		}
		if t.first.IsZero() || c.start.Before(t.first) {
			t.first = c.start
		}
		if c.end.After(t.last) {
			t.last = c.end
		}
	}
	return t
}

// checkBinds checks that two schedulers' accepted binds number want in
// all (counting unanswered calls as possible binds), that each made some,
// and that no pod was bound twice.
func checkBinds(t *testing.T, x, y bindTally, want int) {
	t.Helper()
	if x.ok == 0 || y.ok == 0 || x.ok+y.ok > want || x.ok+y.ok+x.unanswered+y.unanswered < want {
		t.Errorf("binds accepted: %d and %d (%d and %d unanswered); want some by each, %d in all", x.ok, y.ok, x.unanswered, y.unanswered, want)
	}
	for pod, n := range x.perPod {
		if n+y.perPod[pod] > 1 {
			t.Errorf("pod %s bound %d times", pod, n+y.perPod[pod])
		}
	}
	for pod, n := range y.perPod {
		if n > 1 {
			t.Errorf("pod %s bound %d times", pod, n)
		}
	}
}

func (a *apiTap) wrap(next http.RoundTripper) http.RoundTripper {
	a.next = next
	return a
}
