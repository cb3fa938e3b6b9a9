package openapi

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource is one served REST resource, as the apiserver's registry knows it.
type Resource struct {
	// GroupVersionKind is the kind stored at the resource, e.g. apps/v1
	// Deployment. Its list kind (DeploymentList) must be in apis.Scheme too.
	GroupVersionKind schema.GroupVersionKind
	// Plural is the resource's path segment, e.g. "deployments".
	Plural string
	// Namespaced says whether objects live under /namespaces/{namespace}.
	Namespaced bool
	// Verbs are the Kubernetes verbs served on the resource: get, list,
	// watch, create, update, patch, delete and deletecollection. As in
	// Kubernetes, list takes the watch parameter, and watch adds the
	// deprecated /watch/ paths (<root>/watch/namespaces/{namespace}/<plural>
	// and .../{name}, and <root>/watch/<plural> for namespaced resources).
	Verbs []string
	// Subresources are served below an object's path.
	Subresources []Subresource
}

// Subresource is a subresource of a Resource, e.g. deployments/scale.
type Subresource struct {
	// Name is the path segment after the object's name: status, scale,
	// binding, eviction, log.
	Name string
	// GroupVersionKind is the kind read and written at the subresource
	// (autoscaling/v1 Scale, policy/v1 Eviction); the zero value means the
	// resource's own kind, as for status.
	GroupVersionKind schema.GroupVersionKind
	// Verbs are get, update, patch and create (binding, eviction).
	Verbs []string
	// Options, when set, makes the subresource a plain-text read (pods/log
	// passes &corev1.PodLogOptions{}): its get returns text, and the fields of
	// Options are the get's query parameters.
	Options runtime.Object
}
