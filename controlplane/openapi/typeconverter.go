package openapi

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/builder3"

	"skiff.dev/skiff/controlplane/apis"
)

// NewTypeConverter returns the converter between objects and the typed
// values of server-side apply for every kind in apis.Scheme, built from the
// same definitions the OpenAPI documents serve.
func NewTypeConverter() (managedfields.TypeConverter, error) {
	namer, err := newDefinitionNamer(apis.Scheme)
	if err != nil {
		return nil, err
	}
	schemas, err := builder3.BuildOpenAPIDefinitionsForResources(v3Config(namer), namer.kindNames()...)
	if err != nil {
		return nil, fmt.Errorf("build definitions of served kinds: %w", err)
	}
	tc, err := managedfields.NewTypeConverter(schemas, false)
	if err != nil {
		return nil, fmt.Errorf("build type converter: %w", err)
	}
	return tc, nil
}
