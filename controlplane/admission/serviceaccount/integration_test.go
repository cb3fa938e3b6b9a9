package serviceaccount_test

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/admission/admissiontest"
)

// Through the API: a pod runs as its namespace's default service account
// and gets its pull secrets; a pod naming a missing account is refused;
// a pod created before the default account exists waits for it briefly.
func TestServiceAccountThroughAPI(t *testing.T) {
	env := admissiontest.Start(t)
	ctx := admissiontest.Context(t)
	core := env.Client.CoreV1()
	namespace := func() string {
		ns, err := core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ns.Name
	}
	defaultAccount := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "default"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
	}

	ns := namespace()
	if _, err := core.ServiceAccounts(ns).Create(ctx, defaultAccount, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := core.Pods(ns).Create(ctx, admissiontest.Pod("p", nil, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" {
		t.Errorf("service account %q, want default", pod.Spec.ServiceAccountName)
	}
	if s := pod.Spec.ImagePullSecrets; len(s) != 1 || s[0].Name != "regcred" {
		t.Errorf("pull secrets %v, want the default account's", s)
	}

	named := admissiontest.Pod("q", nil, nil)
	named.Spec.ServiceAccountName = "missing"
	_, err = core.Pods(ns).Create(ctx, named, metav1.CreateOptions{})
	wantStatus(t, err, 403, `pods "q" is forbidden: error looking up service account `+ns+`/missing: serviceaccount "missing" not found`)

	// The service account controller makes "default" just after the
	// namespace; a pod created in between waits for it.
	late := namespace()
	created := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, err := core.ServiceAccounts(late).Create(ctx, defaultAccount, metav1.CreateOptions{})
		created <- err
	}()
	if _, err := core.Pods(late).Create(ctx, admissiontest.Pod("p", nil, nil), metav1.CreateOptions{}); err != nil {
		t.Errorf("pod created just before its default service account: %v", err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}

	never := namespace()
	_, err = core.Pods(never).Create(ctx, admissiontest.Pod("p", nil, nil), metav1.CreateOptions{})
	wantStatus(t, err, 403, `pods "p" is forbidden: error looking up service account `+never+`/default: serviceaccount "default" not found`)
}

func wantStatus(t *testing.T, err error, code int32, msg string) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("got %v, want a %d API error", err, code)
	}
	if s := status.Status(); s.Code != code || s.Message != msg {
		t.Fatalf("got %d %q, want %d %q", s.Code, s.Message, code, msg)
	}
}
