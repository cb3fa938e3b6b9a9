// Package registry holds the generic REST semantics of the apiserver over
// the object store: what happens on create, update, delete, list and watch
// for any kind (names, uids, timestamps, generations, resourceVersion
// checks, finalizers, graceful deletion, status and scale subresources,
// field ownership), with the per-kind rules plugged in as a Strategy.
package registry

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource describes one served resource: its names for discovery, its Go
// types and its rules.
type Resource struct {
	// GroupVersion is the served group version; Kind the object kind.
	GroupVersion schema.GroupVersion
	Kind         string
	// Plural and Singular are the resource names in URLs and discovery.
	Plural, Singular string
	Namespaced       bool
	ShortNames       []string
	Categories       []string
	// StoragePrefix is the etcd key prefix, "/registry/<plural>/" when
	// empty. Group versions that serve the same objects share one (events).
	StoragePrefix string
	// StorageVersion is the group version objects are kept in, when it is
	// not GroupVersion; the scheme converts between the two.
	StorageVersion schema.GroupVersion

	New     func() runtime.Object
	NewList func() runtime.Object

	Strategy Strategy

	// Status says the resource has a status subresource.
	Status bool
	// Scale, when set, serves the scale subresource.
	Scale *ScaleAccessor
	// Subresources names further subresources the apiserver serves for the
	// resource (binding, eviction, finalize, ...), for discovery.
	Subresources map[string]SubresourceInfo
	// Verbs overrides the default verbs in discovery.
	Verbs []string
}

// SubresourceInfo describes an extra subresource for discovery.
type SubresourceInfo struct {
	Kind         schema.GroupVersionKind
	Verbs        []string
	ClusterScope bool
}

// GroupVersionKind returns the resource's kind.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion.WithKind(r.Kind)
}

// GroupResource returns the qualified resource name used in errors.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.GroupVersion.Group, Resource: r.Plural}
}

// GroupVersionResource returns the resource's full name.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Plural)
}

// ScaleAccessor reads and writes the replica count behind the scale
// subresource of a workload.
type ScaleAccessor struct {
	// Get returns the Scale view of obj.
	Get func(obj runtime.Object) (*autoscalingv1.Scale, error)
	// SetReplicas sets obj's desired replica count.
	SetReplicas func(obj runtime.Object, replicas int32)
}
