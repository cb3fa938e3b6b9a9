package apiserver_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// minimal holds a valid object of every served resource, as YAML with the
// name "x" in the test namespace.
var minimal = map[schema.GroupVersionResource]string{
	{Version: "v1", Resource: "configmaps"}:      `{apiVersion: v1, kind: ConfigMap, data: {a: b}}`,
	{Version: "v1", Resource: "secrets"}:         `{apiVersion: v1, kind: Secret, stringData: {a: b}}`,
	{Version: "v1", Resource: "serviceaccounts"}: `{apiVersion: v1, kind: ServiceAccount}`,
	{Version: "v1", Resource: "pods"}:            `{apiVersion: v1, kind: Pod, spec: {containers: [{name: c, image: busybox}]}}`,
	{Version: "v1", Resource: "services"}:        `{apiVersion: v1, kind: Service, spec: {ports: [{port: 80}], selector: {app: x}}}`,
	{Version: "v1", Resource: "endpoints"}:       `{apiVersion: v1, kind: Endpoints, subsets: [{addresses: [{ip: 10.42.0.5}], ports: [{port: 80}]}]}`,
	{Version: "v1", Resource: "events"}: `{apiVersion: v1, kind: Event, involvedObject: {kind: Pod, name: p, namespace: NS},
		reason: Test, message: hello, type: Normal, source: {component: test}}`,
	{Version: "v1", Resource: "replicationcontrollers"}: `{apiVersion: v1, kind: ReplicationController, spec: {replicas: 1, selector: {app: x},
		template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: busybox}]}}}}`,
	{Version: "v1", Resource: "resourcequotas"}: `{apiVersion: v1, kind: ResourceQuota, spec: {hard: {pods: "10"}}}`,
	{Version: "v1", Resource: "limitranges"}:    `{apiVersion: v1, kind: LimitRange, spec: {limits: [{type: Container, default: {cpu: 100m}}]}}`,
	{Group: "apps", Version: "v1", Resource: "deployments"}: `{apiVersion: apps/v1, kind: Deployment, spec: {selector: {matchLabels: {app: x}},
		template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: busybox}]}}}}`,
	{Group: "apps", Version: "v1", Resource: "replicasets"}: `{apiVersion: apps/v1, kind: ReplicaSet, spec: {selector: {matchLabels: {app: x}},
		template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: busybox}]}}}}`,
	{Group: "apps", Version: "v1", Resource: "statefulsets"}: `{apiVersion: apps/v1, kind: StatefulSet, spec: {serviceName: x, selector: {matchLabels: {app: x}},
		template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: busybox}]}}}}`,
	{Group: "apps", Version: "v1", Resource: "daemonsets"}: `{apiVersion: apps/v1, kind: DaemonSet, spec: {selector: {matchLabels: {app: x}},
		template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: busybox}]}}}}`,
	{Group: "apps", Version: "v1", Resource: "controllerrevisions"}: `{apiVersion: apps/v1, kind: ControllerRevision, revision: 1, data: {a: b}}`,
	{Group: "batch", Version: "v1", Resource: "jobs"}: `{apiVersion: batch/v1, kind: Job, spec: {template: {spec: {restartPolicy: Never,
		containers: [{name: c, image: busybox}]}}}}`,
	{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}: `{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler,
		spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: x}, minReplicas: 1, maxReplicas: 3}}`,
	{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}: `{apiVersion: policy/v1, kind: PodDisruptionBudget, spec: {minAvailable: 1, selector: {matchLabels: {app: x}}}}`,
	{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}: `{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, addressType: IPv4,
		endpoints: [{addresses: [10.42.0.5]}], ports: [{port: 80}]}`,
	{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}: `{apiVersion: coordination.k8s.io/v1, kind: Lease, spec: {holderIdentity: me, leaseDurationSeconds: 10}}`,
	{Group: "events.k8s.io", Version: "v1", Resource: "events"}: `{apiVersion: events.k8s.io/v1, kind: Event, eventTime: "2026-01-01T00:00:00.000000Z",
		regarding: {kind: Pod, name: p, namespace: NS}, reason: Test, note: hello, type: Normal, action: Testing,
		reportingController: skiff.dev/test, reportingInstance: test-1}`,
}

// clusterScoped holds valid cluster-scoped objects, named "x-<suffix>".
var clusterScoped = map[schema.GroupVersionResource]string{
	{Version: "v1", Resource: "namespaces"}: `{apiVersion: v1, kind: Namespace}`,
	{Version: "v1", Resource: "nodes"}:      `{apiVersion: v1, kind: Node, spec: {podCIDR: 10.42.7.0/24}}`,
}

