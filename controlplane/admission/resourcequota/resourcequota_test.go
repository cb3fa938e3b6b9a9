package resourcequota

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/controlplane/admission"
)

const ns = "app"

// list parses name, value pairs.
func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

// quota returns a quota whose status is current: hard as given, used as
// given.
func quota(name string, hard, used corev1.ResourceList, mod ...func(*corev1.ResourceQuota)) *corev1.ResourceQuota {
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, ResourceVersion: "1", UID: types.UID("uid-" + name)},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
	for _, m := range mod {
		m(q)
	}
	return q
}

var quotasGVR = corev1.SchemeGroupVersion.WithResource("resourcequotas")

// casClient is a fake API whose quota status updates are compare-and-swap
// on resourceVersion, as the real one's are.
func casClient(t *testing.T, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset(objs...)
	var mu sync.Mutex
	client.PrependReactor("update", "resourcequotas", func(action k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		q := action.(k8stesting.UpdateAction).GetObject().(*corev1.ResourceQuota).DeepCopy()
		cur, err := client.Tracker().Get(quotasGVR, q.Namespace, q.Name)
		if err != nil {
			return true, nil, err
		}
		rv := cur.(*corev1.ResourceQuota).ResourceVersion
		if q.ResourceVersion != rv {
			return true, nil, apierrors.NewConflict(corev1.Resource("resourcequotas"), q.Name, errors.New("the object has been modified"))
		}
		n, _ := strconv.Atoi(rv)
		q.ResourceVersion = strconv.Itoa(n + 1)
		return true, q, client.Tracker().Update(quotasGVR, q, q.Namespace)
	})
	return client
}

// newPlugin returns the plugin over a cache holding cached and the API
// client.
func newPlugin(t *testing.T, client *fake.Clientset, cached ...*corev1.ResourceQuota) *Plugin {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range cached {
		if err := idx.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return New(Config{Lister: corelisters.NewResourceQuotaLister(idx), Client: client.CoreV1()})
}

func attrs(op admission.Operation, resource string, obj, old runtime.Object) *admission.Attributes {
	gvr := corev1.SchemeGroupVersion.WithResource(resource)
	if _, ok := obj.(*appsv1.Deployment); ok {
		gvr = appsv1.SchemeGroupVersion.WithResource(resource)
	}
	return &admission.Attributes{Operation: op, Resource: gvr, Namespace: ns, Name: "p", Object: obj, OldObject: old}
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func pod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}, Spec: corev1.PodSpec{Containers: containers}}
}

func service(typ corev1.ServiceType, ports int) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns, ResourceVersion: "5"}, Spec: corev1.ServiceSpec{Type: typ}}
	for i := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Port: int32(80 + i)})
	}
	return svc
}

