package endpoints

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testPod(i int, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "ns", UID: types.UID(fmt.Sprintf("uid-%d", i))},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func TestSubsetsOverCapacity(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Spec: corev1.ServiceSpec{
		ClusterIP: "10.43.0.10",
		Ports:     []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
	}}
	var pods []*corev1.Pod
	for i := range 1200 {
		// 900 ready, 300 not.
		pods = append(pods, testPod(i, i%4 != 0))
	}
	subsets, truncated := buildSubsets(svc, pods, 1000)
	if !truncated {
		t.Fatal("1200 addresses not truncated at 1000")
	}
	if len(subsets) != 1 {
		t.Fatalf("%d subsets, want 1", len(subsets))
	}
	s := subsets[0]
	if len(s.Addresses) != 900 || len(s.NotReadyAddresses) != 100 {
		t.Errorf("kept %d ready and %d not ready, want all 900 ready and 100 not ready", len(s.Addresses), len(s.NotReadyAddresses))
	}
	if _, truncated := buildSubsets(svc, pods[:1000], 1000); truncated {
		t.Error("1000 addresses truncated")
	}
}

func TestSubsetsSkipTerminalAndIPless(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(9000), Protocol: corev1.ProtocolTCP}},
	}}
	done, noIP, ok := testPod(1, true), testPod(2, true), testPod(3, true)
	done.Status.Phase = corev1.PodSucceeded
	noIP.Status.PodIP = ""
	subsets, _ := buildSubsets(svc, []*corev1.Pod{done, noIP, ok}, 1000)
	if len(subsets) != 1 || len(subsets[0].Addresses) != 1 || subsets[0].Addresses[0].TargetRef.Name != "p3" ||
		subsets[0].Ports[0].Port != 9000 {
		t.Errorf("subsets %+v, want only p3 on port 9000", subsets)
	}
}
