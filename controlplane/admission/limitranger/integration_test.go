package limitranger_test

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/admission/admissiontest"
	"skiff.dev/skiff/controlplane/admission/limitranger"
)

// Through the API: a LimitRange created a moment ago gives pods their
// default requests and limits and refuses a container above its max.
func TestLimitRangerThroughAPI(t *testing.T) {
	env := admissiontest.Start(t)
	ctx := admissiontest.Context(t)
	core := env.Client.CoreV1()
	ns := env.Namespace(t)

	// Only default is set: API defaulting makes defaultRequest the same.
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:    corev1.LimitTypeContainer,
		Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Max:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
	}}}}
	if _, err := core.LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := core.Pods(ns).Create(ctx, admissiontest.Pod("p", nil, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := pod.Spec.Containers[0].Resources
	if cpu, mem := r.Limits[corev1.ResourceCPU], r.Requests[corev1.ResourceMemory]; cpu.String() != "500m" || mem.String() != "256Mi" {
		t.Errorf("resources %+v, want the defaults", r)
	}
	if got := pod.Annotations[limitranger.Annotation]; got != "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c" {
		t.Errorf("annotation %q", got)
	}

	big := admissiontest.Pod("big", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")})
	_, err = core.Pods(ns).Create(ctx, big, metav1.CreateOptions{})
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != 403 ||
		status.Status().Message != `pods "big" is forbidden: maximum cpu usage per Container is 2, but limit is 3` {
		t.Fatalf("got %v, want 403 maximum cpu usage per Container is 2, but limit is 3", err)
	}
}