func TestQuota(t *testing.T) {
	bestEffortPod := pod(container("c", nil, nil))
	burstable := pod(container("c", list("cpu", "100m", "memory", "64Mi"), list("cpu", "1", "memory", "128Mi")))
	deadline := int64(30)
	job := pod(container("c", nil, nil))
	job.Spec.ActiveDeadlineSeconds = &deadline
	high := pod(container("c", nil, nil))
	high.Spec.PriorityClassName = "high"
	scoped := func(scopes ...corev1.ResourceQuotaScope) func(*corev1.ResourceQuota) {
		return func(q *corev1.ResourceQuota) { q.Spec.Scopes = scopes }
	}
	priority := func(q *corev1.ResourceQuota) {
		q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
			ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"},
		}}}
	}
	full := list("pods", "1")
	tests := []struct {
		name     string
		quotas   []*corev1.ResourceQuota
		attrs    *admission.Attributes
		msg      string
		wantUsed corev1.ResourceList // of the first quota, when admitted
	}{
		{name: "pods within", quotas: []*corev1.ResourceQuota{quota("q", list("pods", "10"), list("pods", "9"))},
			attrs: attrs(admission.Create, "pods", bestEffortPod, nil), wantUsed: list("pods", "10")},
		{name: "pods exceeded", quotas: []*corev1.ResourceQuota{quota("q", list("pods", "10"), list("pods", "10"))},
			attrs: attrs(admission.Create, "pods", bestEffortPod, nil),
			msg:   `pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=10, limited: pods=10`},
		{name: "compute within", quotas: []*corev1.ResourceQuota{quota("q",
			list("requests.cpu", "1", "limits.memory", "1Gi", "cpu", "1", "memory", "1Gi", "limits.cpu", "2", "requests.memory", "1Gi"),
			list("requests.cpu", "500m", "limits.memory", "0", "cpu", "500m", "memory", "0", "limits.cpu", "0", "requests.memory", "0"))},
			attrs:    attrs(admission.Create, "pods", burstable, nil),
			wantUsed: list("requests.cpu", "600m", "limits.memory", "128Mi", "cpu", "600m", "memory", "64Mi", "limits.cpu", "1", "requests.memory", "64Mi")},
		{name: "requests exceeded", quotas: []*corev1.ResourceQuota{quota("q", list("requests.cpu", "1"), list("requests.cpu", "950m"))},
			attrs: attrs(admission.Create, "pods", burstable, nil),
			msg:   `pods "p" is forbidden: exceeded quota: q, requested: requests.cpu=100m, used: requests.cpu=950m, limited: requests.cpu=1`},
		{name: "several exceeded", quotas: []*corev1.ResourceQuota{quota("q", list("pods", "1", "limits.memory", "100Mi"), list("pods", "1", "limits.memory", "0"))},
			attrs: attrs(admission.Create, "pods", burstable, nil),
			msg:   `pods "p" is forbidden: exceeded quota: q, requested: limits.memory=128Mi,pods=1, used: limits.memory=0,pods=1, limited: limits.memory=100Mi,pods=1`},
		{name: "compute quota needs requests", quotas: []*corev1.ResourceQuota{quota("q", list("requests.memory", "1Gi", "limits.cpu", "4"), list("requests.memory", "0", "limits.cpu", "0"))},
			attrs: attrs(admission.Create, "pods", pod(container("a", list("memory", "1Mi"), nil), container("b", nil, nil)), nil),
			msg:   `pods "p" is forbidden: failed quota: q: must specify limits.cpu for: a,b; requests.memory for: b`},
		{name: "status unknown", quotas: []*corev1.ResourceQuota{quota("q", list("pods", "10"), nil)},
			attrs: attrs(admission.Create, "pods", bestEffortPod, nil),
			msg:   `pods "p" is forbidden: status unknown for quota: q, resources: pods`},
		{name: "best effort scope covers a best-effort pod", quotas: []*corev1.ResourceQuota{quota("q", full, full, scoped(corev1.ResourceQuotaScopeBestEffort))},
			attrs: attrs(admission.Create, "pods", bestEffortPod, nil),
			msg:   `pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`},
		{name: "best effort scope skips a burstable pod", quotas: []*corev1.ResourceQuota{quota("q", full, full, scoped(corev1.ResourceQuotaScopeBestEffort))},
			attrs: attrs(admission.Create, "pods", burstable, nil), wantUsed: full},
		{name: "not best effort scope", quotas: []*corev1.ResourceQuota{quota("q", full, full, scoped(corev1.ResourceQuotaScopeNotBestEffort))},
			attrs: attrs(admission.Create, "pods", burstable, nil),
			msg:   `pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`},
		{name: "terminating scope covers a pod with a deadline", quotas: []*corev1.ResourceQuota{quota("q", full, full, scoped(corev1.ResourceQuotaScopeTerminating))},
			attrs: attrs(admission.Create, "pods", job, nil),
			msg:   `pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`},
		{name: "terminating scope skips other pods", quotas: []*corev1.ResourceQuota{quota("q", full, full, scoped(corev1.ResourceQuotaScopeTerminating))},
			attrs: attrs(admission.Create, "pods", bestEffortPod, nil), wantUsed: full},
		{name: "not terminating scope", quotas: []*corev1.ResourceQuota{quota("q", full, full, scoped(corev1.ResourceQuotaScopeNotTerminating))},
			attrs: attrs(admission.Create, "pods", job, nil), wantUsed: full},
		{name: "priority class scope", quotas: []*corev1.ResourceQuota{quota("q", full, full, priority)},
			attrs: attrs(admission.Create, "pods", high, nil),
			msg:   `pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`},
		{name: "priority class scope skips others", quotas: []*corev1.ResourceQuota{quota("q", full, full, priority)},
			attrs: attrs(admission.Create, "pods", bestEffortPod, nil), wantUsed: full},
		{name: "old object count name", quotas: []*corev1.ResourceQuota{quota("q", list("configmaps", "1"), list("configmaps", "1"))},
			attrs: attrs(admission.Create, "configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, nil),
			msg:   `configmaps "p" is forbidden: exceeded quota: q, requested: configmaps=1, used: configmaps=1, limited: configmaps=1`},
		{name: "object count of another group", quotas: []*corev1.ResourceQuota{quota("q", list("count/deployments.apps", "0"), list("count/deployments.apps", "0"))},
			attrs: attrs(admission.Create, "deployments", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, nil),
			msg:   `deployments.apps "p" is forbidden: exceeded quota: q, requested: count/deployments.apps=1, used: count/deployments.apps=0, limited: count/deployments.apps=0`},
		{name: "scoped quotas count no objects", quotas: []*corev1.ResourceQuota{quota("q", list("count/configmaps", "0"), list("count/configmaps", "0"), scoped(corev1.ResourceQuotaScopeBestEffort))},
			attrs: attrs(admission.Create, "configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, nil), wantUsed: list("count/configmaps", "0")},
		{name: "node ports", quotas: []*corev1.ResourceQuota{quota("q", list("services.nodeports", "1"), list("services.nodeports", "0"))},
			attrs: attrs(admission.Create, "services", service(corev1.ServiceTypeNodePort, 2), nil),
			msg:   `services "p" is forbidden: exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1`},
		{name: "service turned node port is charged the difference", quotas: []*corev1.ResourceQuota{quota("q", list("services", "1", "services.nodeports", "2"), list("services", "1", "services.nodeports", "0"))},
			attrs:    attrs(admission.Update, "services", service(corev1.ServiceTypeNodePort, 2), service(corev1.ServiceTypeClusterIP, 2)),
			wantUsed: list("services", "1", "services.nodeports", "2")},
		{name: "events are not counted", quotas: []*corev1.ResourceQuota{quota("q", list("count/events", "0"), list("count/events", "0"))},
			attrs: attrs(admission.Create, "events", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, nil), wantUsed: list("count/events", "0")},
		{name: "only covering quotas are charged", quotas: []*corev1.ResourceQuota{
			quota("q", list("pods", "5"), list("pods", "1")), quota("secrets", list("secrets", "0"), list("secrets", "0"))},
			attrs: attrs(admission.Create, "pods", bestEffortPod, nil), wantUsed: list("pods", "2")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, q := range tc.quotas {
				objs = append(objs, q)
			}
			client := casClient(t, objs...)
			p := newPlugin(t, client, tc.quotas...)
			err := p.Validate(context.Background(), tc.attrs)
			if tc.msg != "" {
				var status apierrors.APIStatus
				if !errors.As(err, &status) {
					t.Fatalf("got %v, want a 403", err)
				}
				if s := status.Status(); s.Code != 403 || s.Message != tc.msg {
					t.Fatalf("got %d %q, want 403 %q", s.Code, s.Message, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			stored, err := client.CoreV1().ResourceQuotas(ns).Get(context.Background(), tc.quotas[0].Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !equal(stored.Status.Used, tc.wantUsed) {
				t.Errorf("used %s, want %s", prettyPrint(stored.Status.Used), prettyPrint(tc.wantUsed))
			}
		})
	}
}

// A dry run is checked but charges nothing.
func TestDryRun(t *testing.T) {
	q := quota("q", list("pods", "1"), list("pods", "0"))
	client := casClient(t, q)
	p := newPlugin(t, client, q)
	a := attrs(admission.Create, "pods", pod(), nil)
	a.DryRun = true
	if err := p.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	stored, _ := client.CoreV1().ResourceQuotas(ns).Get(context.Background(), "q", metav1.GetOptions{})
	if used := stored.Status.Used[corev1.ResourcePods]; used.String() != "0" {
		t.Errorf("dry run charged: used pods=%s", used.String())
	}
}

// Concurrent creates are charged one by one: exactly as many as the quota
// allows get in, and status.used ends at the limit.
func TestConcurrentCreates(t *testing.T) {
	q := quota("q", list("pods", "5"), list("pods", "0"))
	client := casClient(t, q)
	p := newPlugin(t, client, q)
	var wg sync.WaitGroup
	results := make(chan error, 20)
	for range 20 {
		wg.Go(func() { results <- p.Validate(context.Background(), attrs(admission.Create, "pods", pod(), nil)) })
	}
	wg.Wait()
	close(results)
	admitted := 0
	for err := range results {
		switch {
		case err == nil:
			admitted++
		case !apierrors.IsForbidden(err):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if admitted != 5 {
		t.Errorf("%d admitted, want 5", admitted)
	}
	stored, _ := client.CoreV1().ResourceQuotas(ns).Get(context.Background(), "q", metav1.GetOptions{})
	if used := stored.Status.Used[corev1.ResourcePods]; used.String() != "5" {
		t.Errorf("used pods=%s, want 5", used.String())
	}
}

// When another writer charged the quota since the cache saw it, the
// update conflicts and the write is checked again against the fresh
// quota.
func TestConflictRechecks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		liveUsed string
		msg      string
	}{
		{name: "still fits", liveUsed: "1"},
		{name: "no longer fits", liveUsed: "2", msg: `pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cached := quota("q", list("pods", "2"), list("pods", "0"))
			live := quota("q", list("pods", "2"), list("pods", tc.liveUsed), func(q *corev1.ResourceQuota) { q.ResourceVersion = "7" })
			client := casClient(t, live)
			p := newPlugin(t, client, cached)
			err := p.Validate(context.Background(), attrs(admission.Create, "pods", pod(), nil))
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				stored, _ := client.CoreV1().ResourceQuotas(ns).Get(context.Background(), "q", metav1.GetOptions{})
				if used := stored.Status.Used[corev1.ResourcePods]; used.String() != "2" {
					t.Errorf("used pods=%s, want 2", used.String())
				}
				return
			}
			if !apierrors.IsForbidden(err) || err.Error() != tc.msg {
				t.Fatalf("got %v, want %s", err, tc.msg)
			}
		})
	}
}

// A quota the cache does not have yet is found by a live list; the next
// write sees the plugin's own update even while the cache lags.
func TestLiveLookupAndOwnUpdates(t *testing.T) {
	q := quota("q", list("pods", "2"), list("pods", "0"))
	client := casClient(t, q)
	p := newPlugin(t, client)
	for i := range 2 {
		if err := p.Validate(context.Background(), attrs(admission.Create, "pods", pod(), nil)); err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
	}
	err := p.Validate(context.Background(), attrs(admission.Create, "pods", pod(), nil))
	if !apierrors.IsForbidden(err) {
		t.Fatalf("third pod: got %v, want 403", err)
	}
}

// Terminal pods and pods stuck past their grace period use no compute
// quota; count/pods counts every stored pod.
func TestPodUsage(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e := &podEvaluator{now: func() time.Time { return now }}
	stuck := pod(container("c", list("cpu", "1"), nil))
	grace := int64(30)
	stuck.DeletionTimestamp, stuck.DeletionGracePeriodSeconds = &metav1.Time{Time: now.Add(-time.Minute)}, &grace
	done := pod(container("c", list("cpu", "1"), nil))
	done.Status.Phase = corev1.PodSucceeded
	running := pod(container("c", list("cpu", "1"), nil))
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want corev1.ResourceList
	}{
		{"stuck terminating", stuck, list("count/pods", "1")},
		{"succeeded", done, list("count/pods", "1")},
		{"running", running, list("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1")},
	} {
		got, err := e.usage(tc.pod)
		if err != nil {
			t.Fatal(err)
		}
		if !equal(got, tc.want) {
			t.Errorf("%s: usage %s, want %s", tc.name, prettyPrint(got), prettyPrint(tc.want))
		}
	}
}
