package openapi

import (
	"net/http"
	"strings"

	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
)

// Handler serves /openapi/v2 (JSON, and the protobuf client-go's discovery
// asks for), the /openapi/v3 discovery document and one v3 document per
// group version under /openapi/v3/. Responses carry ETags; a v3 document
// fetched with its current ?hash= is marked immutable.
type Handler struct {
	mux *http.ServeMux
}

// NewHandler builds the documents of the resources and returns their
// handler. The apiserver mounts it for the /openapi/ paths.
func NewHandler(resources []Resource) (*Handler, error) {
	v2, err := BuildV2(resources)
	if err != nil {
		return nil, err
	}
	v3, err := BuildV3(resources)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	handler.NewOpenAPIService(v2).RegisterOpenAPIVersionedService("/openapi/v2", mux)
	docs := handler3.NewOpenAPIService()
	for path, doc := range v3 {
		docs.UpdateGroupVersion(path, doc)
	}
	mux.HandleFunc("GET /openapi/v3", docs.HandleDiscovery)
	mux.HandleFunc("GET /openapi/v3/", func(w http.ResponseWriter, r *http.Request) {
		// handler3 answers an unknown group version with an empty 200.
		if _, ok := v3[strings.TrimPrefix(r.URL.Path, "/openapi/v3/")]; !ok {
			http.NotFound(w, r)
			return
		}
		docs.HandleGroupVersion(w, r)
	})
	return &Handler{mux: mux}, nil
}

// ServeHTTP serves the OpenAPI paths.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}
