package openapi

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/apis"
)

func deploymentObject() *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
}

func newTypeConverter(t *testing.T) managedfields.TypeConverter {
	t.Helper()
	tc, err := NewTypeConverter()
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func TestTypeConverterConvertsObjects(t *testing.T) {
	tc := newTypeConverter(t)
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "app:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
		}}},
	}
	for _, obj := range []runtime.Object{pod, deploymentObject()} {
		typed, err := tc.ObjectToTyped(obj)
		if err != nil {
			t.Fatalf("%v: %v", obj.GetObjectKind().GroupVersionKind(), err)
		}
		back, err := tc.TypedToObject(typed)
		if err != nil {
			t.Fatal(err)
		}
		if got := back.(*unstructured.Unstructured).GetName(); got != "web" {
			t.Errorf("round trip name = %q", got)
		}
	}
}

func TestTypeConverterRejectsUnknownFields(t *testing.T) {
	tc := newTypeConverter(t)
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(deploymentObject())
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{Object: content}
	if err := unstructured.SetNestedField(obj.Object, int64(3), "spec", "replicaz"); err != nil {
		t.Fatal(err)
	}
	_, err = tc.ObjectToTyped(obj)
	if err == nil || !strings.Contains(err.Error(), "replicaz") {
		t.Fatalf("ObjectToTyped with spec.replicaz: err = %v, want it named", err)
	}
}

// TestTypeConverterKnowsServedKinds converts an object of every kind skiff
// serves: resources, lists and subresource kinds.
func TestTypeConverterKnowsServedKinds(t *testing.T) {
	tc := newTypeConverter(t)
	for _, r := range served() {
		kinds := []schema.GroupVersionKind{r.GroupVersionKind, r.GroupVersionKind.GroupVersion().WithKind(r.GroupVersionKind.Kind + "List")}
		for _, s := range r.Subresources {
			if !s.GroupVersionKind.Empty() {
				kinds = append(kinds, s.GroupVersionKind)
			}
		}
		for _, gvk := range kinds {
			obj, err := apis.Scheme.New(gvk)
			if err != nil {
				t.Fatal(err)
			}
			obj.GetObjectKind().SetGroupVersionKind(gvk)
			if _, err := tc.ObjectToTyped(obj); err != nil {
				t.Errorf("%v: %v", gvk, err)
			}
		}
	}
}
