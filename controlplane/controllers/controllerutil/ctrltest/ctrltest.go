// Package ctrltest runs controllers under test against a real API server:
// a controller manager that a test can stop and start again, either on a
// whole test cluster (an in-process apiserver with etcd, the scheduler and
// simulated nodes from test/simnode) or on a bare server (servertest),
// one per test or one per package; and it offers the waits and the pods
// such tests need.
package ctrltest

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// NewNamespace creates a namespace named after prefix and returns its
// name.
func NewNamespace(tb testing.TB, c kubernetes.Interface, prefix string) string {
	tb.Helper()
	ns, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return ns.Name
}

// GetNode returns the node named name.
func GetNode(tb testing.TB, c kubernetes.Interface, name string) *corev1.Node {
	tb.Helper()
	n, err := c.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// ServingPod creates a pod labelled app=web on node node-a whose container
// serves port under the name "http", and gives it the phase, IP and
// readiness its node agent would report.
func ServingPod(tb testing.TB, c kubernetes.Interface, ns, name, ip string, port int32, ready bool) *corev1.Pod {
	tb.Helper()
	pod, err := c.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName: "node-a",
			Containers: []corev1.Container{{Name: "c", Image: "img", Ports: []corev1.ContainerPort{
				{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	return SetReady(tb, c, pod, ready)
}

// SetReady writes pod's Ready condition, as its node agent would.
func SetReady(tb testing.TB, c kubernetes.Interface, pod *corev1.Pod, ready bool) *corev1.Pod {
	tb.Helper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	out, err := c.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Describe formats a short summary of pods for failure messages.
func Describe(pods []corev1.Pod) string {
	out := ""
	for i := range pods {
		p := &pods[i]
		state := string(p.Status.Phase)
		if controllerutil.IsPodReady(p) {
			state += ",ready"
		}
		if p.DeletionTimestamp != nil {
			state += ",deleting"
		}
		out += fmt.Sprintf("%s(%s,%s) ", p.Name, p.Spec.NodeName, state)
	}
	return out
}
