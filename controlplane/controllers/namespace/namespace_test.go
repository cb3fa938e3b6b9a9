package namespace_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/namespace"
	"skiff.dev/skiff/controlplane/controllers/serviceaccount"
	"skiff.dev/skiff/controlplane/server/servertest"
)

// controllersUnderTest are the namespace controller and the service-account
// controller, whose accounts it deletes too.
var controllersUnderTest = []controllers.Constructor{
	func(c *controllers.Context) (controllers.Controller, error) {
		return namespace.New(c, namespace.Config{Metadata: c.Metadata, MaxRecheck: 200 * time.Millisecond})
	},
	controllers.ConstructorFor(serviceaccount.New, serviceaccount.Config{}),
}

// appsRevision is an object of a group other than the core one.
var appsRevision = appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "rev"}, Revision: 1,
	Data: runtime.RawExtension{Raw: []byte(`{}`)}}

func condition(ns *corev1.Namespace, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range ns.Status.Conditions {
		if ns.Status.Conditions[i].Type == t {
			return &ns.Status.Conditions[i]
		}
	}
	return nil
}

func TestNamespaceDeletion(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Client
	ctx := context.Background()
	mgr := ctrltest.StartManager(t, srv.Config, controllersUnderTest...)

	ns, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The namespace gets its default service account.
	ctrltest.Poll(t, 15*time.Second, "default service account", func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts(ns.Name).Get(ctx, serviceaccount.DefaultName, metav1.GetOptions{})
		return err == nil, nil
	})
	// Content of several kinds, one object held by a finalizer.
	for _, name := range []string{"a", "b"} {
		if _, err := c.CoreV1().ConfigMaps(ns.Name).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CoreV1().ConfigMaps(ns.Name).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "held", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Secrets(ns.Name).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods(ns.Name).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppsV1().ControllerRevisions(ns.Name).Create(ctx, &appsRevision, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := c.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Everything goes but the held object, and the conditions say why the
	// namespace stays.
	ctrltest.Poll(t, 15*time.Second, "stuck namespace conditions", func(ctx context.Context) (bool, error) {
		got, err := c.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		remain := condition(got, corev1.NamespaceContentRemaining)
		fin := condition(got, corev1.NamespaceFinalizersRemaining)
		return remain != nil && remain.Status == corev1.ConditionTrue &&
			remain.Message == "Some resources are remaining: configmaps has 1 resource instances" &&
			fin != nil && fin.Status == corev1.ConditionTrue &&
			strings.Contains(fin.Message, "example.com/hold in 1 resource instances"), nil
	})
	got, err := c.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase %s, want Terminating", got.Status.Phase)
	}
	if cond := condition(got, corev1.NamespaceDeletionDiscoveryFailure); cond == nil || cond.Status != corev1.ConditionFalse {
		t.Errorf("discovery failure condition %+v, want False", cond)
	}
	for _, check := range []struct {
		what string
		get  func() error
	}{
		{"pod", func() error { _, err := c.CoreV1().Pods(ns.Name).Get(ctx, "p", metav1.GetOptions{}); return err }},
		{"secret", func() error { _, err := c.CoreV1().Secrets(ns.Name).Get(ctx, "s", metav1.GetOptions{}); return err }},
		{"configmap", func() error { _, err := c.CoreV1().ConfigMaps(ns.Name).Get(ctx, "a", metav1.GetOptions{}); return err }},
		{"controllerrevision", func() error {
			_, err := c.AppsV1().ControllerRevisions(ns.Name).Get(ctx, appsRevision.Name, metav1.GetOptions{})
			return err
		}},
		{"service account", func() error {
			_, err := c.CoreV1().ServiceAccounts(ns.Name).Get(ctx, serviceaccount.DefaultName, metav1.GetOptions{})
			return err
		}},
	} {
		if err := check.get(); !apierrors.IsNotFound(err) {
			t.Errorf("%s still there in the terminating namespace (err %v)", check.what, err)
		}
	}

	// A restart in the middle, then the finalizer goes: the namespace
	// goes too.
	mgr.Stop()
	held, err := c.CoreV1().ConfigMaps(ns.Name).Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	held.Finalizers = nil
	if _, err := c.CoreV1().ConfigMaps(ns.Name).Update(ctx, held, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	mgr.Start()
	ctrltest.Poll(t, 15*time.Second, "namespace gone", func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
