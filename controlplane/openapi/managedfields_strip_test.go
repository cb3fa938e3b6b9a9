package openapi

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The type converter leaves metadata.managedFields out of a typed
// object's value, without changing the object, unless a field set names
// managedFields; old code converted them always, so this fails there.
func TestTypeConverterDropsManagedFields(t *testing.T) {
	tc := newTypeConverter(t)
	entry := func(raw string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: "m", Operation: metav1.ManagedFieldsOperationUpdate,
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(raw)}}
	}
	for _, tc2 := range []struct {
		name string
		raw  string
		want bool // managedFields in the typed value
	}{
		{"plain", `{"f:data":{"f:a":{}}}`, false},
		{"names managedFields", `{"f:metadata":{"f:managedFields":{}}}`, true},
	} {
		cm := &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "cfg", ManagedFields: []metav1.ManagedFieldsEntry{entry(tc2.raw)}},
			Data:       map[string]string{"a": "1"},
		}
		typed, err := tc.ObjectToTyped(cm)
		if err != nil {
			t.Fatalf("%s: %v", tc2.name, err)
		}
		m, ok := typed.AsValue().AsMap().Get("metadata")
		if !ok {
			t.Fatalf("%s: no metadata in %v", tc2.name, typed.AsValue())
		}
		_, has := m.AsMap().Get("managedFields")
		if has != tc2.want {
			t.Errorf("%s: managedFields in typed value = %v, want %v", tc2.name, has, tc2.want)
		}
		if len(cm.ManagedFields) != 1 || string(cm.ManagedFields[0].FieldsV1.Raw) != tc2.raw {
			t.Errorf("%s: object changed: %+v", tc2.name, cm.ManagedFields)
		}
	}
}
