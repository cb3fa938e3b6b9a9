package apiserver_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/server/servertest"
)

func TestSmoke(t *testing.T) {
	s := servertest.Start(t)
	ctx := context.Background()
	v, err := s.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("version %s", v.GitVersion)
	nss, err := s.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss.Items {
		t.Logf("ns %s %s", ns.Name, ns.Status.Phase)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	out, err := s.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pod %s rv %s uid %s mf %d", out.Name, out.ResourceVersion, out.UID, len(out.ManagedFields))
	svcs, err := s.Client.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs.Items {
		t.Logf("svc %s %s %v", s.Name, s.Spec.ClusterIP, s.Spec.Ports)
	}
}
