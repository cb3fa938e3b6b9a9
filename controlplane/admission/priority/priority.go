// Package priority is Kubernetes' Priority admission plugin for pods: it
// resolves spec.priorityClassName into spec.priority (0 with no class,
// the values of the built-in system-cluster-critical and
// system-node-critical classes) and defaults spec.preemptionPolicy, and
// refuses a priority set by hand or an unknown class. PriorityClass
// objects (scheduling.k8s.io/v1) are not served yet, so only the
// built-in classes exist.
package priority

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/controlplane/admission"
)

// systemCritical is the priority of system-cluster-critical; node-critical
// pods get 1000 more (Kubernetes' scheduling.SystemCriticalPriority).
const systemCritical = 2000000000

// builtin are the system priority classes every cluster has.
var builtin = map[string]int32{
	"system-cluster-critical": systemCritical,
	"system-node-critical":    systemCritical + 1000,
}

// Plugin resolves pod priorities.
type Plugin struct{}

var _ admission.Mutator = Plugin{}

// Admit sets a new pod's priority and preemption policy.
func (Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Resource.GroupResource() != corev1.Resource("pods") || a.Subresource != "" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	value := int32(0)
	if name := pod.Spec.PriorityClassName; name != "" {
		v, ok := builtin[name]
		if !ok {
			return admission.NewForbidden(a, fmt.Errorf("no PriorityClass with name %s was found", name))
		}
		value = v
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return admission.NewForbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if pod.Spec.PreemptionPolicy == nil {
		policy := corev1.PreemptLowerPriority
		pod.Spec.PreemptionPolicy = &policy
	}
	return nil
}
