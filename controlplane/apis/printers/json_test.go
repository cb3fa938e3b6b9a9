package printers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"
	restclientwatch "k8s.io/client-go/rest/watch"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/apis"
)

// tableCodecs are apis' codecs with the meta.k8s.io/v1 Table types added,
// which the apiserver's scheme needs to encode Tables.
func tableCodecs(t *testing.T) (serializer.CodecFactory, runtime.SerializerInfo) {
	t.Helper()
	s := apis.NewScheme()
	if err := metav1.AddMetaToScheme(s); err != nil {
		t.Fatal(err)
	}
	codecs := serializer.NewCodecFactory(s)
	info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if !ok {
		t.Fatal("no JSON serializer")
	}
	return codecs, info
}

// encodeTable encodes obj as kube-apiserver writes a response converted to
// meta.k8s.io/v1.
func encodeTable(t *testing.T, obj runtime.Object) []byte {
	t.Helper()
	codecs, info := tableCodecs(t)
	var buf bytes.Buffer
	if err := codecs.EncoderForVersion(info.Serializer, metav1.SchemeGroupVersion).Encode(obj, &buf); err != nil {
		t.Fatalf("encode %T: %v", obj, err)
	}
	return buf.Bytes()
}

// decodeIntoTable is what kubectl get does with a response or watch event
// object (k8s.io/kubectl/pkg/cmd/get.decodeIntoTable): decode it as
// unstructured, convert to a metav1.Table, decode each row's object as
// unstructured.
func decodeIntoTable(t *testing.T, data []byte) *metav1.Table {
	t.Helper()
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, data)
	if err != nil {
		t.Fatalf("decode table: %v", err)
	}
	return unstructuredToTable(t, obj)
}

func unstructuredToTable(t *testing.T, obj runtime.Object) *metav1.Table {
	t.Helper()
	recognized := map[schema.GroupVersionKind]bool{
		{Group: "meta.k8s.io", Version: "v1beta1", Kind: "Table"}: true,
		{Group: "meta.k8s.io", Version: "v1", Kind: "Table"}:      true,
	}
	if gvk := obj.GetObjectKind().GroupVersionKind(); !recognized[gvk] {
		t.Fatalf("kubectl does not recognize %s as a Table", gvk)
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		t.Fatalf("decoded %T, want unstructured", obj)
	}
	table := &metav1.Table{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, table); err != nil {
		t.Fatalf("unstructured to table: %v", err)
	}
	for i := range table.Rows {
		row := &table.Rows[i]
		if row.Object.Raw == nil || row.Object.Object != nil {
			continue
		}
		converted, err := runtime.Decode(unstructured.UnstructuredJSONScheme, row.Object.Raw)
		if err != nil {
			t.Fatalf("decode row object: %v", err)
		}
		row.Object.Object = converted
	}
	return table
}

