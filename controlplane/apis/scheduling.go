package apis

import (
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The priority values and class names Kubernetes reserves
// (k8s.io/kubernetes/pkg/apis/scheduling).
const (
	// HighestUserDefinablePriority is the highest value a PriorityClass
	// that is not a system class may have.
	HighestUserDefinablePriority int32 = 1000000000
	// SystemCriticalPriority is the value of system-cluster-critical;
	// system-node-critical is 1000 higher.
	SystemCriticalPriority = 2 * HighestUserDefinablePriority
	// SystemPriorityClassPrefix starts the names reserved for the system
	// classes.
	SystemPriorityClassPrefix = "system-"
	// SystemClusterCritical and SystemNodeCritical name the system classes.
	SystemClusterCritical = SystemPriorityClassPrefix + "cluster-critical"
	SystemNodeCritical    = SystemPriorityClassPrefix + "node-critical"
)

// SystemPriorityClasses returns the built-in priority classes every
// cluster has, as kube-apiserver creates them at start. Each call returns
// new objects.
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	policy := func() *corev1.PreemptionPolicy {
		p := corev1.PreemptLowerPriority
		return &p
	}
	return []*schedulingv1.PriorityClass{
		{
			ObjectMeta:       metav1.ObjectMeta{Name: SystemNodeCritical},
			Value:            SystemCriticalPriority + 1000,
			Description:      "Used for system critical pods that must not be moved from their current node.",
			PreemptionPolicy: policy(),
		},
		{
			ObjectMeta:       metav1.ObjectMeta{Name: SystemClusterCritical},
			Value:            SystemCriticalPriority,
			Description:      "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
			PreemptionPolicy: policy(),
		},
	}
}

// SystemPriorityClass returns the built-in class of that name, or nil.
func SystemPriorityClass(name string) *schedulingv1.PriorityClass {
	for _, pc := range SystemPriorityClasses() {
		if pc.Name == name {
			return pc
		}
	}
	return nil
}
