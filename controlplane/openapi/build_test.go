package openapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"skiff.dev/skiff/controlplane/apis"
)

// object is a decoded JSON object.
type object = map[string]interface{}

// toJSON round-trips v through JSON, as a client sees the document.
func toJSON(t *testing.T, v interface{}) object {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out object
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// get walks a decoded JSON document along keys and fails if a key is missing.
func get(t *testing.T, v interface{}, keys ...string) interface{} {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(object)
		if !ok {
			t.Fatalf("%s: not an object", strings.Join(keys[:i], "."))
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%s: missing", strings.Join(keys[:i+1], "."))
		}
	}
	return v
}

// refs returns every $ref in a decoded JSON document.
func refs(v interface{}) []string {
	var out []string
	switch v := v.(type) {
	case object:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" {
				out = append(out, s)
			}
			out = append(out, refs(e)...)
		}
	case []interface{}:
		for _, e := range v {
			out = append(out, refs(e)...)
		}
	}
	return out
}

// requireResolved fails unless every $ref of doc names an entry of doc.
func requireResolved(t *testing.T, doc object) {
	t.Helper()
	all := refs(doc)
	if len(all) == 0 {
		t.Fatal("document has no references")
	}
	for _, ref := range all {
		keys := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		for i := range keys {
			keys[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(keys[i])
		}
		get(t, doc, keys...)
	}
}

// gvkList returns a definition's x-kubernetes-group-version-kind as "group/version/kind" strings.
func gvkList(t *testing.T, def interface{}) []string {
	t.Helper()
	var out []string
	for _, e := range get(t, def, extensionGVK).([]interface{}) {
		m := e.(object)
		out = append(out, m["group"].(string)+"/"+m["version"].(string)+"/"+m["kind"].(string))
	}
	return out
}

func TestV2Document(t *testing.T) {
	sw, err := BuildV2(served())
	if err != nil {
		t.Fatal(err)
	}
	doc := toJSON(t, sw)
	if got := get(t, doc, "swagger"); got != "2.0" {
		t.Errorf("swagger = %v, want 2.0", got)
	}
	requireResolved(t, doc)
	defs := get(t, doc, "definitions")

	containers := get(t, defs, "io.k8s.api.core.v1.PodSpec", "properties", "containers")
	if got := get(t, containers, "x-kubernetes-patch-merge-key"); got != "name" {
		t.Errorf("PodSpec.containers patch merge key = %v, want name", got)
	}
	if got := get(t, containers, "x-kubernetes-patch-strategy"); got != "merge" {
		t.Errorf("PodSpec.containers patch strategy = %v, want merge", got)
	}
	if got := gvkList(t, get(t, defs, "io.k8s.api.apps.v1.Deployment")); !slices.Equal(got, []string{"apps/v1/Deployment"}) {
		t.Errorf("Deployment kinds = %v", got)
	}
	if got := gvkList(t, get(t, defs, "io.k8s.apimachinery.pkg.apis.meta.v1.Status")); !slices.Equal(got, []string{"/v1/Status"}) {
		t.Errorf("Status kinds = %v", got)
	}
	for _, meta := range []string{"DeleteOptions", "WatchEvent"} {
		got := gvkList(t, get(t, defs, "io.k8s.apimachinery.pkg.apis.meta.v1."+meta))
		for _, want := range []string{"/v1/" + meta, "apps/v1/" + meta, "discovery.k8s.io/v1/" + meta} {
			if !slices.Contains(got, want) {
				t.Errorf("%s kinds %v lack %s", meta, got, want)
			}
		}
	}

	deployment := get(t, doc, "paths", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
	patch := get(t, deployment, "patch")
	if got := get(t, patch, "x-kubernetes-action"); got != "patch" {
		t.Errorf("patch action = %v", got)
	}
	if got := get(t, patch, "x-kubernetes-group-version-kind"); got.(object)["kind"] != "Deployment" || got.(object)["group"] != "apps" {
		t.Errorf("patch kind = %v", got)
	}
	consumes := get(t, patch, "consumes").([]interface{})
	for _, want := range []string{"application/strategic-merge-patch+json", "application/merge-patch+json", "application/json-patch+json", "application/apply-patch+yaml"} {
		if !slices.Contains(consumes, interface{}(want)) {
			t.Errorf("patch consumes %v, lacks %s", consumes, want)
		}
	}
	for method, action := range map[string]string{"get": "get", "put": "put", "delete": "delete"} {
		if got := get(t, deployment, method, "x-kubernetes-action"); got != action {
			t.Errorf("%s action = %v, want %s", method, got, action)
		}
	}
	collection := get(t, doc, "paths", "/apis/apps/v1/namespaces/{namespace}/deployments")
	for method, action := range map[string]string{"get": "list", "post": "post", "delete": "deletecollection"} {
		if got := get(t, collection, method, "x-kubernetes-action"); got != action {
			t.Errorf("collection %s action = %v, want %s", method, got, action)
		}
	}
	if got := get(t, doc, "paths", "/apis/apps/v1/deployments", "get", "operationId"); got != "listAppsV1DeploymentForAllNamespaces" {
		t.Errorf("all-namespaces list operation = %v", got)
	}
	scale := get(t, doc, "paths", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put")
	if got := get(t, scale, "x-kubernetes-group-version-kind").(object); got["group"] != "autoscaling" || got["kind"] != "Scale" {
		t.Errorf("scale kind = %v", got)
	}
	if got := get(t, scale, "operationId"); got != "replaceAppsV1NamespacedDeploymentScale" {
		t.Errorf("scale operation = %v", got)
	}
	log := get(t, doc, "paths", "/api/v1/namespaces/{namespace}/pods/{name}/log", "get")
	if got := get(t, log, "responses", "200", "schema", "type"); got != "string" {
		t.Errorf("log response type = %v", got)
	}
	if got := get(t, doc, "paths", "/api/v1/nodes/{name}/status", "get", "operationId"); got != "readCoreV1NodeStatus" {
		t.Errorf("node status operation = %v", got)
	}
}

func TestV3Documents(t *testing.T) {
	docs, err := BuildV3(served())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"api/v1", "apis/apps/v1", "apis/autoscaling/v2", "apis/batch/v1", "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1", "apis/events.k8s.io/v1", "apis/policy/v1", "apis/scheduling.k8s.io/v1"}
	var got []string
	for path, d := range docs {
		got = append(got, path)
		doc := toJSON(t, d)
		requireResolved(t, doc)
		for p := range get(t, doc, "paths").(object) {
			if !strings.HasPrefix(p, "/"+path+"/") {
				t.Errorf("document %s has path %s", path, p)
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("documents %v, want %v", got, want)
	}

	apps := toJSON(t, docs["apis/apps/v1"])
	containers := get(t, apps, "components", "schemas", "io.k8s.api.core.v1.PodSpec", "properties", "containers")
	if get(t, containers, "x-kubernetes-patch-merge-key") != "name" {
		t.Error("apps/v1 PodSpec.containers lacks its patch merge key")
	}
	patch := get(t, apps, "paths", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch")
	if _, ok := get(t, patch, "requestBody", "content").(object)["application/strategic-merge-patch+json"]; !ok {
		t.Error("Deployment patch does not take strategic merge patches")
	}

	// kubectl validates on the server (fieldValidation) and dry-runs there
	// only if the first PATCH operation of the kind it finds lists the
	// parameter among the operation's own parameters; so must every one.
	patches := 0
	for path, d := range docs {
		for p, item := range d.Paths.Paths {
			if item.Patch == nil {
				continue
			}
			patches++
			var names []string
			for _, param := range item.Patch.Parameters {
				names = append(names, param.Name)
			}
			for _, want := range []string{"fieldValidation", "dryRun", "fieldManager", "force"} {
				if !slices.Contains(names, want) {
					t.Errorf("%s: PATCH %s parameters %v lack %s", path, p, names, want)
				}
			}
			var gvk map[string]string
			if err := item.Patch.Extensions.GetObject(extensionGVK, &gvk); err != nil || gvk["kind"] == "" {
				t.Errorf("%s: PATCH %s has no kind: %v", path, p, err)
			}
		}
	}
	if patches == 0 {
		t.Error("no PATCH operations")
	}
}

func TestBuildRejectsBadResources(t *testing.T) {
	ok := Resource{GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("Deployment"), Plural: "deployments", Namespaced: true, Verbs: []string{"get"}}
	for name, r := range map[string]Resource{
		"unknown verb": {GroupVersionKind: ok.GroupVersionKind, Plural: "deployments", Verbs: []string{"frobnicate"}},
		"unknown kind": {GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("Frobnicator"), Plural: "frobnicators", Verbs: []string{"get"}},
		"no plural":    {GroupVersionKind: ok.GroupVersionKind, Verbs: []string{"get"}},
		"unknown subresource kind": {GroupVersionKind: ok.GroupVersionKind, Plural: "deployments", Verbs: []string{"get"},
			Subresources: []Subresource{{Name: "scale", GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("Scale"), Verbs: []string{"get"}}}},
		"unknown subresource verb": {GroupVersionKind: ok.GroupVersionKind, Plural: "deployments", Verbs: []string{"get"},
			Subresources: []Subresource{{Name: "status", Verbs: []string{"list"}}}},
	} {
		if _, err := BuildV2([]Resource{ok, r}); err == nil {
			t.Errorf("%s: BuildV2 succeeded", name)
		}
		if _, err := BuildV3([]Resource{ok, r}); err == nil {
			t.Errorf("%s: BuildV3 succeeded", name)
		}
	}
}

// TestDefinitionsAreClosed checks that the generated definitions include
// every type they reference, so no served document can be partial.
func TestDefinitionsAreClosed(t *testing.T) {
	defs := GetOpenAPIDefinitions(func(string) spec.Ref { return spec.Ref{} })
	for name, def := range defs {
		for _, dep := range def.Dependencies {
			if _, ok := defs[dep]; !ok {
				t.Errorf("%s references %s, which has no definition: add its package to the go:generate line", name, dep)
			}
		}
	}
}

func TestDefinitionNamer(t *testing.T) {
	n, err := newDefinitionNamer(apis.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	name, ext := n.GetDefinitionName("k8s.io/api/core/v1.Pod")
	if name != "io.k8s.api.core.v1.Pod" {
		t.Errorf("name = %s", name)
	}
	if got := gvkList(t, toJSON(t, ext)); !slices.Equal(got, []string{"/v1/Pod"}) {
		t.Errorf("Pod kinds = %v", got)
	}
	if name, ext := n.GetDefinitionName(corev1.PodSpec{}.OpenAPIModelName()); name != "io.k8s.api.core.v1.PodSpec" || ext != nil {
		t.Errorf("PodSpec: %s %v, want its name and no kinds", name, ext)
	}
}