// TestJSONShape compares the encoded Table with the JSON kube-apiserver
// returns for "kubectl get pods" (descriptions elided; they are compared in
// TestColumnDefinitions).
func TestJSONShape(t *testing.T) {
	remaining := int64(5)
	web := pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)})
	web.Labels = map[string]string{"app": "web"}
	web.Spec.NodeName = "node-a"
	web.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}}
	done := with(pod(corev1.PodSucceeded, []corev1.ContainerStatus{terminated("Completed", 0, 0)}), func(p *corev1.Pod) { p.Name = "done" })
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "token", RemainingItemCount: &remaining}, Items: []corev1.Pod{*web, *done}}
	table, err := ConvertToTable(list, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}

	const want = `{
	  "kind": "Table",
	  "apiVersion": "meta.k8s.io/v1",
	  "metadata": {"resourceVersion": "42", "continue": "token", "remainingItemCount": 5},
	  "columnDefinitions": [
	    {"name": "Name", "type": "string", "format": "name", "description": "-", "priority": 0},
	    {"name": "Ready", "type": "string", "format": "", "description": "-", "priority": 0},
	    {"name": "Status", "type": "string", "format": "", "description": "-", "priority": 0},
	    {"name": "Restarts", "type": "string", "format": "", "description": "-", "priority": 0},
	    {"name": "Age", "type": "string", "format": "", "description": "-", "priority": 0},
	    {"name": "IP", "type": "string", "format": "", "description": "-", "priority": 1},
	    {"name": "Node", "type": "string", "format": "", "description": "-", "priority": 1},
	    {"name": "Nominated Node", "type": "string", "format": "", "description": "-", "priority": 1},
	    {"name": "Readiness Gates", "type": "string", "format": "", "description": "-", "priority": 1}
	  ],
	  "rows": [
	    {
	      "cells": ["web-1", "1/1", "Running", "0", "3h", "10.244.0.5", "node-a", "<none>", "<none>"],
	      "object": {
	        "kind": "PartialObjectMetadata",
	        "apiVersion": "meta.k8s.io/v1",
	        "metadata": {"name": "web-1", "namespace": "default", "uid": "uid-web-1", "resourceVersion": "7",
	                     "creationTimestamp": "2025-03-01T09:00:00Z", "labels": {"app": "web"}}
	      }
	    },
	    {
	      "cells": ["done", "0/1", "Completed", "0", "3h", "<none>", "<none>", "<none>", "<none>"],
	      "conditions": [{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}],
	      "object": {
	        "kind": "PartialObjectMetadata",
	        "apiVersion": "meta.k8s.io/v1",
	        "metadata": {"name": "done", "namespace": "default", "uid": "uid-web-1", "resourceVersion": "7",
	                     "creationTimestamp": "2025-03-01T09:00:00Z"}
	      }
	    }
	  ]
	}`
	compareJSON(t, encodeTable(t, table), want)

	// Integer cells are JSON numbers; includeObject=None leaves "object": null.
	d := &appsv1.Deployment{ObjectMeta: objectMeta("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}}
	table, err = ConvertToTable(d, Options{Now: clock, NoHeaders: true, IncludeObject: metav1.IncludeNone})
	if err != nil {
		t.Fatal(err)
	}
	compareJSON(t, encodeTable(t, table), `{
	  "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "7"},
	  "columnDefinitions": null,
	  "rows": [{"cells": ["web", "2/3", 3, 2, "3h", "", "", ""], "object": null}]
	}`)
}

// compareJSON compares data with want as JSON values, with every column
// description in data replaced by "-".
func compareJSON(t *testing.T, data []byte, want string) {
	t.Helper()
	var got, w map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("encoded table is not JSON: %v\n%s", err, data)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want: %v", err)
	}
	if cols, ok := got["columnDefinitions"].([]any); ok {
		for _, c := range cols {
			col := c.(map[string]any)
			if col["description"] == "" {
				t.Errorf("column %v has an empty description", col["name"])
			}
			col["description"] = "-"
		}
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("table JSON (-want +got):\n%s", diff)
	}
}

// TestKubectlDecodesTable decodes list responses the way kubectl get does
// and checks what it prints from them: the cells, and the name, namespace
// and creation time it reads from each row's object (for -A, --show-labels,
// -o name).
func TestKubectlDecodesTable(t *testing.T) {
	web := pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)})
	web.Labels = map[string]string{"app": "web"}
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42"}, Items: []corev1.Pod{*web}}

	for _, policy := range []metav1.IncludeObjectPolicy{metav1.IncludeMetadata, metav1.IncludeObject} {
		t.Run(string(policy), func(t *testing.T) {
			table, err := ConvertToTable(list, Options{Now: clock, IncludeObject: policy})
			if err != nil {
				t.Fatal(err)
			}
			got := decodeIntoTable(t, encodeTable(t, table))
			if got.ResourceVersion != "42" {
				t.Errorf("resourceVersion %q", got.ResourceVersion)
			}
			if h := headers(got, false); h != "NAME | READY | STATUS | RESTARTS | AGE" {
				t.Errorf("columns %s", h)
			}
			if c := cells(got.Rows[0]); c != "web-1 | 1/1 | Running | 0 | 3h | <none> | <none> | <none> | <none>" {
				t.Errorf("cells %s", c)
			}
			m, err := meta.Accessor(got.Rows[0].Object.Object)
			if err != nil {
				t.Fatalf("row object has no metadata: %v", err)
			}
			if m.GetName() != "web-1" || m.GetNamespace() != "default" || !m.GetCreationTimestamp().Time.Equal(web.CreationTimestamp.Time) || m.GetLabels()["app"] != "web" {
				t.Errorf("row object metadata: %s/%s created %v labels %v", m.GetNamespace(), m.GetName(), m.GetCreationTimestamp(), m.GetLabels())
			}
			wantKind := map[metav1.IncludeObjectPolicy]string{metav1.IncludeMetadata: "meta.k8s.io/v1, Kind=PartialObjectMetadata", metav1.IncludeObject: "/v1, Kind=Pod"}[policy]
			if gvk := got.Rows[0].Object.Object.GetObjectKind().GroupVersionKind().String(); gvk != wantKind {
				t.Errorf("row object kind %s, want %s", gvk, wantKind)
			}
		})
	}
}

