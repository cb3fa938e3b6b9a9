// Package kinds lists every resource skiff serves with its strategy: the
// per-kind rules (status handling, generations, selectable fields, graceful
// deletion, address allocation, expiry) on top of the generic REST store.
package kinds

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/controlplane/apis/defaults"
	"skiff.dev/skiff/controlplane/apis/validation"
	"skiff.dev/skiff/controlplane/registry"
	"skiff.dev/skiff/controlplane/registry/allocator"
)

// Config carries the cluster settings some kinds need.
type Config struct {
	// ServiceIPs and NodePorts allocate services' cluster IPs (from the
	// service CIDR) and node ports.
	ServiceIPs *allocator.Range
	NodePorts  *allocator.Range
	// EventTTL is how long events live.
	EventTTL time.Duration
}

// Resources returns every served resource.
func Resources(c Config) []*registry.Resource {
	core, apps := corev1.SchemeGroupVersion, appsv1.SchemeGroupVersion
	all := []string{"all"}
	resources := []*registry.Resource{
		namespaces(),
		nodes(),
		pods(),
		services(c),
		simple(core, "Endpoints", "endpoints", "endpoints", []string{"ep"}, func() runtime.Object { return &corev1.Endpoints{} }, func() runtime.Object { return &corev1.EndpointsList{} }, true),
		simple(core, "ConfigMap", "configmaps", "configmap", []string{"cm"}, func() runtime.Object { return &corev1.ConfigMap{} }, func() runtime.Object { return &corev1.ConfigMapList{} }, false),
		secrets(),
		simple(core, "ServiceAccount", "serviceaccounts", "serviceaccount", []string{"sa"}, func() runtime.Object { return &corev1.ServiceAccount{} }, func() runtime.Object { return &corev1.ServiceAccountList{} }, false),
		workload(core, "ReplicationController", "replicationcontrollers", "replicationcontroller", []string{"rc"}, all,
			func() runtime.Object { return &corev1.ReplicationController{} }, func() runtime.Object { return &corev1.ReplicationControllerList{} }, rcScale, replicasField),
		withStatus(simple(core, "ResourceQuota", "resourcequotas", "resourcequota", []string{"quota"}, func() runtime.Object { return &corev1.ResourceQuota{} }, func() runtime.Object { return &corev1.ResourceQuotaList{} }, false)),
		simple(core, "LimitRange", "limitranges", "limitrange", []string{"limits"}, func() runtime.Object { return &corev1.LimitRange{} }, func() runtime.Object { return &corev1.LimitRangeList{} }, false),

		deployments(),
		workload(apps, "ReplicaSet", "replicasets", "replicaset", []string{"rs"}, all,
			func() runtime.Object { return &appsv1.ReplicaSet{} }, func() runtime.Object { return &appsv1.ReplicaSetList{} }, replicaSetScale, replicasField),
		workload(apps, "StatefulSet", "statefulsets", "statefulset", []string{"sts"}, all,
			func() runtime.Object { return &appsv1.StatefulSet{} }, func() runtime.Object { return &appsv1.StatefulSetList{} }, statefulSetScale, nil),
		workload(apps, "DaemonSet", "daemonsets", "daemonset", []string{"ds"}, all,
			func() runtime.Object { return &appsv1.DaemonSet{} }, func() runtime.Object { return &appsv1.DaemonSetList{} }, nil, nil),
		simple(apps, "ControllerRevision", "controllerrevisions", "controllerrevision", nil, func() runtime.Object { return &appsv1.ControllerRevision{} }, func() runtime.Object { return &appsv1.ControllerRevisionList{} }, false),

		jobs(),
		workload(autoscalingv2.SchemeGroupVersion, "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", []string{"hpa"}, all,
			func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }, func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} }, nil, nil),
		workload(policyv1.SchemeGroupVersion, "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", []string{"pdb"}, nil,
			func() runtime.Object { return &policyv1.PodDisruptionBudget{} }, func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} }, nil, nil),
		endpointSlices(),
		simple(coordinationv1.SchemeGroupVersion, "Lease", "leases", "lease", nil, func() runtime.Object { return &coordinationv1.Lease{} }, func() runtime.Object { return &coordinationv1.LeaseList{} }, false),
		priorityClasses(),
	}
	return append(resources, events(c)...)
}

// rules gives a strategy Kubernetes' defaulting and validation.
func rules(s registry.DefaultStrategy) registry.DefaultStrategy {
	s.Defaulter = defaults.Default
	s.Validator = validation.ValidateCreate
	s.UpdateValidator = validation.ValidateUpdate
	s.StatusValidator = validation.ValidateStatusUpdate
	return s
}

// simple is a namespaced resource with no rules of its own.
func simple(gv schema.GroupVersion, kind, plural, singular string, short []string, newFn, newList func() runtime.Object, createOnUpdate bool) *registry.Resource {
	return &registry.Resource{
		GroupVersion: gv, Kind: kind, Plural: plural, Singular: singular, Namespaced: true, ShortNames: short,
		New: newFn, NewList: newList,
		Strategy: ptr(rules(registry.DefaultStrategy{Namespaced: true, CreateOnUpdate: createOnUpdate})),
	}
}

