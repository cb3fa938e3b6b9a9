package limitranger

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/controlplane/admission"
)

const ns = "app"

// list parses "cpu=1,memory=64Mi".
func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func limitRange(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: ns}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func podOf(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}, Spec: corev1.PodSpec{Containers: containers}}
}

func newPlugin(t *testing.T, cached, live []runtime.Object) *Plugin {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range cached {
		if err := idx.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return New(Config{Lister: corelisters.NewLimitRangeLister(idx), Client: fake.NewClientset(live...).CoreV1()})
}

func create(pod *corev1.Pod) *admission.Attributes {
	return &admission.Attributes{
		Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
		Kind: corev1.SchemeGroupVersion.WithKind("Pod"), Namespace: ns, Name: pod.Name, Object: pod,
	}
}

func run(p *Plugin, a *admission.Attributes) error {
	if err := p.Admit(context.Background(), a); err != nil {
		return err
	}
	return p.Validate(context.Background(), a)
}

func TestValidate(t *testing.T) {
	ctr := func(items ...corev1.LimitRangeItem) *corev1.LimitRange { return limitRange(items...) }
	maxCPU := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu", "2")}
	minMemory := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("memory", "64Mi")}
	minCPU := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("cpu", "100m")}
	ratio := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: list("cpu", "2")}
	podMax := corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("memory", "1Gi")}
	tests := []struct {
		name string
		lr   *corev1.LimitRange
		pod  *corev1.Pod
		msg  string
	}{
		{"within max", ctr(maxCPU), podOf(container("c", list("cpu", "1"), list("cpu", "2"))), ""},
		{"limit above max", ctr(maxCPU), podOf(container("c", list("cpu", "1"), list("cpu", "3"))),
			`pods "p" is forbidden: maximum cpu usage per Container is 2, but limit is 3`},
		{"no limit under a max", ctr(maxCPU), podOf(container("c", list("cpu", "1"), nil)),
			`pods "p" is forbidden: maximum cpu usage per Container is 2.  No limit is specified`},
		{"request above max", ctr(maxCPU), podOf(container("c", list("cpu", "3"), list("cpu", "2"))),
			`pods "p" is forbidden: maximum cpu usage per Container is 2, but request is 3`},
		{"request below min", ctr(minMemory), podOf(container("c", list("memory", "32Mi"), nil)),
			`pods "p" is forbidden: minimum memory usage per Container is 64Mi, but request is 32Mi`},
		{"no request over a min", ctr(minMemory), podOf(container("c", nil, nil)),
			`pods "p" is forbidden: minimum memory usage per Container is 64Mi.  No request is specified`},
		{"limit below min", ctr(minCPU), podOf(container("c", list("cpu", "200m"), list("cpu", "50m"))),
			`pods "p" is forbidden: minimum cpu usage per Container is 100m, but limit is 50m`},
		{"ratio within", ctr(ratio), podOf(container("c", list("cpu", "250m"), list("cpu", "500m"))), ""},
		{"ratio above", ctr(ratio), podOf(container("c", list("cpu", "100m"), list("cpu", "500m"))),
			`pods "p" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 5.000000`},
		{"ratio without request", ctr(ratio), podOf(container("c", nil, list("cpu", "500m"))),
			`pods "p" is forbidden: cpu max limit to request ratio per Container is 2, but no request is specified or request is 0`},
		{"ratio without limit", ctr(ratio), podOf(container("c", list("cpu", "100m"), nil)),
			`pods "p" is forbidden: cpu max limit to request ratio per Container is 2, but no limit is specified or limit is 0`},
		{"pod total within", ctr(podMax), podOf(container("a", nil, list("memory", "512Mi")), container("b", nil, list("memory", "512Mi"))), ""},
		{"pod total above", ctr(podMax), podOf(container("a", nil, list("memory", "600Mi")), container("b", nil, list("memory", "600Mi"))),
			`pods "p" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1200Mi`},
		{"init container", ctr(maxCPU), func() *corev1.Pod {
			p := podOf(container("c", list("cpu", "1"), list("cpu", "1")))
			p.Spec.InitContainers = []corev1.Container{container("init", list("cpu", "1"), list("cpu", "3"))}
			return p
		}(), `pods "p" is forbidden: maximum cpu usage per Container is 2, but limit is 3`},
		{"several violations", ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu", "2"), Min: list("memory", "64Mi")}),
			podOf(container("c", list("cpu", "1"), list("cpu", "3"))),
			`pods "p" is forbidden: [minimum memory usage per Container is 64Mi.  No request is specified, maximum cpu usage per Container is 2, but limit is 3]`},
		{"defaults are bounded too", ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu", "2"), Default: list("cpu", "3"), DefaultRequest: list("cpu", "1")}),
			podOf(container("c", nil, nil)), `pods "p" is forbidden: maximum cpu usage per Container is 2, but limit is 3`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(newPlugin(t, []runtime.Object{tc.lr}, nil), create(tc.pod))
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var status apierrors.APIStatus
			if !errors.As(err, &status) {
				t.Fatalf("got %v, want a 403", err)
			}
			if s := status.Status(); s.Code != 403 || s.Message != tc.msg {
				t.Fatalf("got %d %q, want 403 %q", s.Code, s.Message, tc.msg)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	lr := limitRange(corev1.LimitRangeItem{
		Type:           corev1.LimitTypeContainer,
		Default:        list("cpu", "500m", "memory", "256Mi"),
		DefaultRequest: list("cpu", "100m", "memory", "128Mi"),
	})
	pod := podOf(container("bare", nil, nil), container("part", list("cpu", "200m"), list("memory", "1Gi")))
	pod.Spec.InitContainers = []corev1.Container{container("init", nil, nil)}
	// Only the API has it yet: a live list stands in for the cache.
	if err := run(newPlugin(t, nil, []runtime.Object{lr}), create(pod)); err != nil {
		t.Fatal(err)
	}
	want := []corev1.ResourceRequirements{
		{Requests: list("cpu", "100m", "memory", "128Mi"), Limits: list("cpu", "500m", "memory", "256Mi")},
		{Requests: list("cpu", "200m", "memory", "128Mi"), Limits: list("cpu", "500m", "memory", "1Gi")},
	}
	for i, c := range pod.Spec.Containers {
		if !apiequality.Semantic.DeepEqual(c.Resources, want[i]) {
			t.Errorf("container %s: %+v, want %+v", c.Name, c.Resources, want[i])
		}
	}
	if !apiequality.Semantic.DeepEqual(pod.Spec.InitContainers[0].Resources, want[0]) {
		t.Errorf("init container: %+v", pod.Spec.InitContainers[0].Resources)
	}
	const note = "LimitRanger plugin set: cpu, memory request for container bare; cpu, memory limit for container bare; " +
		"memory request for container part; cpu limit for container part; " +
		"cpu, memory request for init container init; cpu, memory limit for init container init"
	if got := pod.Annotations[Annotation]; got != note {
		t.Errorf("annotation %q, want %q", got, note)
	}
}

// Pod updates and other kinds are not checked: containers' resources
// cannot change once created.
func TestOnlyPodCreates(t *testing.T) {
	p := newPlugin(t, []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu", "2")})}, nil)
	update := create(podOf(container("c", nil, list("cpu", "3"))))
	update.Operation, update.OldObject = admission.Update, update.Object.DeepCopyObject()
	if err := run(p, update); err != nil {
		t.Errorf("update: %v", err)
	}
}
