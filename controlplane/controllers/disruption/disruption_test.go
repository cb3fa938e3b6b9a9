package disruption_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/disruption"
	"skiff.dev/skiff/test/simnode"
)

var labels = map[string]string{"app": "db"}

// status renders what a user checks in a budget's status.
func status(pdb *policyv1.PodDisruptionBudget) string {
	cond := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	c := "none"
	if cond != nil {
		c = fmt.Sprintf("%s/%s", cond.Status, cond.Reason)
	}
	return fmt.Sprintf("expected=%d desired=%d healthy=%d allowed=%d %s",
		pdb.Status.ExpectedPods, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy, pdb.Status.DisruptionsAllowed, c)
}

func waitStatus(t *testing.T, e *ctrltest.Env, ns, name, want string) {
	t.Helper()
	ctrltest.Eventually(t, 15*time.Second, "budget "+name, func() (bool, string, error) {
		pdb, err := e.Client.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return status(pdb) == want, status(pdb), nil
	})
}

func TestBudgetStatus(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 2}, controllers.ConstructorFor(disruption.New, disruption.Config{}))
	ns := e.Namespace("pdb")
	ctx := context.Background()
	c := e.Client

	// A ReplicaSet of 3 (its pods made here, no ReplicaSet controller).
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d", i), Labels: labels,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, spec := range map[string]policyv1.PodDisruptionBudgetSpec{
		"min-two":      {MinAvailable: ptr.To(intstr.FromInt32(2))},
		"max-one":      {MaxUnavailable: ptr.To(intstr.FromInt32(1))},
		"half":         {MinAvailable: ptr.To(intstr.FromString("50%"))},
		"matches-none": {MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}},
	} {
		if spec.Selector == nil {
			spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
		}
		if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus(t, e, ns, "min-two", "expected=3 desired=2 healthy=3 allowed=1 True/SufficientPods")
	waitStatus(t, e, ns, "max-one", "expected=3 desired=2 healthy=3 allowed=1 True/SufficientPods")
	waitStatus(t, e, ns, "half", "expected=3 desired=2 healthy=3 allowed=1 True/SufficientPods")
	waitStatus(t, e, ns, "matches-none", "expected=0 desired=1 healthy=0 allowed=0 False/InsufficientPods")

	// One pod turns unready: no disruption is allowed.
	if err := e.Nodes.SetPodReady(ns, "db-0", false); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, ns, "min-two", "expected=3 desired=2 healthy=2 allowed=0 False/InsufficientPods")
	waitStatus(t, e, ns, "max-one", "expected=3 desired=2 healthy=2 allowed=0 False/InsufficientPods")

	// While the controller manager is down the pod recovers and the
	// ReplicaSet grows: the restarted one catches up.
	e.Manager.Stop()
	if err := e.Nodes.SetPodReady(ns, "db-0", true); err != nil {
		t.Fatal(err)
	}
	rs, err = c.AppsV1().ReplicaSets(ns).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs.Spec.Replicas = ptr.To[int32](4)
	if _, err := c.AppsV1().ReplicaSets(ns).Update(ctx, rs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Manager.Start()
	waitStatus(t, e, ns, "min-two", "expected=3 desired=2 healthy=3 allowed=1 True/SufficientPods")
	waitStatus(t, e, ns, "max-one", "expected=4 desired=3 healthy=3 allowed=0 False/InsufficientPods")
	waitStatus(t, e, ns, "half", "expected=4 desired=2 healthy=3 allowed=1 True/SufficientPods")
}
