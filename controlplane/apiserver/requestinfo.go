package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what a request path and method mean in API terms.
type requestInfo struct {
	// IsResourceRequest is false for /api, /apis, /version, /healthz...
	IsResourceRequest bool
	Path              string
	// Verb is get, list, watch, create, update, patch, delete or
	// deletecollection for resource requests; the lower-cased HTTP method
	// otherwise.
	Verb        string
	APIPrefix   string // "api" or "apis"
	APIGroup    string
	APIVersion  string
	Namespace   string
	Resource    string
	Subresource string
	Name        string
	// Parts are the path segments after the group version.
	Parts []string
	// known is set once the request is routed to a served resource; metrics
	// label only known resources, so that arbitrary paths cannot grow them.
	known bool
}

// namespaceSubresources are the subresources of namespaces themselves,
// which /namespaces/{name}/{x} means rather than a resource x in a
// namespace.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseRequestInfo classifies a request the way the Kubernetes apiserver
// does: /api/v1/... and /apis/{group}/{version}/..., optionally with a
// leading watch/ segment, then namespaces/{ns}/, then
// {resource}/{name}/{subresource}.
func parseRequestInfo(r *http.Request) *requestInfo {
	info := &requestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	parts := splitPath(r.URL.Path)
	if len(parts) < 2 || (parts[0] != "api" && parts[0] != "apis") {
		return info
	}
	info.APIPrefix = parts[0]
	parts = parts[1:]
	if info.APIPrefix == "apis" {
		if len(parts) < 2 {
			info.APIGroup = first(parts)
			return info
		}
		info.APIGroup, parts = parts[0], parts[1:]
	}
	info.APIVersion, parts = parts[0], parts[1:]
	if len(parts) == 0 {
		return info
	}
	info.IsResourceRequest = true

	watchPath := false
	if parts[0] == "watch" {
		watchPath, parts = true, parts[1:]
		if len(parts) == 0 {
			info.IsResourceRequest = false
			return info
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		}
	}
	info.Parts = parts
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	if info.Resource == "namespaces" {
		// /namespaces/{name} names the namespace object itself.
		info.Namespace = ""
		if len(parts) >= 2 {
			info.Name = parts[1]
		}
	}

	q := r.URL.Query()
	isWatch := watchPath || q.Get("watch") == "true" || q.Get("watch") == "1"
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case info.Name == "" && isWatch:
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		case isWatch:
			// Watching one object: a list watch filtered by name.
			info.Verb = "watch"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	}
	return info
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
