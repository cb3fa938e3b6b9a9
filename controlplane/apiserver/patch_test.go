package apiserver_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func twoContainerDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "app", Image: "app:1"},
					{Name: "sidecar", Image: "sidecar:1"},
				}},
			},
		},
	}
}

// Each patch type does what Kubernetes does: a strategic merge patch
// merges containers by name, a merge patch replaces lists, a JSON patch
// applies its operations and fails when a test operation fails.
func TestPatchTypes(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	deps := shared.Client.AppsV1().Deployments(ns)
	if _, err := deps.Create(ctx, twoContainerDeployment("d"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	images := func(d *appsv1.Deployment) []string {
		var out []string
		for _, c := range d.Spec.Template.Spec.Containers {
			out = append(out, c.Name+"="+c.Image)
		}
		return out
	}

	d, err := deps.Patch(ctx, "d", types.StrategicMergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := images(d); len(got) != 2 || got[0] != "app=app:2" || got[1] != "sidecar=sidecar:1" {
		t.Fatalf("strategic merge: containers %v, want app:2 and the sidecar kept", got)
	}
	if d.Generation != 2 {
		t.Fatalf("a spec change must bump the generation to 2, got %d", d.Generation)
	}

	d, err = deps.Patch(ctx, "d", types.JSONPatchType,
		[]byte(`[{"op":"test","path":"/spec/template/spec/containers/1/name","value":"sidecar"},
		         {"op":"replace","path":"/spec/template/spec/containers/1/image","value":"sidecar:2"}]`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := images(d); got[1] != "sidecar=sidecar:2" {
		t.Fatalf("JSON patch: containers %v", got)
	}
	_, err = deps.Patch(ctx, "d", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/replicas","value":7}]`), metav1.PatchOptions{})
	if err == nil || apierrors.IsNotFound(err) {
		t.Fatalf("failed JSON patch test: got %v, want an error", err)
	}

	d, err = deps.Patch(ctx, "d", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"x":"y"}},"spec":{"template":{"spec":{"containers":[{"name":"only","image":"only:1"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := images(d); len(got) != 1 || got[0] != "only=only:1" || d.Labels["x"] != "y" {
		t.Fatalf("merge patch: containers %v labels %v, want the list replaced", got, d.Labels)
	}

	// A patch carrying a stale resourceVersion is a conflict.
	_, err = deps.Patch(ctx, "d", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"1","labels":{"z":"z"}}}`), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("stale patch: got %v, want 409", err)
	}
	// Patching what does not exist is 404.
	_, err = deps.Patch(ctx, "missing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("patch of a missing object: got %v, want 404", err)
	}
}

// Server-side apply creates, merges by field ownership, reports a conflict
// when another manager owns a field, and takes it over with force.
func TestServerSideApply(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	cms := shared.Client.CoreV1().ConfigMaps(ns)
	apply := func(manager string, force bool, body string) (*corev1.ConfigMap, error) {
		opts := metav1.PatchOptions{FieldManager: manager}
		if force {
			opts.Force = &force
		}
		return cms.Patch(ctx, "cfg", types.ApplyYAMLPatchType, []byte(body), opts)
	}
	cm, err := apply("alice", false, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '1', b: '1'}\n")
	if err != nil {
		t.Fatalf("apply create: %v", err)
	}
	if cm.Data["a"] != "1" || len(cm.ManagedFields) != 1 || cm.ManagedFields[0].Manager != "alice" || cm.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("after first apply: data %v managedFields %+v", cm.Data, cm.ManagedFields)
	}
	if cm, err = apply("bob", false, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {c: '1'}\n"); err != nil {
		t.Fatalf("bob applies his own field: %v", err)
	}
	if len(cm.Data) != 3 {
		t.Fatalf("both managers' fields must stay: %v", cm.Data)
	}
	_, err = apply("bob", false, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '2', c: '1'}\n")
	if !apierrors.IsConflict(err) {
		t.Fatalf("bob changes alice's field: got %v, want 409 Conflict", err)
	}
	if cm, err = apply("bob", true, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '2', c: '1'}\n"); err != nil || cm.Data["a"] != "2" {
		t.Fatalf("forced apply: %v %v", err, cm.Data)
	}
	// Alice drops b from her configuration: the field she alone owned goes.
	if cm, err = apply("alice", false, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {}\n"); err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Data["b"]; ok || cm.Data["a"] != "2" {
		t.Fatalf("after alice's empty apply: %v, want b removed and bob's a kept", cm.Data)
	}
	// An apply without a field manager is refused.
	if _, err := cms.Patch(ctx, "cfg", types.ApplyYAMLPatchType, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n"), metav1.PatchOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("apply without fieldManager: got %v, want 422", err)
	}
}
