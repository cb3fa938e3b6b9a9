package serviceaccount

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/controlplane/admission"
)

const ns = "app"

func account(name string, mod ...func(*corev1.ServiceAccount)) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	for _, m := range mod {
		m(sa)
	}
	return sa
}

// mounter records the pods it mounted tokens into.
type mounter struct{ mounted []string }

func (m *mounter) MountToken(sa *corev1.ServiceAccount, pod *corev1.Pod) {
	m.mounted = append(m.mounted, sa.Name+"/"+pod.Name)
}

// newPlugin returns the plugin over a cache holding cached and an API
// holding live, and the fake API.
func newPlugin(t *testing.T, cached, live []runtime.Object, m TokenMounter) (*Plugin, *fake.Clientset) {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range cached {
		if err := idx.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	client := fake.NewClientset(live...)
	p := New(Config{Lister: corelisters.NewServiceAccountLister(idx), Client: client.CoreV1(), TokenMounter: m})
	p.retryInterval = func() time.Duration { return time.Millisecond }
	return p, client
}

func create(pod *corev1.Pod) *admission.Attributes {
	pod.Namespace = ns
	return &admission.Attributes{
		Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
		Kind: corev1.SchemeGroupVersion.WithKind("Pod"), Namespace: ns, Name: pod.Name, Object: pod,
	}
}

func pod(mod ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	for _, m := range mod {
		m(p)
	}
	return p
}

func run(p *Plugin, a *admission.Attributes) error {
	if err := p.Admit(context.Background(), a); err != nil {
		return err
	}
	return p.Validate(context.Background(), a)
}

func TestServiceAccount(t *testing.T) {
	withSA := func(name string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.ServiceAccountName = name } }
	automount := func(v bool) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = &v }
	}
	saAutomount := func(v bool) func(*corev1.ServiceAccount) {
		return func(sa *corev1.ServiceAccount) { sa.AutomountServiceAccountToken = &v }
	}
	pullSecrets := func(sa *corev1.ServiceAccount) {
		sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "mirror"}}
	}
	tests := []struct {
		name         string
		cached, live []runtime.Object
		pod          *corev1.Pod
		wantSA       string
		wantSecrets  []string
		wantMounted  bool
		code         int32
		msg          string
	}{
		{name: "defaults to default", cached: []runtime.Object{account("default")}, pod: pod(),
			wantSA: "default", wantMounted: true},
		{name: "named account in the cache", cached: []runtime.Object{account("builder")}, pod: pod(withSA("builder")),
			wantSA: "builder", wantMounted: true},
		{name: "named account only the API has yet", live: []runtime.Object{account("builder")}, pod: pod(withSA("builder")),
			wantSA: "builder", wantMounted: true},
		{name: "missing account", pod: pod(withSA("missing")),
			code: 403, msg: `pods "p" is forbidden: error looking up service account app/missing: serviceaccount "missing" not found`},
		{name: "missing default account", pod: pod(),
			code: 403, msg: `pods "p" is forbidden: error looking up service account app/default: serviceaccount "default" not found`},
		{name: "pull secrets come from the account", cached: []runtime.Object{account("default", pullSecrets)}, pod: pod(),
			wantSA: "default", wantSecrets: []string{"regcred", "mirror"}, wantMounted: true},
		{name: "the pod's pull secrets win", cached: []runtime.Object{account("default", pullSecrets)},
			pod:    pod(func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "own"}} }),
			wantSA: "default", wantSecrets: []string{"own"}, wantMounted: true},
		{name: "the pod declines a token", cached: []runtime.Object{account("default")}, pod: pod(automount(false)),
			wantSA: "default"},
		{name: "the account declines a token", cached: []runtime.Object{account("default", saAutomount(false))}, pod: pod(),
			wantSA: "default"},
		{name: "the pod overrides the account", cached: []runtime.Object{account("default", saAutomount(false))}, pod: pod(automount(true)),
			wantSA: "default", wantMounted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &mounter{}
			p, _ := newPlugin(t, tc.cached, tc.live, m)
			err := run(p, create(tc.pod))
			checkError(t, err, tc.code, tc.msg)
			if tc.code != 0 {
				return
			}
			if tc.pod.Spec.ServiceAccountName != tc.wantSA {
				t.Errorf("service account %q, want %q", tc.pod.Spec.ServiceAccountName, tc.wantSA)
			}
			var secrets []string
			for _, s := range tc.pod.Spec.ImagePullSecrets {
				secrets = append(secrets, s.Name)
			}
			if !slices.Equal(secrets, tc.wantSecrets) {
				t.Errorf("pull secrets %v, want %v", secrets, tc.wantSecrets)
			}
			if got := len(m.mounted) == 1; got != tc.wantMounted {
				t.Errorf("mounted %v, want a mount: %v", m.mounted, tc.wantMounted)
			}
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

// A missing "default" is asked for ten times, another name once; a
// "default" that appears during the retries is found.
func TestDefaultRetries(t *testing.T) {
	gets := func(c *fake.Clientset) int {
		n := 0
		for _, a := range c.Actions() {
			if a.Matches("get", "serviceaccounts") {
				n++
			}
		}
		return n
	}
	p, client := newPlugin(t, nil, nil, nil)
	if err := run(p, create(pod())); err == nil {
		t.Fatal("admitted without a service account")
	}
	if n := gets(client); n != defaultLookups {
		t.Errorf("%d lookups of default, want %d", n, defaultLookups)
	}
	p, client = newPlugin(t, nil, nil, nil)
	if err := run(p, create(pod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "x" }))); err == nil {
		t.Fatal("admitted without a service account")
	}
	if n := gets(client); n != 1 {
		t.Errorf("%d lookups of x, want 1", n)
	}

	p, client = newPlugin(t, nil, nil, nil)
	misses := 0
	client.PrependReactor("get", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
		if misses < 3 {
			misses++
			return true, nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts"), "default")
		}
		return true, account("default"), nil
	})
	if err := run(p, create(pod())); err != nil {
		t.Fatalf("default created during the retries: %v", err)
	}
}

// A pod that reaches the validating phase without a service account (a
// later mutating plugin cleared it) is refused.
func TestValidateRequiresAccount(t *testing.T) {
	p, _ := newPlugin(t, []runtime.Object{account("default")}, nil, nil)
	err := p.Validate(context.Background(), create(pod()))
	checkError(t, err, 403, `pods "p" is forbidden: no service account specified for pod app/p`)
}

// Only pod creates are touched.
func TestOtherWrites(t *testing.T) {
	p, _ := newPlugin(t, nil, nil, nil)
	update := create(pod())
	update.Operation, update.OldObject = admission.Update, pod()
	status := create(pod())
	status.Subresource = "status"
	cm := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("configmaps"),
		Namespace: ns, Name: "cm", Object: &corev1.ConfigMap{}}
	for _, a := range []*admission.Attributes{update, status, cm} {
		if err := run(p, a); err != nil {
			t.Errorf("%s %s/%s: %v", a.Operation, a.Resource.Resource, a.Subresource, err)
		}
		if pod, ok := a.Object.(*corev1.Pod); ok && pod.Spec.ServiceAccountName != "" {
			t.Errorf("%s %s/%s set the service account", a.Operation, a.Resource.Resource, a.Subresource)
		}
	}
}
