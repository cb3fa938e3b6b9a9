package api

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// Namespaces the benchmark writes to.
const (
	nsObjects = "bench"      // creates, updates and gets
	nsList    = "bench-list" // exactly Options.ListSize objects, for lists
)

// objectName names the seq-th object of worker in phase; every name has the
// same length, so every object encodes to the same size.
func objectName(phase, worker, seq int) string {
	return fmt.Sprintf("o-%04d-%03d-%07d", phase%10000, worker%1000, seq%10000000)
}

// objects makes the benchmark's ConfigMaps: a label, a counter and a
// payload sized so that the object as stored in etcd is the target size.
type objects struct {
	payload string
}

func (o objects) configMap(ns, name string, seq int) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "skiff-bench"}},
		Data:       map[string]string{"seq": fmt.Sprintf("%08d", seq%100000000), "payload": o.payload},
	}
}

// sizes are the encoded sizes of one benchmark object.
type sizes struct {
	// Stored is the value in etcd (Kubernetes protobuf), the size the raw
	// etcd puts use.
	Stored int `json:"stored_bytes"`
	// Request is the JSON body of a create as client-go sends it.
	Request int `json:"request_json_bytes"`
	// Response is the body of a GET in the benchmark's wire format.
	Response int `json:"get_response_bytes"`
	// Payload is the length of the data value that pads the object.
	Payload int `json:"payload_bytes"`
}

// calibrate finds the payload that makes a stored object exactly want
// bytes (or as close as varint lengths allow), by creating probe objects
// and reading their values back from etcd.
func calibrate(ctx context.Context, api kubernetes.Interface, etcd *clientv3.Client, want int) (objects, sizes, error) {
	o := objects{payload: strings.Repeat("x", max(want-300, 1))}
	var sz sizes
	for i := range 6 {
		name := objectName(9999, 999, i)
		if _, err := api.CoreV1().ConfigMaps(nsObjects).Create(ctx, o.configMap(nsObjects, name, 0), metav1.CreateOptions{}); err != nil {
			return o, sz, fmt.Errorf("create probe object: %w", err)
		}
		key := "/registry/configmaps/" + nsObjects + "/" + name
		resp, err := etcd.Get(ctx, key)
		if err != nil {
			return o, sz, fmt.Errorf("read probe object from etcd: %w", err)
		}
		if len(resp.Kvs) != 1 {
			return o, sz, fmt.Errorf("probe object not found at etcd key %s", key)
		}
		raw, err := api.CoreV1().RESTClient().Get().Namespace(nsObjects).Resource("configmaps").Name(name).DoRaw(ctx)
		if err != nil {
			return o, sz, fmt.Errorf("get probe object: %w", err)
		}
		body, err := runtime.Encode(scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion), o.configMap(nsObjects, name, 0))
		if err != nil {
			return o, sz, fmt.Errorf("encode probe object: %w", err)
		}
		sz = sizes{Stored: len(resp.Kvs[0].Value), Request: len(body), Response: len(raw), Payload: len(o.payload)}
		if sz.Stored == want || i == 5 {
			break
		}
		o.payload = strings.Repeat("x", max(len(o.payload)+want-sz.Stored, 1))
	}
	return o, sz, nil
}
