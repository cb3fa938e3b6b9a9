package serviceaccount_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/serviceaccount"
	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
)

func waitAccount(t *testing.T, srv *servertest.Server, ns string) *corev1.ServiceAccount {
	t.Helper()
	var sa *corev1.ServiceAccount
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		sa, err = srv.Client.CoreV1().ServiceAccounts(ns).Get(ctx, serviceaccount.DefaultName, metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no default service account in %s", ns)
	}
	return sa
}

func TestDefaultServiceAccount(t *testing.T) {
	// The test server's own service-account controller stays off: this
	// test is about ours.
	srv := servertest.Start(t, func(cfg *server.Config) { cfg.DisableControllers = true })
	ctx := context.Background()
	c := srv.Client
	mgr := ctrltest.StartManager(t, srv.Config, controllers.ConstructorFor(serviceaccount.New, serviceaccount.Config{}))

	// Namespaces that exist when the controller starts, and new ones.
	waitAccount(t, srv, metav1.NamespaceDefault)
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := waitAccount(t, srv, "team")

	// Deleted, it comes back.
	if err := c.CoreV1().ServiceAccounts("team").Delete(ctx, sa.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if again := waitAccount(t, srv, "team"); again.UID == sa.UID {
		t.Fatal("service account not recreated")
	}

	// A restart keeps the one that exists, and creates those missing.
	mgr.Stop()
	kept := waitAccount(t, srv, "team")
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mgr.Start()
	waitAccount(t, srv, "later")
	if got := waitAccount(t, srv, "team"); got.ResourceVersion != kept.ResourceVersion {
		t.Errorf("existing service account rewritten across a restart")
	}
}
