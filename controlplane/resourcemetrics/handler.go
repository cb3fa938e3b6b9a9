package resourcemetrics

import (
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"skiff.dev/skiff/controlplane/apiserver"
)

// GroupVersion is the API the store serves.
var GroupVersion = metricsv1beta1.SchemeGroupVersion

// maxBody bounds a report: a node's pod list.
const maxBody = 8 << 20

// Group returns the apiserver group that serves s.
func Group(s *Store) apiserver.Group {
	read := metav1.Verbs{"get", "list"}
	return apiserver.Group{
		GroupVersion: GroupVersion,
		Resources: []metav1.APIResource{
			{Name: "nodes", Kind: "NodeMetrics", Verbs: append(read, "update")},
			{Name: "nodes/pods", Kind: "PodMetricsList", Verbs: metav1.Verbs{"update"}},
			{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: read},
		},
		Handler: &handler{store: s},
	}
}

type handler struct{ store *Store }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := apiserver.RequestInfoFrom(r)
	gr := schema.GroupResource{Group: GroupVersion.Group, Resource: info.Resource}
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		apiserver.WriteError(w, r, apierrors.NewBadRequest(fmt.Sprintf("labelSelector: %v", err)))
		return
	}
	switch {
	case info.Resource == "nodes" && info.Namespace == "" && info.Subresource == "" && info.Verb == "get":
		m, ok := h.store.Node(info.Name)
		if !ok {
			apiserver.WriteError(w, r, apierrors.NewNotFound(gr, info.Name))
			return
		}
		apiserver.WriteObject(w, r, GroupVersion, http.StatusOK, m)
	case info.Resource == "nodes" && info.Namespace == "" && info.Verb == "list":
		apiserver.WriteObject(w, r, GroupVersion, http.StatusOK, &metricsv1beta1.NodeMetricsList{Items: h.store.Nodes(sel)})
	case info.Resource == "nodes" && info.Name != "" && info.Subresource == "" && info.Verb == "update":
		var m metricsv1beta1.NodeMetrics
		if err := apiserver.DecodeBody(r, GroupVersion.WithKind("NodeMetrics"), &m, maxBody); err != nil {
			apiserver.WriteError(w, r, err)
			return
		}
		if m.Name != info.Name {
			apiserver.WriteError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the NodeMetrics (%s) does not match the name on the URL (%s)", m.Name, info.Name)))
			return
		}
		h.store.PutNode(&m)
		apiserver.WriteObject(w, r, GroupVersion, http.StatusOK, &m)
	case info.Resource == "nodes" && info.Name != "" && info.Subresource == "pods" && info.Verb == "update":
		var list metricsv1beta1.PodMetricsList
		if err := apiserver.DecodeBody(r, GroupVersion.WithKind("PodMetricsList"), &list, maxBody); err != nil {
			apiserver.WriteError(w, r, err)
			return
		}
		h.store.PutPods(info.Name, &list)
		apiserver.WriteObject(w, r, GroupVersion, http.StatusOK, &list)
	case info.Resource == "pods" && info.Name != "" && info.Verb == "get":
		m, ok := h.store.Pod(info.Namespace, info.Name)
		if !ok {
			apiserver.WriteError(w, r, apierrors.NewNotFound(gr, info.Name))
			return
		}
		apiserver.WriteObject(w, r, GroupVersion, http.StatusOK, m)
	case info.Resource == "pods" && info.Verb == "list":
		apiserver.WriteObject(w, r, GroupVersion, http.StatusOK, &metricsv1beta1.PodMetricsList{Items: h.store.Pods(info.Namespace, sel)})
	default:
		apiserver.WriteError(w, r, apierrors.NewMethodNotSupported(gr, info.Verb))
	}
}
