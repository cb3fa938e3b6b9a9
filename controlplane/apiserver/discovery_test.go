package apiserver_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// Discovery lists every group, version and resource with verbs, short
// names, categories and subresources, and /version is Kubernetes-shaped.
func TestDiscovery(t *testing.T) {
	dc := shared.Client.Discovery()
	v, err := dc.ServerVersion()
	if err != nil || v.Major != "1" || v.Minor != "37" || !strings.HasPrefix(v.GitVersion, "v1.37.") {
		t.Fatalf("version %+v: %v", v, err)
	}
	groups, resources, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name+"/"+g.PreferredVersion.Version)
	}
	for _, want := range []string{"/v1", "apps/v1", "batch/v1", "autoscaling/v2", "policy/v1", "discovery.k8s.io/v1", "coordination.k8s.io/v1", "events.k8s.io/v1"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("group %s missing from %v", want, names)
		}
	}
	find := func(gv, name string) *metav1.APIResource {
		for _, l := range resources {
			if l.GroupVersion != gv {
				continue
			}
			for i := range l.APIResources {
				if l.APIResources[i].Name == name {
					return &l.APIResources[i]
				}
			}
		}
		return nil
	}
	pods := find("v1", "pods")
	if pods == nil || !pods.Namespaced || pods.Kind != "Pod" || strings.Join(pods.ShortNames, ",") != "po" ||
		strings.Join(pods.Categories, ",") != "all" || len(pods.Verbs) != 8 {
		t.Fatalf("pods: %+v", pods)
	}
	for _, sub := range []string{"pods/status", "pods/binding", "pods/eviction", "namespaces/finalize", "services/status"} {
		if find("v1", sub) == nil {
			t.Errorf("v1 %s missing", sub)
		}
	}
	if ev := find("v1", "pods/eviction"); ev == nil || ev.Group != "policy" || ev.Kind != "Eviction" {
		t.Errorf("pods/eviction: %+v", ev)
	}
	if sc := find("apps/v1", "deployments/scale"); sc == nil || sc.Group != "autoscaling" || sc.Kind != "Scale" {
		t.Errorf("deployments/scale: %+v", sc)
	}
	if ns := find("v1", "namespaces"); ns == nil || ns.Namespaced {
		t.Errorf("namespaces: %+v", ns)
	}
}

// Prometheus metrics count requests by verb, resource and code.
func TestMetrics(t *testing.T) {
	ctx := testContext(t)
	if _, err := shared.Client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	code, _, body := rawRequest(t, shared.Config, "GET", "/metrics", "", nil)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`apiserver_request_total{code="200",group="",resource="configmaps",subresource="",verb="list",version="v1"}`,
		`apiserver_request_duration_seconds_bucket{group="",resource="configmaps",subresource="",verb="list",version="v1"`,
		`etcd_request_duration_seconds_count{operation="list",type="configmaps"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Events written through events.k8s.io/v1 are events of core/v1 too, and
// the other way round; both select by involvedObject fields; events
// expire through an etcd lease.
func TestEventsBothVersions(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	now := metav1.NewMicroTime(time.Now())
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "e1"}, EventTime: now,
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web-0"},
		Reason:    "Scheduled", Note: "placed", Type: corev1.EventTypeNormal, Action: "Binding",
		ReportingController: "skiff.dev/scheduler", ReportingInstance: "s-1",
	}
	if _, err := shared.Client.EventsV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	core, err := shared.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.name", "web-0"), fields.OneTermEqualSelector("involvedObject.kind", "Pod")).String()})
	if err != nil || len(core.Items) != 1 || core.Items[0].Message != "placed" || core.Items[0].Reason != "Scheduled" {
		t.Fatalf("core/v1 view: %v %+v", err, core)
	}
	ce := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "e2"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web-1"},
		Reason: "Killing", Message: "stopping", Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "agent"},
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
	}
	if _, err := shared.Client.CoreV1().Events(ns).Create(ctx, ce, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := shared.Client.EventsV1().Events(ns).Get(ctx, "e2", metav1.GetOptions{})
	if err != nil || got.Note != "stopping" || got.Regarding.Name != "web-1" || got.DeprecatedCount != 1 {
		t.Fatalf("events.k8s.io view: %v %+v", err, got)
	}
	resp, err := shared.Etcd().Get(ctx, "/registry/events/"+ns+"/e2")
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("the stored event must carry a lease for its TTL: %v %+v", err, resp)
	}
}
