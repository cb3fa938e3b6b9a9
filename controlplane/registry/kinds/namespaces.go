package kinds

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/registry"
)

// namespaceStrategy: a namespace starts Active with the "kubernetes"
// finalizer in spec.finalizers, turns Terminating on delete, and goes only
// when the namespace controller has emptied it and cleared that finalizer
// (PUT namespaces/{name}/finalize).
type namespaceStrategy struct {
	registry.DefaultStrategy
}

func namespaces() *registry.Resource {
	return &registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion, Kind: "Namespace", Plural: "namespaces", Singular: "namespace",
		ShortNames: []string{"ns"},
		New:        func() runtime.Object { return &corev1.Namespace{} },
		NewList:    func() runtime.Object { return &corev1.NamespaceList{} },
		Strategy: &namespaceStrategy{rules(registry.DefaultStrategy{
			StatusSubresource: true,
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
			},
		})},
		Status: true,
		Subresources: map[string]registry.SubresourceInfo{
			"finalize": {Kind: corev1.SchemeGroupVersion.WithKind("Namespace"), Verbs: []string{"update"}},
		},
	}
}

// PrepareForCreate makes the namespace Active with the kubernetes finalizer.
func (s *namespaceStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	if !hasFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

// PrepareForUpdate keeps spec.finalizers, which only /finalize changes,
// and /finalize changes nothing else.
func (s *namespaceStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.DefaultStrategy.PrepareForUpdate(ctx, obj, old)
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	if registry.SubresourceFrom(ctx) == "finalize" {
		finalizers := ns.Spec.Finalizers
		*ns = *oldNS.DeepCopy()
		ns.Spec.Finalizers = finalizers
		return
	}
	ns.Spec.Finalizers = oldNS.Spec.Finalizers
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

// PrepareForDelete implements registry.Finalizing.
func (s *namespaceStrategy) PrepareForDelete(obj runtime.Object) {
	obj.(*corev1.Namespace).Status.Phase = corev1.NamespaceTerminating
}

// HasPendingFinalizers implements registry.Finalizing.
func (s *namespaceStrategy) HasPendingFinalizers(obj runtime.Object) bool {
	return len(obj.(*corev1.Namespace).Spec.Finalizers) > 0
}

func hasFinalizer(list []corev1.FinalizerName, f corev1.FinalizerName) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}
