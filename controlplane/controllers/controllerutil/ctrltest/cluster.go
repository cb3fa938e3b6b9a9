package ctrltest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/test/simnode"
)

// Env is a test cluster and a controller manager running the controllers
// under test.
type Env struct {
	*simnode.Cluster
	// Manager runs the controllers under test.
	Manager *Manager
	tb      testing.TB
}

// Start starts a cluster with nodes simulated nodes (of cfg, whose Count
// it sets) and a controller manager running ctors; both stop when the
// test ends. SKIFF_TEST_LOG=1 shows the components' logs.
func Start(tb testing.TB, nodes simnode.Config, ctors ...controllers.Constructor) *Env {
	tb.Helper()
	// The server's own controller manager stays off: the test runs its
	// own, which it can restart.
	c := simnode.StartCluster(tb, simnode.ClusterConfig{Nodes: nodes, Logger: testLogger(),
		ServerOptions: []func(*server.Config){func(c *server.Config) { c.DisableControllers = true }}})
	return &Env{Cluster: c, Manager: StartManager(tb, c.Server.Config, ctors...), tb: tb}
}

// Namespace creates a namespace for the test, with the default service
// account pods need (the server's own controllers, which would make it,
// are off), and returns its name.
func (e *Env) Namespace(name string) string {
	e.tb.Helper()
	ctx := e.tb.Context()
	_, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		e.tb.Fatal(err)
	}
	_, err = e.Client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		e.tb.Fatal(err)
	}
	return name
}

// Pods lists the pods of ns that match sel, those being deleted included.
func (e *Env) Pods(ns string, sel labels.Selector) ([]corev1.Pod, error) {
	list, err := e.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// CountPods counts the pods of ns matching sel: all of them, the active
// ones (not terminal, not being deleted), and the active ready ones.
func (e *Env) CountPods(ns string, sel labels.Selector) (all, active, ready int, err error) {
	pods, err := e.Pods(ns, sel)
	if err != nil {
		return 0, 0, 0, err
	}
	for i := range pods {
		p := &pods[i]
		if controllerutil.IsPodActive(p) {
			active++
			if controllerutil.IsPodReady(p) {
				ready++
			}
		}
	}
	return len(pods), active, ready, nil
}
