package kinds

import (
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/registry"
)

// priorityClasses are cluster-scoped and have no rules beyond validation;
// the Priority admission plugin keeps a single global default and the
// built-in classes (which the server creates at start) from being deleted.
func priorityClasses() *registry.Resource {
	return &registry.Resource{
		GroupVersion: schedulingv1.SchemeGroupVersion, Kind: "PriorityClass", Plural: "priorityclasses", Singular: "priorityclass",
		ShortNames: []string{"pc"},
		New:        func() runtime.Object { return &schedulingv1.PriorityClass{} },
		NewList:    func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		Strategy:   ptr(rules(registry.DefaultStrategy{})),
	}
}
