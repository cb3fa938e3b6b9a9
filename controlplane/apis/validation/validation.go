// Package validation checks the k8s.io/api objects skiff serves the way
// kube-apiserver does before storing them, so that clients get the same
// 422 Invalid causes (field paths, error types and messages) from skiff as
// from Kubernetes.
//
// The rules mirror Kubernetes' own (pkg/apis/*/validation and the checks the
// registries add, such as immutable selectors), written against the
// versioned types. Objects are expected to be defaulted (package defaults)
// and to carry the fields the server fills before validation: on update the
// resourceVersion, on create a Job's uid and generated selector.
package validation

import (
	"fmt"
	"reflect"

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
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateCreate validates obj as it is about to be created. When the
// kind's own rules find nothing, the generic object metadata rules every
// resource shares run, as in kube-apiserver.
func ValidateCreate(obj runtime.Object) field.ErrorList {
	var errs field.ErrorList
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = validatePodCreate(o)
	case *corev1.Binding:
		errs = validateBinding(o)
	case *corev1.Service:
		errs = validateService(o)
	case *corev1.Endpoints:
		errs = validateEndpoints(o)
	case *corev1.ConfigMap:
		errs = validateConfigMap(o)
	case *corev1.Secret:
		errs = validateSecret(o)
	case *corev1.Event:
		errs = validateCoreEventCreate(o)
	case *corev1.ServiceAccount:
		errs = validateServiceAccount(o)
	case *corev1.ReplicationController:
		errs = validateReplicationController(o)
	case *corev1.ResourceQuota:
		errs = validateResourceQuota(o)
	case *corev1.LimitRange:
		errs = validateLimitRange(o)
	case *corev1.Namespace:
		errs = validateNamespace(o)
	case *corev1.Node:
		errs = validateNode(o)
	case *appsv1.Deployment:
		errs = validateDeployment(o)
	case *appsv1.ReplicaSet:
		errs = validateReplicaSet(o)
	case *appsv1.StatefulSet:
		errs = validateStatefulSet(o)
	case *appsv1.DaemonSet:
		errs = validateDaemonSet(o)
	case *appsv1.ControllerRevision:
		errs = validateControllerRevision(o)
	case *batchv1.Job:
		errs = validateJob(o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		errs = validateHorizontalPodAutoscaler(o, false)
	case *autoscalingv1.Scale:
		errs = validateScale(o)
	case *policyv1.PodDisruptionBudget:
		errs = validatePodDisruptionBudget(o)
	case *policyv1.Eviction:
		errs = validateEviction(o)
	case *discoveryv1.EndpointSlice:
		errs = validateEndpointSlice(o)
	case *coordinationv1.Lease:
		errs = validateLease(o)
	case *eventsv1.Event:
		errs = validateEventsEventCreate(o)
	case *schedulingv1.PriorityClass:
		errs = validatePriorityClass(o)
	default:
		return unsupported(obj, "create")
	}
	if len(errs) > 0 || subresource(obj) {
		return errs
	}
	return genericMeta(obj)
}

// ValidateUpdate validates obj as the replacement of old, which must be of
// the same type: the generic metadata rules, then the kind's own update
// rules (immutable fields and allowed transitions).
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	if errs := sameType(obj, old); errs != nil {
		return errs
	}
	var errs field.ErrorList
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = validatePodUpdate(o, old.(*corev1.Pod))
	case *corev1.Service:
		errs = validateServiceUpdate(o, old.(*corev1.Service))
	case *corev1.Endpoints:
		errs = validateEndpointsUpdate(o, old.(*corev1.Endpoints))
	case *corev1.ConfigMap:
		errs = validateConfigMapUpdate(o, old.(*corev1.ConfigMap))
	case *corev1.Secret:
		errs = validateSecretUpdate(o, old.(*corev1.Secret))
	case *corev1.Event:
		errs = validateCoreEventUpdate(o, old.(*corev1.Event))
	case *corev1.ServiceAccount:
		errs = validateServiceAccountUpdate(o, old.(*corev1.ServiceAccount))
	case *corev1.ReplicationController:
		errs = validateReplicationControllerUpdate(o, old.(*corev1.ReplicationController))
	case *corev1.ResourceQuota:
		errs = validateResourceQuotaUpdate(o, old.(*corev1.ResourceQuota))
	case *corev1.LimitRange:
		errs = validateLimitRangeUpdate(o, old.(*corev1.LimitRange))
	case *corev1.Namespace:
		errs = validateNamespaceUpdate(o, old.(*corev1.Namespace))
	case *corev1.Node:
		errs = validateNodeUpdate(o, old.(*corev1.Node))
	case *appsv1.Deployment:
		errs = validateDeploymentUpdate(o, old.(*appsv1.Deployment))
	case *appsv1.ReplicaSet:
		errs = validateReplicaSetUpdate(o, old.(*appsv1.ReplicaSet))
	case *appsv1.StatefulSet:
		errs = validateStatefulSetUpdate(o, old.(*appsv1.StatefulSet))
	case *appsv1.DaemonSet:
		errs = validateDaemonSetUpdate(o, old.(*appsv1.DaemonSet))
	case *appsv1.ControllerRevision:
		errs = validateControllerRevisionUpdate(o, old.(*appsv1.ControllerRevision))
	case *batchv1.Job:
		errs = validateJobUpdate(o, old.(*batchv1.Job))
	case *autoscalingv2.HorizontalPodAutoscaler:
		errs = validateHorizontalPodAutoscalerUpdate(o, old.(*autoscalingv2.HorizontalPodAutoscaler))
	case *autoscalingv1.Scale:
		errs = validateScale(o)
	case *policyv1.PodDisruptionBudget:
		errs = validatePodDisruptionBudgetUpdate(o, old.(*policyv1.PodDisruptionBudget))
	case *discoveryv1.EndpointSlice:
		errs = validateEndpointSliceUpdate(o, old.(*discoveryv1.EndpointSlice))
	case *coordinationv1.Lease:
		errs = validateLeaseUpdate(o, old.(*coordinationv1.Lease))
	case *eventsv1.Event:
		errs = validateEventsEventUpdate(o, old.(*eventsv1.Event))
	case *schedulingv1.PriorityClass:
		errs = validatePriorityClassUpdate(o, old.(*schedulingv1.PriorityClass))
	default:
		return unsupported(obj, "update")
	}
	if subresource(obj) {
		return errs
	}
	return dedupe(append(genericMetaUpdate(obj, old), errs...))
}

