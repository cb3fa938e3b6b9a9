package openapi

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// served is the resource list skiff's apiserver serves, as its registry
// would pass it in.
func served() []Resource {
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	status := Subresource{Name: "status", Verbs: []string{"get", "update", "patch"}}
	scale := Subresource{Name: "scale", GroupVersionKind: autoscalingv1.SchemeGroupVersion.WithKind("Scale"), Verbs: []string{"get", "update", "patch"}}
	res := func(gv schema.GroupVersion, kind, plural string, namespaced bool, subs ...Subresource) Resource {
		return Resource{GroupVersionKind: gv.WithKind(kind), Plural: plural, Namespaced: namespaced, Verbs: all, Subresources: subs}
	}
	core, apps := corev1.SchemeGroupVersion, appsv1.SchemeGroupVersion
	return []Resource{
		res(core, "Namespace", "namespaces", false, status),
		res(core, "Node", "nodes", false, status),
		res(core, "Pod", "pods", true, status,
			Subresource{Name: "binding", GroupVersionKind: core.WithKind("Binding"), Verbs: []string{"create"}},
			Subresource{Name: "eviction", GroupVersionKind: policyv1.SchemeGroupVersion.WithKind("Eviction"), Verbs: []string{"create"}},
			Subresource{Name: "log", Verbs: []string{"get"}, Options: &corev1.PodLogOptions{}}),
		res(core, "Service", "services", true, status),
		res(core, "Endpoints", "endpoints", true),
		res(core, "ConfigMap", "configmaps", true),
		res(core, "Secret", "secrets", true),
		res(core, "Event", "events", true),
		res(core, "ServiceAccount", "serviceaccounts", true),
		res(core, "ReplicationController", "replicationcontrollers", true, status, scale),
		res(core, "ResourceQuota", "resourcequotas", true, status),
		res(core, "LimitRange", "limitranges", true),
		res(apps, "Deployment", "deployments", true, status, scale),
		res(apps, "ReplicaSet", "replicasets", true, status, scale),
		res(apps, "StatefulSet", "statefulsets", true, status, scale),
		res(apps, "DaemonSet", "daemonsets", true, status),
		res(apps, "ControllerRevision", "controllerrevisions", true),
		res(batchv1.SchemeGroupVersion, "Job", "jobs", true, status),
		res(autoscalingv2.SchemeGroupVersion, "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, status),
		res(policyv1.SchemeGroupVersion, "PodDisruptionBudget", "poddisruptionbudgets", true, status),
		res(discoveryv1.SchemeGroupVersion, "EndpointSlice", "endpointslices", true),
		res(coordinationv1.SchemeGroupVersion, "Lease", "leases", true),
		res(eventsv1.SchemeGroupVersion, "Event", "events", true),
		res(schedulingv1.SchemeGroupVersion, "PriorityClass", "priorityclasses", false),
	}
}
