package resourcequota_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/resourcequota"
	"skiff.dev/skiff/test/simnode"
)

func pod(name string, cpu, mem string) *corev1.Pod {
	c := corev1.Container{Name: "c", Image: "img"}
	if cpu != "" {
		c.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
		}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}

// used renders a quota's status.used as sorted name=value pairs.
func used(q *corev1.ResourceQuota) string {
	var out []string
	for name, v := range q.Status.Used {
		out = append(out, fmt.Sprintf("%s=%s", name, v.String()))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func waitUsed(t *testing.T, e *ctrltest.Env, ns, name, want string) *corev1.ResourceQuota {
	t.Helper()
	var q *corev1.ResourceQuota
	ctrltest.Eventually(t, 15*time.Second, "quota "+name+" usage", func() (bool, string, error) {
		var err error
		q, err = e.Client.CoreV1().ResourceQuotas(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return used(q) == want, used(q), nil
	})
	return q
}

func TestQuotaUsage(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 1}, controllers.ConstructorFor(resourcequota.New, resourcequota.Config{}))
	ns := e.Namespace("quota")
	ctx := context.Background()
	c := e.Client
	quotas := []struct {
		name   string
		hard   map[corev1.ResourceName]string
		scopes []corev1.ResourceQuotaScope
	}{
		{"objects", map[corev1.ResourceName]string{"pods": "10", "count/configmaps": "10", "services": "5",
			"services.nodeports": "5", "count/deployments.apps": "5"}, nil},
		{"compute", map[corev1.ResourceName]string{"pods": "10", "requests.cpu": "4", "requests.memory": "4Gi", "limits.cpu": "8"},
			[]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort}},
		{"besteffort", map[corev1.ResourceName]string{"pods": "5"}, []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}},
	}
	var computeHard corev1.ResourceList
	for _, q := range quotas {
		hard := corev1.ResourceList{}
		for name, v := range q.hard {
			hard[name] = resource.MustParse(v)
		}
		if q.name == "compute" {
			computeHard = hard
		}
		if _, err := c.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: q.name}, Spec: corev1.ResourceQuotaSpec{Hard: hard, Scopes: q.scopes},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Pods are refused until the quotas have a status.
	waitUsed(t, e, ns, "besteffort", "pods=0")
	waitUsed(t, e, ns, "compute", "limits.cpu=0 pods=0 requests.cpu=0 requests.memory=0")
	for _, p := range []*corev1.Pod{pod("a", "250m", "64Mi"), pod("b", "250m", "64Mi"), pod("be", "", "")} {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"one", "two"} {
		if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 81}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	waitUsed(t, e, ns, "objects", "count/configmaps=2 count/deployments.apps=0 pods=3 services.nodeports=2 services=1")
	q := waitUsed(t, e, ns, "compute", "limits.cpu=1 pods=2 requests.cpu=500m requests.memory=128Mi")
	if !equality(q.Status.Hard, computeHard) {
		t.Errorf("status.hard %v, want spec.hard %v", q.Status.Hard, computeHard)
	}
	waitUsed(t, e, ns, "besteffort", "pods=1")

	// Changes while the controller manager is down are caught up with.
	e.Manager.Stop()
	if err := c.CoreV1().Pods(ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "three"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Manager.Start()
	waitUsed(t, e, ns, "objects", "count/configmaps=3 count/deployments.apps=0 pods=2 services.nodeports=2 services=1")
	waitUsed(t, e, ns, "compute", "limits.cpu=500m pods=1 requests.cpu=250m requests.memory=64Mi")
	waitUsed(t, e, ns, "besteffort", "pods=1")
}

func equality(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}