// ValidateStatusUpdate validates an update through the status subresource
// of the kinds that have one.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	if errs := sameType(obj, old); errs != nil {
		return errs
	}
	var errs field.ErrorList
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = validatePodStatusUpdate(o, old.(*corev1.Pod))
	case *corev1.Service:
		errs = validateServiceStatusUpdate(o, old.(*corev1.Service))
	case *corev1.ReplicationController:
		errs = validateReplicationControllerStatusUpdate(o, old.(*corev1.ReplicationController))
	case *corev1.ResourceQuota:
		errs = validateResourceQuotaStatusUpdate(o, old.(*corev1.ResourceQuota))
	case *corev1.Namespace:
		errs = validateNamespaceStatusUpdate(o, old.(*corev1.Namespace))
	case *corev1.Node:
		errs = validateNodeUpdate(o, old.(*corev1.Node))
	case *appsv1.Deployment:
		errs = validateDeploymentStatusUpdate(o, old.(*appsv1.Deployment))
	case *appsv1.ReplicaSet:
		errs = validateReplicaSetStatusUpdate(o, old.(*appsv1.ReplicaSet))
	case *appsv1.StatefulSet:
		errs = validateStatefulSetStatusUpdate(o, old.(*appsv1.StatefulSet))
	case *appsv1.DaemonSet:
		errs = validateDaemonSetStatusUpdate(o, old.(*appsv1.DaemonSet))
	case *batchv1.Job:
		errs = validateJobStatusUpdate(o, old.(*batchv1.Job))
	case *autoscalingv2.HorizontalPodAutoscaler:
		errs = validateHorizontalPodAutoscalerStatusUpdate(o, old.(*autoscalingv2.HorizontalPodAutoscaler))
	case *policyv1.PodDisruptionBudget:
		errs = validatePodDisruptionBudgetStatusUpdate(o, old.(*policyv1.PodDisruptionBudget))
	default:
		return unsupported(obj, "status update")
	}
	return dedupe(append(genericMetaUpdate(obj, old), errs...))
}

// subresource reports the kinds that are requests to a subresource
// (binding, eviction, scale) rather than stored objects: their handlers run
// only the kind's own rules, not the generic metadata checks.
func subresource(obj runtime.Object) bool {
	switch obj.(type) {
	case *corev1.Binding, *policyv1.Eviction, *autoscalingv1.Scale:
		return true
	}
	return false
}

// clusterScoped reports the kinds that live outside namespaces.
func clusterScoped(obj runtime.Object) bool {
	switch obj.(type) {
	case *corev1.Namespace, *corev1.Node, *schedulingv1.PriorityClass:
		return true
	}
	return false
}

// genericMeta is the metadata check kube-apiserver runs for every create
// once the kind's own validation passed: names only need to be usable as a
// path segment.
func genericMeta(obj runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return apimachineryvalidation.ValidateObjectMetaAccessor(m, !clusterScoped(obj), path.ValidatePathSegmentName, field.NewPath("metadata"))
}

// genericMetaUpdate is the metadata check kube-apiserver runs for every
// update before the kind's own.
func genericMetaUpdate(obj, old runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	o, err := meta.Accessor(old)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	fld := field.NewPath("metadata")
	errs := apimachineryvalidation.ValidateObjectMetaAccessor(m, !clusterScoped(obj), path.ValidatePathSegmentName, fld)
	return append(errs, apimachineryvalidation.ValidateObjectMetaAccessorUpdate(m, o, fld)...)
}

func sameType(obj, old runtime.Object) field.ErrorList {
	if reflect.TypeOf(obj) != reflect.TypeOf(old) {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("cannot validate %T as an update of %T", obj, old))}
	}
	return nil
}

func unsupported(obj runtime.Object, op string) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("no %s validation for %T", op, obj))}
}

// dedupe drops errors identical to an earlier one: the generic and the
// kind's metadata checks overlap on update.
func dedupe(errs field.ErrorList) field.ErrorList {
	seen := make(map[string]bool, len(errs))
	out := errs[:0]
	for _, e := range errs {
		key := e.Error()
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, e)
	}
	return out
}
