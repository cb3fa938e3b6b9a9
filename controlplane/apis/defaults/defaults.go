// Package defaults applies Kubernetes' defaulting rules to the k8s.io/api
// objects skiff serves, in place, the way kube-apiserver does after decoding
// a request body and before validating it.
//
// The rules mirror Kubernetes' own (pkg/apis/*/v1/defaults.go and the
// declarative +default markers in k8s.io/api) for the kinds registered in
// controlplane/apis. Values the server allocates (clusterIP, nodePort,
// ipFamilies, uid, a Job's generated selector) are not defaults and are left
// to the registry.
package defaults

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Default applies the Kubernetes defaults for obj's kind to obj in place.
// Kinds without defaults (Binding, Event, Lease, PodDisruptionBudget, ...)
// and unknown types are left unchanged.
func Default(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		pod(o)
	case *corev1.ReplicationController:
		replicationController(o)
	case *corev1.Service:
		service(o)
	case *corev1.Namespace:
		namespace(o)
	case *corev1.Node:
		node(o)
	case *corev1.Secret:
		secret(o)
	case *corev1.ConfigMap:
		configMap(o)
	case *corev1.Endpoints:
		endpoints(o)
	case *corev1.LimitRange:
		limitRange(o)
	case *corev1.ResourceQuota:
		resourceQuota(o)
	case *appsv1.Deployment:
		deployment(o)
	case *appsv1.ReplicaSet:
		replicaSet(o)
	case *appsv1.StatefulSet:
		statefulSet(o)
	case *appsv1.DaemonSet:
		daemonSet(o)
	case *batchv1.Job:
		job(o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		horizontalPodAutoscaler(o)
	case *discoveryv1.EndpointSlice:
		endpointSlice(o)
	case *schedulingv1.PriorityClass:
		priorityClass(o)
	}
}
