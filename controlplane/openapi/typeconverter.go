package openapi

import (
	"bytes"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/builder3"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

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
	return withoutManagedFields{tc}, nil
}

// withoutManagedFields converts typed objects without their
// metadata.managedFields. The field manager always replaces an object's
// managedFields with the ones it computes, and no field set it tracks
// holds a path inside them, so their typed value only costs: each entry's
// fieldsV1 converts by a JSON round trip, which was the larger part of
// the field manager's work on every update. An object whose managedFields
// mention such a path (only a client writing managedFields by hand can
// make one) converts whole, so that the comparison sees those paths go
// as it always did.
type withoutManagedFields struct {
	managedfields.TypeConverter
}

// ObjectToTyped implements managedfields.TypeConverter.
func (c withoutManagedFields) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	return c.TypeConverter.ObjectToTyped(stripManagedFields(obj), opts...)
}

// managedFieldsPath is how a field set names metadata.managedFields.
var managedFieldsPath = []byte(`"f:managedFields"`)

// stripManagedFields returns a shallow copy of a typed object without its
// managedFields, or obj itself when it has none, is unstructured or has a
// field set naming managedFields.
func stripManagedFields(obj runtime.Object) runtime.Object {
	if _, ok := obj.(runtime.Unstructured); ok {
		return obj
	}
	m, err := meta.Accessor(obj)
	if err != nil || len(m.GetManagedFields()) == 0 {
		return obj
	}
	for _, e := range m.GetManagedFields() {
		if e.FieldsV1 != nil && bytes.Contains(e.FieldsV1.Raw, managedFieldsPath) {
			return obj
		}
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return obj
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	out, ok := cp.Interface().(runtime.Object)
	if !ok {
		return obj
	}
	cm, err := meta.Accessor(out)
	if err != nil || cm == m {
		// Metadata behind a pointer would be shared with obj.
		return obj
	}
	cm.SetManagedFields(nil)
	return out
}
