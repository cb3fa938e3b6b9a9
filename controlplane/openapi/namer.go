package openapi

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// extensionGVK tags a definition with the kinds it is the schema of, and an
// operation with the kind it reads or writes.
const extensionGVK = "x-kubernetes-group-version-kind"

// definitionNamer names definitions as Kubernetes does and tags the
// definitions of the scheme's kinds with their group-version-kinds.
type definitionNamer struct {
	kinds map[string][]schema.GroupVersionKind // by definition name
}

// newDefinitionNamer indexes the external kinds of s by definition name. A Go
// type registered under several group versions (DeleteOptions, WatchEvent)
// gets all of them, sorted by group, version and kind.
func newDefinitionNamer(s *runtime.Scheme) (*definitionNamer, error) {
	n := &definitionNamer{kinds: map[string][]schema.GroupVersionKind{}}
	for gvk := range s.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		name, err := s.ToOpenAPIDefinitionName(gvk)
		if err != nil {
			return nil, fmt.Errorf("definition name of %v: %w", gvk, err)
		}
		n.kinds[name] = append(n.kinds[name], gvk)
	}
	for _, gvks := range n.kinds {
		slices.SortFunc(gvks, func(a, b schema.GroupVersionKind) int {
			return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Kind, b.Kind))
		})
	}
	return n, nil
}

// GetDefinitionName returns the REST-friendly name of a definition
// (k8s.io/api/core/v1.Pod becomes io.k8s.api.core.v1.Pod; generated model
// names already are) and, for a kind, its x-kubernetes-group-version-kind.
// The extension is a []interface{} of maps, the shape managedfields reads.
func (n *definitionNamer) GetDefinitionName(name string) (string, spec.Extensions) {
	if strings.Contains(name, "/") {
		name = util.ToRESTFriendlyName(name)
	}
	gvks, ok := n.kinds[name]
	if !ok {
		return name, nil
	}
	list := make([]interface{}, 0, len(gvks))
	for _, gvk := range gvks {
		list = append(list, map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
	}
	return name, spec.Extensions{extensionGVK: list}
}

// kindNames returns the definition names of all kinds, sorted.
func (n *definitionNamer) kindNames() []string {
	names := make([]string, 0, len(n.kinds))
	for name := range n.kinds {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
