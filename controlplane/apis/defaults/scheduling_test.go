package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/utils/ptr"
)

func TestPriorityClassDefaults(t *testing.T) {
	for _, c := range []struct {
		name        string
		given, want *corev1.PreemptionPolicy
	}{
		{name: "unset preempts lower priority", want: ptr.To(corev1.PreemptLowerPriority)},
		{name: "Never is kept", given: ptr.To(corev1.PreemptNever), want: ptr.To(corev1.PreemptNever)},
		{name: "PreemptLowerPriority is kept", given: ptr.To(corev1.PreemptLowerPriority), want: ptr.To(corev1.PreemptLowerPriority)},
	} {
		t.Run(c.name, func(t *testing.T) {
			pc := &schedulingv1.PriorityClass{Value: 1000, PreemptionPolicy: c.given}
			Default(pc)
			same(t, "preemptionPolicy", pc.PreemptionPolicy, c.want)
			same(t, "value and globalDefault", []any{pc.Value, pc.GlobalDefault}, []any{int32(1000), false})
		})
	}
}
