package garbagecollector

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// resource is a served resource the collector can watch and delete.
type resource struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}

// ignored are resources whose objects never own or depend on others, left
// unwatched to save memory (as Kubernetes does).
var ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:                 true,
	{Group: "events.k8s.io", Resource: "events"}:    true,
	{Group: "authentication.k8s.io", Resource: "*"}: true,
	{Group: "authorization.k8s.io", Resource: "*"}:  true,
	{Group: "metrics.k8s.io", Resource: "*"}:        true,
}

// discoverResources lists the served resources that can be listed,
// watched and deleted. It returns what it found even when some groups
// failed.
func discoverResources(d discovery.DiscoveryInterface) ([]resource, error) {
	lists, err := discovery.ServerPreferredResources(d)
	var out []resource
	for _, list := range lists {
		gv, perr := schema.ParseGroupVersion(list.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerbs(r.Verbs, "list", "watch", "delete") {
				continue
			}
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if ignored[gr] || ignored[schema.GroupResource{Group: gv.Group, Resource: "*"}] {
				continue
			}
			out = append(out, resource{gvr: gv.WithResource(r.Name), kind: r.Kind, namespaced: r.Namespaced})
		}
	}
	if err != nil {
		return out, fmt.Errorf("discover resources: %w", err)
	}
	return out, nil
}

func hasVerbs(verbs metav1.Verbs, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(verbs, w) {
			return false
		}
	}
	return true
}

// mapper resolves the kind of an owner reference to its resource.
type mapper map[schema.GroupKind]resource

func newMapper(resources []resource) mapper {
	m := mapper{}
	for _, r := range resources {
		m[schema.GroupKind{Group: r.gvr.Group, Kind: r.kind}] = r
	}
	return m
}

// forRef finds the resource of an owner reference's kind.
func (m mapper) forRef(apiVersion, kind string) (resource, bool) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return resource{}, false
	}
	r, ok := m[schema.GroupKind{Group: gv.Group, Kind: kind}]
	return r, ok
}

// stripMetadata is the informers' transform: the collector keeps only
// the metadata fields it reads (no labels, annotations or managed fields).
func stripMetadata(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		OwnerReferences: m.OwnerReferences, Finalizers: m.Finalizers, DeletionTimestamp: m.DeletionTimestamp,
	}}, nil
}