func object(t *testing.T, doc, ns, name string) *unstructured.Unstructured {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	u.SetName(name)
	if ns != "" {
		u.SetNamespace(ns)
		if obj, ok := u.Object["involvedObject"].(map[string]any); ok {
			obj["namespace"] = ns
		}
		if obj, ok := u.Object["regarding"].(map[string]any); ok {
			obj["namespace"] = ns
		}
	}
	return u
}

// Every served resource takes every verb through the dynamic client, and a
// watch sees each change.
func TestEveryResourceEveryVerb(t *testing.T) {
	ctx := testContext(t)
	dc := dynamic.NewForConfigOrDie(shared.Config)
	ns := namespace(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	all := map[schema.GroupVersionResource]string{}
	for k, v := range minimal {
		all[k] = v
	}
	for k, v := range clusterScoped {
		all[k] = v
	}
	for gvr, doc := range all {
		t.Run(gvr.Resource+"."+gvr.Group, func(t *testing.T) {
			_, namespaced := minimal[gvr]
			var ri dynamic.ResourceInterface = dc.Resource(gvr)
			objNS, name := "", "x-"+suffix
			if namespaced {
				ri, objNS, name = dc.Resource(gvr).Namespace(ns), ns, "x"
			}
			w, err := ri.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			defer w.Stop()

			created, err := ri.Create(ctx, object(t, doc, objNS, name), metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if created.GetUID() == "" || created.GetResourceVersion() == "" || created.GetCreationTimestamp().Time.IsZero() {
				t.Fatalf("create did not set uid, resourceVersion and creationTimestamp: %v", created.Object["metadata"])
			}
			expectEvent(t, w, watch.Added, name)

			got, err := ri.Get(ctx, name, metav1.GetOptions{})
			if err != nil || got.GetUID() != created.GetUID() {
				t.Fatalf("get: %v", err)
			}
			list, err := ri.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil || len(list.Items) != 1 {
				t.Fatalf("list: %v (%d items)", err, len(list.Items))
			}

			got.SetLabels(map[string]string{"updated": "yes"})
			updated, err := ri.Update(ctx, got, metav1.UpdateOptions{})
			if err != nil || updated.GetLabels()["updated"] != "yes" {
				t.Fatalf("update: %v", err)
			}
			expectEvent(t, w, watch.Modified, name)
			// The same update again is stale now: 409.
			if _, err := ri.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
				t.Fatalf("stale update: got %v, want 409 Conflict", err)
			}

			patched, err := ri.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"patched":"yes"}}}`), metav1.PatchOptions{})
			if err != nil || patched.GetAnnotations()["patched"] != "yes" || patched.GetLabels()["updated"] != "yes" {
				t.Fatalf("patch: %v", err)
			}
			expectEvent(t, w, watch.Modified, name)

			if err := ri.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if gvr.Resource == "namespaces" {
				finalizeNamespace(t, w, name)
			}
			expectEvent(t, w, watch.Deleted, name)
			if _, err := ri.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("get after delete: got %v, want 404", err)
			}

			if !namespaced {
				return
			}
			for i := range 3 {
				if _, err := ri.Create(ctx, object(t, doc, objNS, fmt.Sprint("y", i)), metav1.CreateOptions{}); err != nil {
					t.Fatalf("create y%d: %v", i, err)
				}
			}
			if err := ri.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
				t.Fatalf("deletecollection: %v", err)
			}
			// The service account controller puts back the default account.
			left, err := ri.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name!=default"})
			if err != nil || len(left.Items) != 0 {
				t.Fatalf("after deletecollection: %v, %d left", err, len(left.Items))
			}
		})
	}
}

func expectEvent(t *testing.T, w watch.Interface, typ watch.EventType, name string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed waiting for %s %s", typ, name)
			}
			if ev.Type == watch.Bookmark {
				continue
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if ev.Type != typ || !ok || u.GetName() != name {
				t.Fatalf("watch: got %s %v, want %s %s", ev.Type, ev.Object, typ, name)
			}
			return
		case <-timeout:
			t.Fatalf("no %s event for %s in 10s", typ, name)
		}
	}
}

// finalizeNamespace checks that a deleted namespace is Terminating until
// its spec.finalizers are cleared through namespaces/finalize, as the
// namespace controller does once the namespace is empty.
func finalizeNamespace(t *testing.T, w watch.Interface, name string) {
	t.Helper()
	ctx := testContext(t)
	expectEvent(t, w, watch.Modified, name)
	ns, err := shared.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
		t.Fatalf("deleted namespace: %v, phase %q, deletionTimestamp %v", err, ns.Status.Phase, ns.DeletionTimestamp)
	}
	ns.Spec.Finalizers = nil
	if _, err := shared.Client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("finalize: %v", err)
	}
}
