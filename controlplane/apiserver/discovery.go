package apiserver

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/controlplane/registry"
)

// defaultVerbs are what every store serves.
var defaultVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// serveDiscovery answers /api, /api/v1, /apis, /apis/{group} and
// /apis/{group}/{version}.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, info *requestInfo) {
	mt, err := negotiate(r, false)
	if err != nil {
		writeError(w, mediaType{}, err)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, mt, notFoundPath(r.URL.Path))
		return
	}
	switch {
	case info.APIPrefix == "" && strings.Trim(r.URL.Path, "/") == "api":
		writeObject(w, mt, metav1.Unversioned, http.StatusOK, &metav1.APIVersions{
			Versions:                   []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
		})
	case info.APIPrefix == "" && strings.Trim(r.URL.Path, "/") == "apis":
		list := &metav1.APIGroupList{}
		for _, g := range s.groups {
			if g.name != "" {
				list.Groups = append(list.Groups, apiGroup(g))
			}
		}
		writeObject(w, mt, metav1.Unversioned, http.StatusOK, list)
	case info.APIPrefix == "apis" && info.APIVersion == "" && s.hasGroup(info.APIGroup):
		for _, g := range s.groups {
			if g.name == info.APIGroup {
				group := apiGroup(g)
				writeObject(w, mt, metav1.Unversioned, http.StatusOK, &group)
			}
		}
	case info.APIVersion != "" && s.hasGroupVersion(info.APIGroup, info.APIVersion):
		gv := schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
		writeObject(w, mt, metav1.Unversioned, http.StatusOK, s.resourceList(gv))
	default:
		writeError(w, mt, notFoundPath(r.URL.Path))
	}
}

func apiGroup(g groupInfo) metav1.APIGroup {
	group := metav1.APIGroup{Name: g.name}
	for _, v := range g.versions {
		group.Versions = append(group.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g.name + "/" + v, Version: v})
	}
	group.PreferredVersion = group.Versions[0]
	return group
}

func (s *Server) hasGroup(group string) bool {
	for _, g := range s.groups {
		if g.name == group && group != "" {
			return true
		}
	}
	return false
}

func (s *Server) hasGroupVersion(group, version string) bool {
	for _, g := range s.groups {
		if g.name == group && contains(g.versions, version) {
			return group != "" || version == "v1"
		}
	}
	return false
}

// resourceList is the discovery document of a group version: each
// resource with its verbs and names, and each subresource.
func (s *Server) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{GroupVersion: gv.String()}
	for _, g := range s.cfg.Groups {
		if g.GroupVersion == gv {
			list.APIResources = append(list.APIResources, g.Resources...)
		}
	}
	var stores []*registry.Store
	for _, st := range s.cfg.Stores {
		if st.Resource.GroupVersion == gv {
			stores = append(stores, st)
		}
	}
	sort.Slice(stores, func(i, j int) bool { return stores[i].Resource.Plural < stores[j].Resource.Plural })
	for _, st := range stores {
		res := st.Resource
		verbs := defaultVerbs
		if res.Verbs != nil {
			verbs = res.Verbs
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.Plural, SingularName: res.Singular, Namespaced: res.Namespaced, Kind: res.Kind,
			Verbs: verbs, ShortNames: res.ShortNames, Categories: res.Categories,
		})
		if res.Status {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.Plural + "/status", Namespaced: res.Namespaced, Kind: res.Kind, Verbs: metav1.Verbs{"get", "patch", "update"},
			})
		}
		if res.Scale != nil {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.Plural + "/scale", Namespaced: res.Namespaced, Group: "autoscaling", Version: "v1", Kind: "Scale",
				Verbs: metav1.Verbs{"get", "patch", "update"},
			})
		}
		names := make([]string, 0, len(res.Subresources))
		for name := range res.Subresources {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			sub := res.Subresources[name]
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.Plural + "/" + name, Namespaced: res.Namespaced && !sub.ClusterScope,
				Group: sub.Kind.Group, Version: sub.Kind.Version, Kind: sub.Kind.Kind, Verbs: sub.Verbs,
			})
		}
	}
	return list
}

// writeJSON writes v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
