package apiserver

import (
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// RequestInfo is what a request means in API terms, for the handlers of
// Groups.
type RequestInfo struct {
	// Verb is get, list, watch, create, update, patch, delete or
	// deletecollection.
	Verb                                   string
	APIGroup, APIVersion                   string
	Namespace, Resource, Name, Subresource string
}

// RequestInfoFrom returns the parsed request info of a request the API
// handler routed.
func RequestInfoFrom(r *http.Request) RequestInfo {
	i := requestInfoFrom(r.Context())
	return RequestInfo{Verb: i.Verb, APIGroup: i.APIGroup, APIVersion: i.APIVersion,
		Namespace: i.Namespace, Resource: i.Resource, Name: i.Name, Subresource: i.Subresource}
}

// WriteObject answers r with obj as apiVersion gv, in the format the client
// negotiated (JSON, YAML or protobuf).
func WriteObject(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, code int, obj runtime.Object) {
	mt, err := negotiate(r, false)
	if err != nil {
		writeError(w, mediaType{}, err)
		return
	}
	writeObject(w, mt, gv, code, obj)
}

// WriteError answers r with err as a Kubernetes Status.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	mt, _ := negotiate(r, false)
	writeError(w, mt, err)
}

// DecodeBody decodes r's body (JSON, YAML or protobuf, by Content-Type)
// into into, defaulting its kind to gvk; limit bounds the body size.
func DecodeBody(r *http.Request, gvk schema.GroupVersionKind, into runtime.Object, limit int64) error {
	return decodeInto(r, gvk, into, limit)
}
