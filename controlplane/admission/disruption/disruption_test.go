package disruption

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const ns = "app"

// pods is an in-memory pod store with resourceVersion preconditions.
type pods struct {
	mu      sync.Mutex
	pods    map[string]*corev1.Pod
	deletes []*metav1.DeleteOptions
	// changeOnDelete makes the pod change just before a pinned delete.
	changeOnDelete bool
}

func (p *pods) Get(_ context.Context, _, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pod, ok := p.pods[name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	return pod.DeepCopy(), nil
}

func (p *pods) Delete(_ context.Context, _, name string, opts *metav1.DeleteOptions) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pod, ok := p.pods[name]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	p.deletes = append(p.deletes, opts)
	if p.changeOnDelete {
		pod.ResourceVersion += "0"
	}
	if pre := opts.Preconditions; pre != nil && pre.ResourceVersion != nil && *pre.ResourceVersion != pod.ResourceVersion {
		return apierrors.NewConflict(corev1.Resource("pods"), name, errors.New("the object has been modified"))
	}
	if len(opts.DryRun) == 0 {
		delete(p.pods, name)
	}
	return nil
}

func pod(name string, phase corev1.PodPhase, ready bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, ResourceVersion: "10", Labels: map[string]string{"app": "web"}},
		Status:     corev1.PodStatus{Phase: phase},
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	return p
}

func budget(name string, allowed, current, desired int32, mod ...func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
	b := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: allowed,
			CurrentHealthy: current, DesiredHealthy: desired, ExpectedPods: current},
	}
	for _, m := range mod {
		m(b)
	}
	return b
}

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newEvictor(client *fake.Clientset) *Evictor {
	e := New(client.PolicyV1())
	e.backoff = wait.Backoff{Steps: 5, Duration: time.Millisecond}
	e.now = func() time.Time { return now }
	return e
}

