package apiserver

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The one-pass JSON decode takes the bodies clients send and leaves to the
// serializer every body whose errors, warnings or kind it must word.
func TestDecodeJSONFast(t *testing.T) {
	gvk := corev1.SchemeGroupVersion.WithKind("ConfigMap")
	for _, tc := range []struct {
		body string
		fast bool
	}{
		{`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a"},"data":{"k":"v"}}`, true},
		{`{"apiVersion":"v1","metadata":{"name":"a"}}`, false},                 // kind defaulted
		{`{"kind":"Secret","apiVersion":"v1","metadata":{"name":"a"}}`, false}, // another kind
		{`{"kind":"ConfigMap","apiVersion":"v1","KIND":"Secret"}`, false},      // differs only by case
		{`{"kind":"ConfigMap","apiVersion":"v1","data":{},"data":{}}`, false},  // duplicate field
		{`{"kind":"ConfigMap","apiVersion":"v1","unknown":1}`, false},          // unknown field
		{`{"kind":"ConfigMap","apiVersion":"v1","data":`, false},               // malformed
		{`null`, false},
	} {
		got := decodeJSONFast([]byte(tc.body), gvk, &corev1.ConfigMap{}) != nil
		if got != tc.fast {
			t.Errorf("%s: fast path %v, want %v", tc.body, got, tc.fast)
		}
	}
}
