package statefulset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestParentAndOrdinal(t *testing.T) {
	for name, want := range map[string]int{"web-0": 0, "my-db-12": 12, "web": -1, "web-x": -1} {
		if _, ord := parentAndOrdinal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}); ord != want {
			t.Errorf("%s: ordinal %d, want %d", name, ord, want)
		}
	}
	if parent, _ := parentAndOrdinal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "my-db-12"}}); parent != "my-db" {
		t.Errorf("parent %q", parent)
	}
}

func TestNewVersionedPod(t *testing.T) {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "svc",
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1"}}}},
		},
	}
	updated := set.DeepCopy()
	updated.Spec.Template.Spec.Containers[0].Image = "v2"
	below := newVersionedPod(set, updated, "web-1", "web-2", 1)
	above := newVersionedPod(set, updated, "web-1", "web-2", 2)
	if below.Spec.Containers[0].Image != "v1" || podRevision(below) != "web-1" {
		t.Errorf("below the partition: %s at %s", below.Spec.Containers[0].Image, podRevision(below))
	}
	if above.Spec.Containers[0].Image != "v2" || podRevision(above) != "web-2" {
		t.Errorf("at the partition: %s at %s", above.Spec.Containers[0].Image, podRevision(above))
	}
	if above.Name != "web-2" || above.Spec.Hostname != "web-2" || above.Spec.Subdomain != "svc" ||
		above.Labels[appsv1.StatefulSetPodNameLabel] != "web-2" || above.Labels[appsv1.PodIndexLabel] != "2" ||
		!identityMatches(set, above) || !metav1.IsControlledBy(above, set) {
		t.Errorf("identity: %+v", above.ObjectMeta)
	}
}
