package apiserver_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/server/servertest"
)

// shared is one server for the tests that do not need a fresh one; each
// such test works in a namespace of its own.
var shared *servertest.Server

func TestMain(m *testing.M) {
	servertest.Main(m, func(s *servertest.Server) error { shared = s; return nil })
}

func testContext(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// namespace creates a namespace for one test on the shared server.
func namespace(t *testing.T) string {
	t.Helper()
	ns, err := shared.Client.CoreV1().Namespaces().Create(testContext(t),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}