// TestKubectlDecodesWatchTables streams watch events as kube-apiserver
// encodes them (each object converted to a Table, then framed in a
// WatchEvent) and reads them with client-go's watch decoder, as
// "kubectl get -w" does.
func TestKubectlDecodesWatchTables(t *testing.T) {
	codecs, info := tableCodecs(t)
	embedded := codecs.EncoderForVersion(info.Serializer, metav1.SchemeGroupVersion)
	conv := NewWatchConverter(Options{Now: clock})

	events := []watch.Event{
		{Type: watch.Added, Object: pod(corev1.PodPending, nil)},
		{Type: watch.Modified, Object: pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)})},
		{Type: watch.Deleted, Object: with(pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)}), func(p *corev1.Pod) { p.DeletionTimestamp = agoPtr(0) })},
		{Type: watch.Error, Object: &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired}},
	}
	var stream bytes.Buffer
	for _, e := range events {
		obj, err := conv.Convert(e.Object)
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		if err := embedded.Encode(obj, &raw); err != nil {
			t.Fatalf("encode %s event object: %v", e.Type, err)
		}
		if err := info.StreamSerializer.Serializer.Encode(&metav1.WatchEvent{Type: string(e.Type), Object: runtime.RawExtension{Raw: raw.Bytes()}}, &stream); err != nil {
			t.Fatalf("encode %s event: %v", e.Type, err)
		}
	}

	frames := info.StreamSerializer.Framer.NewFrameReader(io.NopCloser(&stream))
	dec := restclientwatch.NewDecoder(streaming.NewDecoder(frames, info.StreamSerializer.Serializer), unstructured.UnstructuredJSONScheme)
	want := []struct {
		typ     watch.EventType
		columns string
		cells   string
	}{
		{watch.Added, "NAME | READY | STATUS | RESTARTS | AGE", "web-1 | 0/0 | Pending | 0 | 3h | <none> | <none> | <none> | <none>"},
		{watch.Modified, "", "web-1 | 1/1 | Running | 0 | 3h | <none> | <none> | <none> | <none>"},
		{watch.Deleted, "", "web-1 | 1/1 | Terminating | 0 | 3h | <none> | <none> | <none> | <none>"},
	}
	for i, w := range want {
		typ, obj, err := dec.Decode()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if typ != w.typ {
			t.Errorf("event %d type %s, want %s", i, typ, w.typ)
		}
		table := unstructuredToTable(t, obj)
		if got := headers(table, false); got != w.columns {
			t.Errorf("event %d columns %q, want %q", i, got, w.columns)
		}
		if len(table.Rows) != 1 {
			t.Fatalf("event %d: %d rows", i, len(table.Rows))
		}
		if got := cells(table.Rows[0]); got != w.cells {
			t.Errorf("event %d cells %s, want %s", i, got, w.cells)
		}
		if m, err := meta.Accessor(table.Rows[0].Object.Object); err != nil || m.GetName() != "web-1" {
			t.Errorf("event %d row object: %v %v", i, m, err)
		}
	}
	typ, obj, err := dec.Decode()
	if err != nil {
		t.Fatalf("error event: %v", err)
	}
	if u, ok := obj.(*unstructured.Unstructured); typ != watch.Error || !ok || u.GetKind() != "Status" {
		t.Errorf("error event %s %s, want ERROR with a Status", typ, fmt.Sprint(obj))
	}
}