// withStatus gives a simple resource a status subresource that the main
// resource does not write.
func withStatus(r *registry.Resource) *registry.Resource {
	s := r.Strategy.(*registry.DefaultStrategy)
	s.StatusSubresource, s.ResetStatusOnCreate = true, true
	r.Status = true
	return r
}

// workload is a namespaced resource with spec and status: status is reset
// on create and written only through /status, and spec changes bump the
// generation controllers observe.
func workload(gv schema.GroupVersion, kind, plural, singular string, short, categories []string, newFn, newList func() runtime.Object, scale *registry.ScaleAccessor, fields func(runtime.Object) fields.Set) *registry.Resource {
	st := ptr(rules(registry.DefaultStrategy{Namespaced: true, ResetStatusOnCreate: true, StatusSubresource: true, TrackGeneration: true, Fields: fields}))
	return &registry.Resource{
		GroupVersion: gv, Kind: kind, Plural: plural, Singular: singular, Namespaced: true,
		ShortNames: short, Categories: categories, New: newFn, NewList: newList,
		Strategy: st, Status: true, Scale: scale,
	}
}

func ptr[T any](v T) *T { return &v }

func jobs() *registry.Resource {
	r := workload(batchv1.SchemeGroupVersion, "Job", "jobs", "job", nil, []string{"all"},
		func() runtime.Object { return &batchv1.Job{} }, func() runtime.Object { return &batchv1.JobList{} }, nil, jobFields)
	r.Strategy = &jobStrategy{*r.Strategy.(*registry.DefaultStrategy)}
	return r
}

// jobStrategy generates a Job's selector and labels from its uid.
type jobStrategy struct {
	registry.DefaultStrategy
}

// PrepareForCreate implements registry.Strategy.
func (s *jobStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s.DefaultStrategy.PrepareForCreate(ctx, obj)
	defaults.GenerateJobSelector(obj.(*batchv1.Job))
}

func deployments() *registry.Resource {
	r := workload(appsv1.SchemeGroupVersion, "Deployment", "deployments", "deployment", []string{"deploy"}, []string{"all"},
		func() runtime.Object { return &appsv1.Deployment{} }, func() runtime.Object { return &appsv1.DeploymentList{} }, deploymentScale, nil)
	r.Strategy = &deploymentStrategy{*r.Strategy.(*registry.DefaultStrategy)}
	return r
}

// deploymentStrategy: as in Kubernetes, a Deployment's generation also
// moves when its annotations change (kubectl rollout undo goes through
// them), and its controller may write annotations (the revision) with its
// status.
type deploymentStrategy struct {
	registry.DefaultStrategy
}

// PrepareForUpdate implements registry.Strategy.
func (s *deploymentStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.DefaultStrategy.PrepareForUpdate(ctx, obj, old)
	d, prev := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	if d.Generation == prev.Generation && !apiequality.Semantic.DeepEqual(d.Annotations, prev.Annotations) {
		d.Generation++
	}
}

// PrepareForStatusUpdate implements registry.Strategy.
func (s *deploymentStrategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	annotations := obj.(*appsv1.Deployment).Annotations
	s.DefaultStrategy.PrepareForStatusUpdate(ctx, obj, old)
	obj.(*appsv1.Deployment).Annotations = annotations
}

func endpointSlices() *registry.Resource {
	r := simple(discoveryv1.SchemeGroupVersion, "EndpointSlice", "endpointslices", "endpointslice", nil,
		func() runtime.Object { return &discoveryv1.EndpointSlice{} }, func() runtime.Object { return &discoveryv1.EndpointSliceList{} }, false)
	r.Strategy = &endpointSliceStrategy{*r.Strategy.(*registry.DefaultStrategy)}
	return r
}

// endpointSliceStrategy: an EndpointSlice has no spec, but like Kubernetes
// it starts at generation 1 and moves on every change outside its
// metadata; the endpointslice controller reads it to tell when its cache
// is behind its own writes.
type endpointSliceStrategy struct {
	registry.DefaultStrategy
}

// PrepareForCreate implements registry.Strategy.
func (s *endpointSliceStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s.DefaultStrategy.PrepareForCreate(ctx, obj)
	obj.(*discoveryv1.EndpointSlice).Generation = 1
}

// PrepareForUpdate implements registry.Strategy.
func (s *endpointSliceStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.DefaultStrategy.PrepareForUpdate(ctx, obj, old)
	es, prev := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	es.Generation = prev.Generation
	if es.AddressType != prev.AddressType || !apiequality.Semantic.DeepEqual(es.Endpoints, prev.Endpoints) ||
		!apiequality.Semantic.DeepEqual(es.Ports, prev.Ports) {
		es.Generation++
	}
}
