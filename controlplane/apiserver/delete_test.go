package apiserver_test

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A finalizer holds a deleted object (deletionTimestamp set) until it is
// removed; the propagation policy is recorded as the garbage collector's
// finalizer; preconditions guard deletes.
func TestFinalizersAndPropagation(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	cms := shared.Client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "f", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wrongUID := types.UID("not-the-uid")
	if err := cms.Delete(ctx, "f", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrongUID}}); !apierrors.IsConflict(err) {
		t.Fatalf("delete with a wrong uid: got %v, want 409", err)
	}
	staleRV := "1"
	if err := cms.Delete(ctx, "f", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &staleRV}}); !apierrors.IsConflict(err) {
		t.Fatalf("delete with a stale resourceVersion: got %v, want 409", err)
	}
	orphan := metav1.DeletePropagationOrphan
	if err := cms.Delete(ctx, "f", metav1.DeleteOptions{PropagationPolicy: &orphan, Preconditions: &metav1.Preconditions{UID: &cm.UID}}); err != nil {
		t.Fatal(err)
	}
	cm, err = cms.Get(ctx, "f", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a finalized object must remain: %v", err)
	}
	if cm.DeletionTimestamp == nil || !slices.Contains(cm.Finalizers, metav1.FinalizerOrphanDependents) {
		t.Fatalf("deleting object: deletionTimestamp %v finalizers %v", cm.DeletionTimestamp, cm.Finalizers)
	}
	// New finalizers cannot be added once deletion started; removing the
	// last one deletes the object.
	cm.Finalizers = nil
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "f", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the last finalizer: %v, want 404", err)
	}

	fg := metav1.DeletePropagationForeground
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "g"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "g", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	g, err := cms.Get(ctx, "g", metav1.GetOptions{})
	if err != nil || !slices.Contains(g.Finalizers, metav1.FinalizerDeleteDependents) {
		t.Fatalf("foreground delete: %v finalizers %v", err, g.Finalizers)
	}
}

// Pods bound to a node are deleted gracefully (the agent finishes the
// delete); unbound pods go at once.
func TestPodGracefulDeletion(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	pods := shared.Client.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, testPod("unbound", "", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "unbound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "unbound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("an unbound pod must go at once: %v", err)
	}

	if _, err := pods.Create(ctx, testPod("bound", "node-1", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := pods.Get(ctx, "bound", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a bound pod stays while its grace period runs: %v", err)
	}
	if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 ||
		p.DeletionTimestamp.Time.Before(before.Add(29*time.Second)) {
		t.Fatalf("graceful deletion: timestamp %v grace %v", p.DeletionTimestamp, p.DeletionGracePeriodSeconds)
	}
	// The agent confirms with a zero grace period.
	zero := int64(0)
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "bound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the final delete: %v", err)
	}
}

// Dry-run writes change nothing.
func TestDryRun(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	cms := shared.Client.CoreV1().ConfigMaps(ns)
	dry := []string{metav1.DryRunAll}
	out, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "d"}}, metav1.CreateOptions{DryRun: dry})
	if err != nil || out.UID == "" {
		t.Fatalf("dry-run create: %v %+v", err, out)
	}
	if _, err := cms.Get(ctx, "d", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run create stored the object: %v", err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Patch(ctx, "d", types.MergePatchType, []byte(`{"data":{"a":"2"}}`), metav1.PatchOptions{DryRun: dry}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "d", metav1.DeleteOptions{DryRun: dry}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx, "d", metav1.GetOptions{})
	if err != nil || got.Data["a"] != "1" {
		t.Fatalf("after dry-run patch and delete: %v %v", err, got)
	}
}
