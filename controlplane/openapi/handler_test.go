package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"
)

// newServer serves the handler of the served resources over HTTP and
// returns client-go's discovery client for it.
func newServer(t *testing.T) (*httptest.Server, *discovery.DiscoveryClient) {
	t.Helper()
	h, err := NewHandler(served())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return srv, client
}

func TestDiscoveryClientReadsV2Protobuf(t *testing.T) {
	_, client := newServer(t)
	doc, err := client.OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	var names []string
	for _, d := range doc.GetDefinitions().GetAdditionalProperties() {
		names = append(names, d.GetName())
	}
	if !slices.Contains(names, "io.k8s.api.apps.v1.Deployment") {
		t.Fatalf("v2 protobuf document lacks io.k8s.api.apps.v1.Deployment among %d definitions", len(names))
	}
	// kubectl's fallback when v3 is missing: patch metadata from the v2 models.
	models, err := proto.NewOpenAPIData(doc)
	if err != nil {
		t.Fatal(err)
	}
	deployment := models.LookupModel("io.k8s.api.apps.v1.Deployment")
	if deployment == nil {
		t.Fatal("v2 models lack Deployment")
	}
	requireContainersMergedByName(t, strategicpatch.NewPatchMetaFromOpenAPI(deployment))
}

func TestOpenAPIV3ThroughClientGo(t *testing.T) {
	_, client := newServer(t)
	root := openapi3.NewRoot(client.OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(gvs, appsv1.SchemeGroupVersion) || !slices.Contains(gvs, corev1.SchemeGroupVersion) {
		t.Fatalf("group versions %v lack apps/v1 or v1", gvs)
	}
	apps, err := root.GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatalf("GVSpec(apps/v1): %v", err)
	}
	// Find the schema by its kind, as kubectl apply and explain do.
	deployment := schemaOfKind(t, apps, appsv1.SchemeGroupVersion.WithKind("Deployment"))
	if _, ok := deployment.Properties["spec"]; !ok {
		t.Fatal("Deployment schema has no spec")
	}
	requireContainersMergedByName(t, strategicpatch.PatchMetaFromOpenAPIV3{Schema: deployment, SchemaList: apps.Components.Schemas})

	core, err := root.GVSpec(corev1.SchemeGroupVersion)
	if err != nil {
		t.Fatalf("GVSpec(v1): %v", err)
	}
	schemaOfKind(t, core, corev1.SchemeGroupVersion.WithKind("Pod"))
}

// TestClientGoTypeConverter builds client-go's type converter from the
// served v3 documents, as client-side tooling for server-side apply does.
func TestClientGoTypeConverter(t *testing.T) {
	_, client := newServer(t)
	tc, err := openapi.NewTypeConverter(client.OpenAPIV3(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.ObjectToTyped(deploymentObject()); err != nil {
		t.Fatalf("Deployment: %v", err)
	}
}

func TestHandlerCaching(t *testing.T) {
	srv, _ := newServer(t)
	get := func(path string, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	v2 := get("/openapi/v2", "Accept", "application/json")
	if v2.StatusCode != http.StatusOK || v2.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/openapi/v2: %s %s", v2.Status, v2.Header.Get("Content-Type"))
	}
	etag := v2.Header.Get("ETag")
	if etag == "" {
		t.Fatal("/openapi/v2 has no ETag")
	}
	if resp := get("/openapi/v2", "Accept", "application/json", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("/openapi/v2 with its ETag: %s, want 304", resp.Status)
	}

	var disco struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(get("/openapi/v3").Body).Decode(&disco); err != nil {
		t.Fatal(err)
	}
	url := disco.Paths["apis/apps/v1"].ServerRelativeURL
	if !strings.HasPrefix(url, "/openapi/v3/apis/apps/v1?hash=") {
		t.Fatalf("apps/v1 URL = %q", url)
	}
	resp := get(url)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("%s: %s, Cache-Control %q", url, resp.Status, resp.Header.Get("Cache-Control"))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"io.k8s.api.apps.v1.Deployment"`) {
		t.Error("apps/v1 document lacks Deployment")
	}
	if resp := get("/openapi/v3/apis/nope/v1"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown group version: %s, want 404", resp.Status)
	}
}

// schemaOfKind returns the schema whose x-kubernetes-group-version-kind
// lists gvk.
func schemaOfKind(t *testing.T, doc *spec3.OpenAPI, gvk schema.GroupVersionKind) *spec.Schema {
	t.Helper()
	for _, s := range doc.Components.Schemas {
		list, _ := s.Extensions[extensionGVK].([]interface{})
		for _, e := range list {
			m, _ := e.(map[string]interface{})
			if m["group"] == gvk.Group && m["version"] == gvk.Version && m["kind"] == gvk.Kind {
				return s
			}
		}
	}
	t.Fatalf("no schema of kind %v", gvk)
	return nil
}

// requireContainersMergedByName runs kubectl apply's three-way strategic
// merge with the given patch metadata: the last-applied manifest had one
// container, someone added a sidecar to the live object, and the new
// manifest changes the first container's image. Merging containers by name
// keeps the sidecar; replacing the list would drop it.
func requireContainersMergedByName(t *testing.T, meta strategicpatch.LookupPatchMeta) {
	t.Helper()
	manifest := func(containers string) []byte {
		b, err := yaml.YAMLToJSON([]byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  template:
    spec:
      containers: ` + containers))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	original := manifest(`[{name: app, image: "app:1"}]`)
	current := manifest(`[{name: app, image: "app:1"}, {name: sidecar, image: "sidecar:1"}]`)
	modified := manifest(`[{name: app, image: "app:2"}]`)
	patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, false)
	if err != nil {
		t.Fatalf("three-way patch: %v", err)
	}
	merged, err := strategicpatch.StrategicMergePatchUsingLookupPatchMeta(current, patch, meta)
	if err != nil {
		t.Fatalf("apply patch %s: %v", patch, err)
	}
	var got appsv1.Deployment
	if err := json.Unmarshal(merged, &got); err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, c := range got.Spec.Template.Spec.Containers {
		images = append(images, c.Name+"="+c.Image)
	}
	if want := []string{"app=app:2", "sidecar=sidecar:1"}; !slices.Equal(images, want) {
		t.Fatalf("containers after apply = %v, want %v (patch %s)", images, want, patch)
	}
}
