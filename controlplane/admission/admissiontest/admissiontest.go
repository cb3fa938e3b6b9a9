// Package admissiontest gives the admission plugins' integration tests a
// real skiff server (its stores run the admission chain) and helpers for
// namespaces and pods.
package admissiontest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
)

// Env is a running API with the admission plugins.
type Env struct {
	// Client is an administrator's client of the API.
	Client kubernetes.Interface
	Server *servertest.Server
}

// Start serves the API for a test and stops it when the test ends.
func Start(tb testing.TB) *Env {
	tb.Helper()
	// No controllers: the tests decide when service accounts exist.
	s := servertest.Start(tb, func(c *server.Config) { c.DisableControllers = true })
	return &Env{Client: s.Client, Server: s}
}

// Context returns a context for one test's calls.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// Namespace creates a namespace with its default service account, as the
// service account controller would, and returns its name.
func (e *Env) Namespace(tb testing.TB) string {
	tb.Helper()
	ctx := Context(tb)
	ns, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("create namespace: %v", err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := e.Client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create default service account: %v", err)
	}
	return ns.Name
}

// Pod returns a pod of one container with the given requests and limits
// (nil for none).
func Pod(name string, requests, limits corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits},
		}}},
	}
}
