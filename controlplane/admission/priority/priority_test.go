package priority

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"skiff.dev/skiff/controlplane/admission"
)

func admit(pod *corev1.Pod) error {
	return Plugin{}.Admit(context.Background(), &admission.Attributes{
		Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: pod, Name: "p",
	})
}

func TestPriority(t *testing.T) {
	for _, c := range []struct {
		name      string
		class     string
		given     *int32
		want      int32
		forbidden string
	}{
		{name: "no class", want: 0},
		{name: "node critical", class: "system-node-critical", want: 2000001000},
		{name: "cluster critical", class: "system-cluster-critical", want: 2000000000},
		{name: "unknown class", class: "gold", forbidden: "no PriorityClass with name gold was found"},
		{name: "hand-set priority", given: ptr(int32(7)), forbidden: "the integer value of priority (7) must not be provided"},
		{name: "hand-set matching priority", given: ptr(int32(0)), want: 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: c.class, Priority: c.given}}
			err := admit(pod)
			if c.forbidden != "" {
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), c.forbidden) {
					t.Fatalf("got %v, want 403 %q", err, c.forbidden)
				}
				return
			}
			if err != nil || pod.Spec.Priority == nil || *pod.Spec.Priority != c.want || pod.Spec.PreemptionPolicy == nil || *pod.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
				t.Fatalf("err %v priority %v policy %v, want %d", err, pod.Spec.Priority, pod.Spec.PreemptionPolicy, c.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