func TestEvict(t *testing.T) {
	stale := func(b *policyv1.PodDisruptionBudget) { b.Generation = 2 }
	alwaysAllow := func(b *policyv1.PodDisruptionBudget) {
		p := policyv1.AlwaysAllow
		b.Spec.UnhealthyPodEvictionPolicy = &p
	}
	emptySelector := func(b *policyv1.PodDisruptionBudget) { b.Spec.Selector = &metav1.LabelSelector{} }
	deleting := pod("p", corev1.PodRunning, true)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		budgets []runtime.Object
		dryRun  bool
		// deleted and pinned: the pod's delete, pinned to its version.
		deleted, pinned bool
		// allowed and disrupted: the budget's status afterwards.
		allowed   int32
		disrupted bool
		code      int32
		msg       string
		cause     string
	}{
		{name: "no budget", pod: pod("p", corev1.PodRunning, true), deleted: true},
		{name: "budget allows one", pod: pod("p", corev1.PodRunning, true), budgets: []runtime.Object{budget("web", 1, 2, 1)},
			deleted: true, allowed: 0, disrupted: true},
		{name: "budget allows none", pod: pod("p", corev1.PodRunning, true), budgets: []runtime.Object{budget("web", 0, 2, 2)},
			code: 429, msg: "Cannot evict pod as it would violate the pod's disruption budget.",
			cause: "The disruption budget web needs 2 healthy pods and has 2 currently"},
		{name: "budget not yet processed", pod: pod("p", corev1.PodRunning, true), budgets: []runtime.Object{budget("web", 1, 2, 1, stale)},
			code: 429, msg: "Cannot evict pod as it would violate the pod's disruption budget.",
			cause: "The disruption budget web is still being processed by the server."},
		{name: "negative budget", pod: pod("p", corev1.PodRunning, true), budgets: []runtime.Object{budget("web", -1, 2, 1)},
			code: 403, msg: `poddisruptionbudget.policy "web" is forbidden: pdb disruptions allowed is negative`},
		{name: "two budgets", pod: pod("p", corev1.PodRunning, true), budgets: []runtime.Object{budget("web", 1, 2, 1), budget("all", 1, 2, 1)},
			code: 500, msg: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."},
		{name: "empty selector covers nothing", pod: pod("p", corev1.PodRunning, true), budgets: []runtime.Object{budget("web", 0, 2, 2, emptySelector)},
			deleted: true},
		{name: "pending pod", pod: pod("p", corev1.PodPending, false), budgets: []runtime.Object{budget("web", 0, 2, 2)},
			deleted: true, pinned: true},
		{name: "finished pod", pod: pod("p", corev1.PodSucceeded, false), budgets: []runtime.Object{budget("web", 0, 2, 2)},
			deleted: true},
		{name: "pod being deleted", pod: deleting, budgets: []runtime.Object{budget("web", 0, 2, 2)}, deleted: true},
		{name: "unready pod of a healthy budget", pod: pod("p", corev1.PodRunning, false), budgets: []runtime.Object{budget("web", 0, 2, 2)},
			deleted: true, pinned: true},
		{name: "unready pod of an unhealthy budget", pod: pod("p", corev1.PodRunning, false), budgets: []runtime.Object{budget("web", 0, 1, 2)},
			code: 429, msg: "Cannot evict pod as it would violate the pod's disruption budget.",
			cause: "The disruption budget web needs 2 healthy pods and has 1 currently"},
		{name: "unready pod, AlwaysAllow", pod: pod("p", corev1.PodRunning, false), budgets: []runtime.Object{budget("web", 0, 1, 2, alwaysAllow)},
			deleted: true, pinned: true},
		{name: "dry run", pod: pod("p", corev1.PodRunning, true), budgets: []runtime.Object{budget("web", 1, 2, 1)}, dryRun: true,
			allowed: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &pods{pods: map[string]*corev1.Pod{"p": tc.pod}}
			client := fake.NewClientset(tc.budgets...)
			opts := &metav1.DeleteOptions{}
			if tc.dryRun {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			err := newEvictor(client).Evict(context.Background(), store, ns, "p", opts)
			if tc.code != 0 {
				checkStatus(t, err, tc.code, tc.msg, tc.cause)
				if len(store.deletes) > 0 {
					t.Error("pod deleted")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			_, present := store.pods["p"]
			if present == tc.deleted {
				t.Errorf("pod deleted: %v, want %v", !present, tc.deleted)
			}
			if len(store.deletes) != 1 {
				t.Fatalf("%d deletes, want 1", len(store.deletes))
			}
			pre := store.deletes[0].Preconditions
			if pinned := pre != nil && pre.ResourceVersion != nil && *pre.ResourceVersion == "10"; pinned != tc.pinned {
				t.Errorf("delete pinned to the pod's version: %v, want %v", pinned, tc.pinned)
			}
			if len(tc.budgets) != 1 {
				return
			}
			b, err := client.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.budgets[0].(*policyv1.PodDisruptionBudget).Status.DisruptionsAllowed
			if tc.disrupted || tc.dryRun {
				want = tc.allowed
			}
			if b.Status.DisruptionsAllowed != want {
				t.Errorf("disruptionsAllowed %d, want %d", b.Status.DisruptionsAllowed, want)
			}
			at, recorded := b.Status.DisruptedPods["p"]
			if recorded != tc.disrupted || (recorded && !at.Time.Equal(now)) {
				t.Errorf("disruptedPods %v, want the pod: %v", b.Status.DisruptedPods, tc.disrupted)
			}
			if tc.disrupted && tc.allowed == 0 {
				c := meta.FindStatusCondition(b.Status.Conditions, policyv1.DisruptionAllowedCondition)
				if c == nil || c.Status != metav1.ConditionFalse || c.Reason != policyv1.InsufficientPodsReason {
					t.Errorf("condition %+v, want DisruptionAllowed False InsufficientPods", c)
				}
			}
		})
	}
}

func checkStatus(t *testing.T, err error, code int32, msg, cause string) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("got %v, want a %d API error", err, code)
	}
	s := status.Status()
	if s.Code != code || s.Message != msg {
		t.Fatalf("got %d %q, want %d %q", s.Code, s.Message, code, msg)
	}
	if cause == "" {
		return
	}
	if s.Details == nil || len(s.Details.Causes) != 1 || s.Details.Causes[0].Type != policyv1.DisruptionBudgetCause || s.Details.Causes[0].Message != cause {
		t.Fatalf("details %+v, want the cause %q", s.Details, cause)
	}
}

// A budget changed by another eviction since it was read is read again:
// the second eviction finds none left.
func TestBudgetConflict(t *testing.T) {
	client := fake.NewClientset(budget("web", 1, 2, 1))
	conflicts := 0
	client.PrependReactor("update", "poddisruptionbudgets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			return false, nil, nil
		}
		conflicts++
		// Another eviction took the last disruption meanwhile.
		taken := budget("web", 0, 2, 1)
		if err := client.Tracker().Update(policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets"), taken, ns); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewConflict(policyv1.Resource("poddisruptionbudgets"), "web", errors.New("the object has been modified"))
	})
	store := &pods{pods: map[string]*corev1.Pod{"p": pod("p", corev1.PodRunning, true)}}
	err := newEvictor(client).Evict(context.Background(), store, ns, "p", nil)
	checkStatus(t, err, 429, "Cannot evict pod as it would violate the pod's disruption budget.",
		"The disruption budget web needs 1 healthy pods and has 2 currently")
}

// An unready pod that changes before its pinned delete is not deleted:
// the client is told to try again.
func TestUnreadyPodChanged(t *testing.T) {
	client := fake.NewClientset(budget("web", 0, 2, 2))
	store := &pods{pods: map[string]*corev1.Pod{"p": pod("p", corev1.PodRunning, false)}, changeOnDelete: true}
	err := newEvictor(client).Evict(context.Background(), store, ns, "p", nil)
	checkStatus(t, err, 429, "Cannot evict pod as it would violate the pod's disruption budget.",
		"The disruption budget web is still being processed by the server.")
}
