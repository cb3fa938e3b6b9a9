package apiserver_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The status subresource changes only status; the main resource ignores
// status; the generation follows spec changes only.
func TestStatusSubresource(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	deps := shared.Client.AppsV1().Deployments(ns)
	d := twoContainerDeployment("d")
	d.Status.Replicas = 5 // ignored on create
	d, err := deps.Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.Replicas != 0 || d.Generation != 1 {
		t.Fatalf("create: status %+v generation %d, want empty status and generation 1", d.Status, d.Generation)
	}

	d.Status.Replicas, d.Status.ObservedGeneration = 3, 1
	d.Spec.Template.Spec.Containers[0].Image = "ignored:9"
	d.Labels = map[string]string{"ignored": "yes"}
	st, err := deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Replicas != 3 || st.Spec.Template.Spec.Containers[0].Image != "app:1" || st.Labels["ignored"] != "" || st.Generation != 1 {
		t.Fatalf("status update: status %+v image %s labels %v generation %d", st.Status, st.Spec.Template.Spec.Containers[0].Image, st.Labels, st.Generation)
	}

	st.Status.Replicas = 0
	st.Labels = map[string]string{"kept": "yes"}
	up, err := deps.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if up.Status.Replicas != 3 || up.Labels["kept"] != "yes" || up.Generation != 1 {
		t.Fatalf("metadata-only update: status %+v labels %v generation %d, want status kept and generation 1", up.Status, up.Labels, up.Generation)
	}
	up.Spec.Template.Spec.Containers[0].Image = "app:2"
	if up, err = deps.Update(ctx, up, metav1.UpdateOptions{}); err != nil || up.Generation != 2 {
		t.Fatalf("spec update: %v, generation %d, want 2", err, up.Generation)
	}
	// Status patches work too.
	p, err := deps.Patch(ctx, "d", types.MergePatchType, []byte(`{"status":{"readyReplicas":2}}`), metav1.PatchOptions{}, "status")
	if err != nil || p.Status.ReadyReplicas != 2 || p.Status.Replicas != 3 {
		t.Fatalf("status patch: %v %+v", err, p.Status)
	}
}

// The scale subresource reads and writes spec.replicas through
// autoscaling/v1 Scale, with the selector kubectl and autoscalers need.
func TestScaleSubresource(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	if _, err := shared.Client.AppsV1().Deployments(ns).Create(ctx, twoContainerDeployment("d"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sc, err := shared.Client.AppsV1().Deployments(ns).GetScale(ctx, "d", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Spec.Replicas != 1 || sc.Status.Selector != "app=d" {
		t.Fatalf("scale: %+v", sc)
	}
	sc.Spec.Replicas = 4
	if sc, err = shared.Client.AppsV1().Deployments(ns).UpdateScale(ctx, "d", sc, metav1.UpdateOptions{}); err != nil || sc.Spec.Replicas != 4 {
		t.Fatalf("update scale: %v %+v", err, sc)
	}
	d, _ := shared.Client.AppsV1().Deployments(ns).Get(ctx, "d", metav1.GetOptions{})
	if *d.Spec.Replicas != 4 || d.Generation != 2 {
		t.Fatalf("deployment after scale: replicas %d generation %d", *d.Spec.Replicas, d.Generation)
	}
	stale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "d", ResourceVersion: "1"}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}
	if _, err := shared.Client.AppsV1().Deployments(ns).UpdateScale(ctx, "d", stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale scale: got %v, want 409", err)
	}
	if _, err := shared.Client.AppsV1().Deployments(ns).Patch(ctx, "d", types.MergePatchType, []byte(`{"spec":{"replicas":-1}}`), metav1.PatchOptions{}, "scale"); !apierrors.IsInvalid(err) {
		t.Fatalf("negative scale: got %v, want 422", err)
	}
	// StatefulSets, ReplicaSets and ReplicationControllers scale too.
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs"}, Spec: appsv1.ReplicaSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}}}
	if _, err := shared.Client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Client.AppsV1().ReplicaSets(ns).Patch(ctx, "rs", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{}, "scale"); err != nil {
		t.Fatal(err)
	}
	if got, _ := shared.Client.AppsV1().ReplicaSets(ns).Get(ctx, "rs", metav1.GetOptions{}); *got.Spec.Replicas != 3 {
		t.Fatalf("replicaset replicas %d after scale patch", *got.Spec.Replicas)
	}
}

// Binding assigns a pod once; eviction deletes it.
func TestBindingAndEviction(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	pods := shared.Client.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, testPod("p", "", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind := func(node string) error {
		return pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
	}
	if err := bind("n1"); err != nil {
		t.Fatal(err)
	}
	p, _ := pods.Get(ctx, "p", metav1.GetOptions{})
	scheduled := false
	for _, c := range p.Status.Conditions {
		scheduled = scheduled || (c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue)
	}
	if p.Spec.NodeName != "n1" || !scheduled {
		t.Fatalf("bound pod: node %q conditions %+v", p.Spec.NodeName, p.Status.Conditions)
	}
	if err := bind("n2"); !apierrors.IsConflict(err) {
		t.Fatalf("second binding: got %v, want 409", err)
	}
	// Changing spec.nodeName by update is not allowed.
	p.Spec.NodeName = "n2"
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("moving a pod by update: got %v, want 422", err)
	}

	zero := int64(0)
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "p"}, DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: &zero}}
	if err := pods.EvictV1(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("evicted pod: %v", err)
	}
}

// EndpointSlices start at generation 1 and move on changes outside their
// metadata, as the endpointslice controller expects.
func TestEndpointSliceGeneration(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	port := int32(80)
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "s"}, AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}}}, Ports: []discoveryv1.EndpointPort{{Port: &port}}}
	es, err := shared.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{})
	if err != nil || es.Generation != 1 {
		t.Fatalf("create: %v, generation %d", err, es.Generation)
	}
	es.Labels = map[string]string{"a": "b"}
	if es, err = shared.Client.DiscoveryV1().EndpointSlices(ns).Update(ctx, es, metav1.UpdateOptions{}); err != nil || es.Generation != 1 {
		t.Fatalf("label change: %v, generation %d, want 1", err, es.Generation)
	}
	es.Endpoints[0].Addresses = []string{"10.42.0.6"}
	if es, err = shared.Client.DiscoveryV1().EndpointSlices(ns).Update(ctx, es, metav1.UpdateOptions{}); err != nil || es.Generation != 2 {
		t.Fatalf("endpoint change: %v, generation %d, want 2", err, es.Generation)
	}
}
