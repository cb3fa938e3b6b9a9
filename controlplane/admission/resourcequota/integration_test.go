package resourcequota_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/controlplane/admission"
	"skiff.dev/skiff/controlplane/admission/admissiontest"
	"skiff.dev/skiff/controlplane/admission/resourcequota"
)

// newQuota creates a quota and gives it the status the quota controller
// would: hard from spec, nothing used.
func newQuota(t *testing.T, env *admissiontest.Env, ns string, hard corev1.ResourceList) {
	t.Helper()
	hard["count/secrets"] = resource.MustParse("0")
	ctx := admissiontest.Context(t)
	q, err := env.Client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "quota"}, Spec: corev1.ResourceQuotaSpec{Hard: hard},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Status.Hard, q.Status.Used = hard, corev1.ResourceList{}
	for name := range hard {
		q.Status.Used[name] = resource.MustParse("0")
	}
	if _, err := env.Client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Until the plugin's cache shows the status, the quota limits nothing
	// (as in Kubernetes before the quota controller fills it in): probe
	// with dry runs of a secret, which the quota allows none of.
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := env.Client.CoreV1().Secrets(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsForbidden(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("quota not enforced after 10s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func used(t *testing.T, env *admissiontest.Env, ns string, name corev1.ResourceName) string {
	t.Helper()
	q, err := env.Client.CoreV1().ResourceQuotas(ns).Get(admissiontest.Context(t), "quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u := q.Status.Used[name]
	return u.String()
}

// Through the API, twenty pods created at once against a quota of five:
// five get in, the others are refused with the quota's numbers, and the
// quota shows five used.
func TestConcurrentCreatesThroughAPI(t *testing.T) {
	env := admissiontest.Start(t)
	ctx := admissiontest.Context(t)
	ns := env.Namespace(t)
	newQuota(t, env, ns, corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")})

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := env.Client.CoreV1().Pods(ns).Create(ctx, admissiontest.Pod(fmt.Sprintf("p%d", i), nil, nil), metav1.CreateOptions{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	created := 0
	for err := range errs {
		if err == nil {
			created++
			continue
		}
		var status apierrors.APIStatus
		if !errors.As(err, &status) || status.Status().Code != 403 {
			t.Errorf("got %v, want 403", err)
			continue
		}
		if msg := status.Status().Message; !strings.Contains(msg, "is forbidden: exceeded quota: quota, requested: pods=1, used: pods=5, limited: pods=5") {
			t.Errorf("message %q", msg)
		}
	}
	if created != 5 {
		t.Errorf("%d pods created, want 5", created)
	}
	if u := used(t, env, ns, corev1.ResourcePods); u != "5" {
		t.Errorf("quota used pods=%s, want 5", u)
	}
	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 5 {
		t.Errorf("%d pods stored (%v), want 5", len(pods.Items), err)
	}
}

// Two admission chains, as on two servers, charging one quota at once
// never admit more than it allows: their updates of status.used are
// compare-and-swap on the stored quota.
func TestTwoServersShareAQuota(t *testing.T) {
	env := admissiontest.Start(t)
	ctx := admissiontest.Context(t)
	ns := env.Namespace(t)
	newQuota(t, env, ns, corev1.ResourceList{"count/configmaps": resource.MustParse("10")})

	// The other server's plugin: its own (empty) cache, the same API.
	other := resourcequota.New(resourcequota.Config{
		Lister: corelisters.NewResourceQuotaLister(cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})),
		Client: env.Client.CoreV1(),
	})
	var wg sync.WaitGroup
	admitted := make(chan string, 30)
	for i := range 15 {
		wg.Go(func() {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("here-%d", i)}}
			if _, err := env.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err == nil {
				admitted <- cm.Name
			} else if !apierrors.IsForbidden(err) {
				t.Errorf("create: %v", err)
			}
		})
		wg.Go(func() {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("there-%d", i), Namespace: ns}}
			err := other.Validate(context.Background(), &admission.Attributes{
				Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("configmaps"),
				Namespace: ns, Name: cm.Name, Object: cm,
			})
			if err == nil {
				admitted <- cm.Name
			} else if !apierrors.IsForbidden(err) {
				t.Errorf("other server: %v", err)
			}
		})
	}
	wg.Wait()
	close(admitted)
	n := 0
	for range admitted {
		n++
	}
	if n != 10 {
		t.Errorf("%d configmaps admitted, want 10", n)
	}
	if u := used(t, env, ns, "count/configmaps"); u != "10" {
		t.Errorf("quota used count/configmaps=%s, want 10", u)
	}
}
