package namespacelifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/controlplane/admission"
)

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

// newPlugin returns the plugin over a cache holding cached and an API
// holding live.
func newPlugin(t *testing.T, cached, live []runtime.Object) *Plugin {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, o := range cached {
		if err := idx.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return New(Config{Lister: corelisters.NewNamespaceLister(idx), Client: fake.NewClientset(live...).CoreV1()})
}

func podAttrs(op admission.Operation, ns string) *admission.Attributes {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}}
	a := &admission.Attributes{
		Operation: op, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
		Kind: corev1.SchemeGroupVersion.WithKind("Pod"), Namespace: ns, Name: "p",
	}
	switch op {
	case admission.Create:
		a.Object = pod
	case admission.Update:
		a.Object, a.OldObject = pod, pod.DeepCopy()
	case admission.Delete:
		a.OldObject = pod
	}
	return a
}

func namespaceAttrs(op admission.Operation, name string) *admission.Attributes {
	a := &admission.Attributes{
		Operation: op, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"),
		Kind: corev1.SchemeGroupVersion.WithKind("Namespace"), Name: name,
	}
	if op == admission.Delete {
		a.OldObject = namespace(name, corev1.NamespaceActive)
	} else {
		a.Object = namespace(name, corev1.NamespaceActive)
	}
	return a
}

// run passes a through the plugin as skiff's store does: creates and
// updates through Admit, deletes through Validate.
func run(p *Plugin, a *admission.Attributes) error {
	ctx := context.Background()
	if err := p.Admit(ctx, a); err != nil {
		return err
	}
	return p.Validate(ctx, a)
}

func TestLifecycle(t *testing.T) {
	active, terminating := namespace("app", corev1.NamespaceActive), namespace("old", corev1.NamespaceTerminating)
	node := &admission.Attributes{
		Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("nodes"),
		Kind: corev1.SchemeGroupVersion.WithKind("Node"), Name: "n1", Object: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
	}
	tests := []struct {
		name         string
		cached, live []runtime.Object
		attrs        *admission.Attributes
		code         int32
		msg          string
	}{
		{name: "create in active namespace", cached: []runtime.Object{active}, attrs: podAttrs(admission.Create, "app")},
		{name: "create in namespace only the API has yet", live: []runtime.Object{active}, attrs: podAttrs(admission.Create, "app")},
		{name: "create in missing namespace", attrs: podAttrs(admission.Create, "app"),
			code: 404, msg: `namespaces "app" not found`},
		{name: "update in missing namespace", attrs: podAttrs(admission.Update, "app"),
			code: 404, msg: `namespaces "app" not found`},
		{name: "create in terminating namespace", cached: []runtime.Object{terminating}, attrs: podAttrs(admission.Create, "old"),
			code: 403, msg: `pods "p" is forbidden: unable to create new content in namespace old because it is being terminated`},
		{name: "update in terminating namespace", cached: []runtime.Object{terminating}, attrs: podAttrs(admission.Update, "old")},
		{name: "delete in terminating namespace", cached: []runtime.Object{terminating}, attrs: podAttrs(admission.Delete, "old")},
		{name: "delete in missing namespace", attrs: podAttrs(admission.Delete, "gone")},
		{name: "delete default", attrs: namespaceAttrs(admission.Delete, "default"),
			code: 403, msg: `namespaces "default" is forbidden: this namespace may not be deleted`},
		{name: "delete kube-system", attrs: namespaceAttrs(admission.Delete, "kube-system"),
			code: 403, msg: `namespaces "kube-system" is forbidden: this namespace may not be deleted`},
		{name: "delete kube-public", attrs: namespaceAttrs(admission.Delete, "kube-public"),
			code: 403, msg: `namespaces "kube-public" is forbidden: this namespace may not be deleted`},
		{name: "delete another namespace", cached: []runtime.Object{active}, attrs: namespaceAttrs(admission.Delete, "app")},
		{name: "create a namespace", attrs: namespaceAttrs(admission.Create, "new")},
		{name: "create a cluster-scoped object", attrs: node},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(newPlugin(t, tc.cached, tc.live), tc.attrs)
			checkError(t, err, tc.code, tc.msg)
		})
	}
}

func checkError(t *testing.T, err error, code int32, msg string) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("got %v, want a %d API error", err, code)
	}
	if s := status.Status(); s.Code != code || s.Message != msg {
		t.Fatalf("got %d %q, want %d %q", s.Code, s.Message, code, msg)
	}
}

// A create in a terminating namespace carries Kubernetes' cause.
func TestTerminatingCause(t *testing.T) {
	p := newPlugin(t, []runtime.Object{namespace("old", corev1.NamespaceTerminating)}, nil)
	err := run(p, podAttrs(admission.Create, "old"))
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil || len(status.Status().Details.Causes) != 1 {
		t.Fatalf("got %v, want one cause", err)
	}
	c := status.Status().Details.Causes[0]
	if c.Type != corev1.NamespaceTerminatingCause || c.Field != "metadata.namespace" || c.Message != "namespace old is being terminated" {
		t.Fatalf("cause %+v", c)
	}
}

// After a namespace delete the cache is not trusted: a create that the
// stale cache would let in is refused from what the API says.
func TestDeletedNamespaceLookedUpLive(t *testing.T) {
	p := newPlugin(t, []runtime.Object{namespace("app", corev1.NamespaceActive)}, []runtime.Object{namespace("app", corev1.NamespaceTerminating)})
	if err := run(p, podAttrs(admission.Create, "app")); err != nil {
		t.Fatalf("before the delete the cache decides: %v", err)
	}
	if err := run(p, namespaceAttrs(admission.Delete, "app")); err != nil {
		t.Fatal(err)
	}
	err := run(p, podAttrs(admission.Create, "app"))
	checkError(t, err, 403, `pods "p" is forbidden: unable to create new content in namespace app because it is being terminated`)
}

// A plugin whose cache never fills refuses writes rather than deciding
// from an empty cache.
func TestNotReady(t *testing.T) {
	p := newPlugin(t, nil, []runtime.Object{namespace("app", corev1.NamespaceActive)})
	p.cfg.Synced = func() bool { return false }
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := p.Admit(ctx, podAttrs(admission.Create, "app"))
	checkError(t, err, 403, `pods "p" is forbidden: not yet ready to handle request`)
}
