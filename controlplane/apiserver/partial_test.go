package apiserver_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

var configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func metadataClient(t *testing.T) metadata.Interface {
	t.Helper()
	mc, err := metadata.NewForConfig(shared.Config)
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func createConfigMap(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := shared.Client.CoreV1().ConfigMaps(ns).Create(testContext(t), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "partial"}},
		Data:       map[string]string{"payload": strings.Repeat("x", 100)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap %s: %v", name, err)
	}
	return cm
}

// The metadata client (protobuf) gets, lists page by page and watches
// the metadata of objects.
func TestMetadataClient(t *testing.T) {
	ns := namespace(t)
	ctx := testContext(t)
	var want []string
	for i := range 5 {
		want = append(want, createConfigMap(t, ns, fmt.Sprintf("cm-%d", i)).Name)
	}
	mc := metadataClient(t).Resource(configMapsGVR).Namespace(ns)

	got, err := mc.Get(ctx, "cm-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Name != "cm-1" || got.UID == "" || got.Labels["app"] != "partial" {
		t.Errorf("get: metadata %+v", got.ObjectMeta)
	}

	var names []string
	opts := metav1.ListOptions{Limit: 2}
	for pages := 1; ; pages++ {
		list, err := mc.List(ctx, opts)
		if err != nil {
			t.Fatalf("list page %d: %v", pages, err)
		}
		if len(list.Items) > 2 || list.ResourceVersion == "" {
			t.Fatalf("list page %d: %d items, resourceVersion %q", pages, len(list.Items), list.ResourceVersion)
		}
		for _, it := range list.Items {
			names = append(names, it.Name)
		}
		if list.Continue == "" {
			if pages != 3 {
				t.Errorf("list: %d pages, want 3", pages)
			}
			opts.ResourceVersion = list.ResourceVersion
			break
		}
		opts.Continue = list.Continue
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("list: %v, want %v", names, want)
	}

	w, err := mc.Watch(ctx, metav1.ListOptions{ResourceVersion: opts.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	createConfigMap(t, ns, "watched")
	if _, err := mc.Patch(ctx, "watched", "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"seen":"yes"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch: %v", err)
	}
	if err := mc.Delete(ctx, "watched", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	var events []string
	timeout := time.After(15 * time.Second)
	for len(events) < 3 {
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if !ok {
				t.Fatalf("watch: %s event with %T", ev.Type, ev.Object)
			}
			events = append(events, fmt.Sprintf("%s %s %s", ev.Type, p.Name, p.Labels["seen"]))
		case <-timeout:
			t.Fatalf("watch: events %v, want 3", events)
		}
	}
	wantEvents := []string{"ADDED watched ", "MODIFIED watched yes", "DELETED watched yes"}
	if !slices.Equal(events, wantEvents) {
		t.Errorf("watch: events %v, want %v", events, wantEvents)
	}
}

// A metadata informer sees objects come, change and go.
func TestMetadataInformer(t *testing.T) {
	ns := namespace(t)
	ctx := testContext(t)
	createConfigMap(t, ns, "before")
	inf := metadatainformer.NewFilteredMetadataInformer(metadataClient(t), configMapsGVR, ns, 0, cache.Indexers{}, nil).Informer()
	events := make(chan string, 10)
	name := func(obj any) string {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		p := obj.(*metav1.PartialObjectMetadata)
		return p.Name + " " + p.Labels["v"]
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { events <- "add " + name(o) },
		UpdateFunc: func(_, o any) { events <- "update " + name(o) },
		DeleteFunc: func(o any) { events <- "delete " + name(o) },
	}); err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	cms := shared.Client.CoreV1().ConfigMaps(ns)
	createConfigMap(t, ns, "after")
	if _, err := cms.Patch(ctx, "before", "application/merge-patch+json", []byte(`{"metadata":{"labels":{"v":"2"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "after", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"add before ", "add after ", "update before 2", "delete after "}
	var got []string
	timeout := time.After(15 * time.Second)
	for len(got) < len(want) {
		select {
		case e := <-events:
			got = append(got, e)
		case <-timeout:
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// Metadata as JSON, in both versions; representations that do not fit
// the request are 406s.
func TestPartialObjectMetadataJSON(t *testing.T) {
	ns := namespace(t)
	createConfigMap(t, ns, "cm")
	base := "/api/v1/namespaces/" + ns + "/configmaps"
	accept := func(kind, version string) string {
		return "application/json;as=" + kind + ";g=meta.k8s.io;v=" + version
	}
	cases := []struct {
		name, path, accept string
		code               int
		apiVersion, kind   string
	}{
		{"get", base + "/cm", accept("PartialObjectMetadata", "v1"), 200, "meta.k8s.io/v1", "PartialObjectMetadata"},
		{"get v1beta1", base + "/cm", accept("PartialObjectMetadata", "v1beta1"), 200, "meta.k8s.io/v1beta1", "PartialObjectMetadata"},
		{"list", base, accept("PartialObjectMetadataList", "v1"), 200, "meta.k8s.io/v1", "PartialObjectMetadataList"},
		{"list v1beta1", base, accept("PartialObjectMetadataList", "v1beta1"), 200, "meta.k8s.io/v1beta1", "PartialObjectMetadataList"},
		{"fallback", base + "/cm", accept("PartialObjectMetadata", "v2") + ", application/json", 200, "v1", "ConfigMap"},
		{"list as object", base, accept("PartialObjectMetadata", "v1"), 406, "v1", "Status"},
		{"object as list", base + "/cm", accept("PartialObjectMetadataList", "v1"), 406, "v1", "Status"},
		{"unknown as", base + "/cm", accept("Widget", "v1"), 406, "v1", "Status"},
		{"not found", base + "/gone", accept("PartialObjectMetadata", "v1"), 404, "v1", "Status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := getAccept(t, tc.path, tc.accept)
			if code != tc.code {
				t.Fatalf("code %d, want %d: %s", code, tc.code, body)
			}
			var out struct {
				APIVersion string            `json:"apiVersion"`
				Kind       string            `json:"kind"`
				Metadata   metav1.ObjectMeta `json:"metadata"`
				Data       map[string]string `json:"data"`
				Items      []struct {
					Kind     string            `json:"kind"`
					Metadata metav1.ObjectMeta `json:"metadata"`
					Data     map[string]string `json:"data"`
				} `json:"items"`
			}
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if out.APIVersion != tc.apiVersion || out.Kind != tc.kind {
				t.Errorf("got %s %s, want %s %s", out.APIVersion, out.Kind, tc.apiVersion, tc.kind)
			}
			switch tc.kind {
			case "PartialObjectMetadata":
				if out.Metadata.Name != "cm" || out.Metadata.UID == "" || out.Data != nil {
					t.Errorf("body %s", body)
				}
			case "PartialObjectMetadataList":
				if out.Metadata.ResourceVersion == "" || len(out.Items) != 1 || out.Items[0].Metadata.Name != "cm" ||
					out.Items[0].Kind != "PartialObjectMetadata" || out.Items[0].Data != nil {
					t.Errorf("body %s", body)
				}
			}
		})
	}
}

// getAccept GETs path with the admin credentials and an Accept header.
func getAccept(t *testing.T, path, accept string) (int, []byte) {
	t.Helper()
	var code int
	body, _ := shared.Client.CoreV1().RESTClient().Get().AbsPath(path).SetHeader("Accept", accept).
		Do(testContext(t)).StatusCode(&code).Raw()
	return code, body
}
