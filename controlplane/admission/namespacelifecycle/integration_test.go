package namespacelifecycle_test

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/admission/admissiontest"
)

// Through the API: creates into a namespace made a moment ago succeed,
// into a missing one fail with 404 and into a terminating one with 403,
// while updates and deletes there still work; default cannot be deleted.
func TestNamespaceLifecycleThroughAPI(t *testing.T) {
	env := admissiontest.Start(t)
	ctx := admissiontest.Context(t)
	core := env.Client.CoreV1()

	for i := range 5 {
		ns, err := core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fresh-"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}
		if _, err := core.ConfigMaps(ns.Name).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %d right after its namespace: %v", i, err)
		}
	}

	_, err := core.ConfigMaps("nope").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
	wantStatus(t, err, 404, `namespaces "nope" not found`)

	ns := env.Namespace(t)
	cm, err := core.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gone"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No namespace controller runs: the namespace stays terminating.
	if err := core.Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = core.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{})
	wantStatus(t, err, 403, `configmaps "new" is forbidden: unable to create new content in namespace `+ns+` because it is being terminated`)
	cm.Data = map[string]string{"k": "v"}
	if _, err := core.ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Errorf("update in a terminating namespace: %v", err)
	}
	if err := core.ConfigMaps(ns).Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete in a terminating namespace: %v", err)
	}

	// The server created default at bootstrap.
	err = core.Namespaces().Delete(ctx, "default", metav1.DeleteOptions{})
	wantStatus(t, err, 403, `namespaces "default" is forbidden: this namespace may not be deleted`)
}

func wantStatus(t *testing.T, err error, code int32, msg string) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("got %v, want a %d API error", err, code)
	}
	if s := status.Status(); s.Code != code || s.Message != msg {
		t.Fatalf("got %d %q, want %d %q", s.Code, s.Message, code, msg)
	}
}
