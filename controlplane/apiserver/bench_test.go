package apiserver_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkWritePath measures one client's creates, updates and gets of
// 1.5 KB ConfigMaps against the shared in-process server, client and etcd
// included, for comparing the server's cost per request (ns/op, B/op and
// allocs/op) between changes; profile it with -cpuprofile.
func BenchmarkWritePath(b *testing.B) {
	ctx := b.Context()
	ns, err := shared.Client.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cms := shared.Client.CoreV1().ConfigMaps(ns.Name)
	payload := strings.Repeat("x", 1200)
	newCM := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
			Data:       map[string]string{"seq": "0", "payload": payload},
		}
	}
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := cms.Create(ctx, newCM(fmt.Sprintf("c-%08d", i)), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	cm, err := cms.Create(ctx, newCM("u"), metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("update", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			cm.Data["seq"] = fmt.Sprint(i)
			if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cms.Get(ctx, "u", metav1.GetOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
