package disruption_test

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/controlplane/admission/admissiontest"
)

// Through the pod store over etcd, with a budget of one disruption: the
// first eviction deletes its pod and takes the disruption, recording the
// pod; the second is refused with 429 and leaves its pod alone.
func TestEvictionThroughStore(t *testing.T) {
	env := admissiontest.Start(t)
	ctx := admissiontest.Context(t)
	core, policy := env.Client.CoreV1(), env.Client.PolicyV1()
	ns := env.Namespace(t)

	for _, name := range []string{"a", "b"} {
		p := admissiontest.Pod(name, nil, nil)
		p.Labels = map[string]string{"app": "web"}
		created, err := core.Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Phase = corev1.PodRunning
		created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := core.Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	one := intstr.FromInt32(1)
	pdb, err := policy.PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What the disruption controller would say.
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 1, CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 2}
	if _, err := policy.PodDisruptionBudgets(ns).UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	evict := func(name string) error {
		return core.Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	if err := evict("a"); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	a, err := core.Pods(ns).Get(ctx, "a", metav1.GetOptions{})
	if err == nil && a.DeletionTimestamp == nil {
		t.Error("evicted pod a is not being deleted")
	}
	pdb, err = policy.PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pdb.Status.DisruptedPods["a"]; pdb.Status.DisruptionsAllowed != 0 || !ok {
		t.Errorf("budget status %+v, want no disruption left and pod a recorded", pdb.Status)
	}

	err = evict("b")
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != 429 ||
		status.Status().Message != "Cannot evict pod as it would violate the pod's disruption budget." {
		t.Fatalf("second eviction: got %v, want 429", err)
	}
	if c := status.Status().Details.Causes; len(c) != 1 || c[0].Message != "The disruption budget web needs 1 healthy pods and has 2 currently" {
		t.Errorf("causes %+v", c)
	}
	b, err := core.Pods(ns).Get(ctx, "b", metav1.GetOptions{})
	if err != nil || b.DeletionTimestamp != nil {
		t.Errorf("pod b after a refused eviction: %v, %v", err, b.DeletionTimestamp)
	}
}
