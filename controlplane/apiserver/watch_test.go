package apiserver_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// A watch from a compacted resourceVersion answers with a 410 Expired error
// event and ends.
func TestWatchFromCompactedRevision(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	cms := shared.Client.CoreV1().ConfigMaps(ns)
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("b", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	compactAll(t)
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		st, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
			t.Fatalf("got %s %#v, want ERROR with a 410 Expired status", ev.Type, ev.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
}

// Many watches ending at once must not wedge the server's etcd watches: a
// new watch afterwards still sees a new object. (The in-process etcd client
// deadlocked on mass cancellation: etcd-io/etcd#18879.)
func TestManyWatchesStopTogether(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	cms := shared.Client.CoreV1().ConfigMaps(ns)
	for round := range 5 {
		var ws []watch.Interface
		for range 100 {
			w, err := cms.Watch(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, w)
		}
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("r", round)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			w.Stop()
		}
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprint("after", round)
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-w.ResultChan():
			if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Added || cm.Name != name {
				t.Fatalf("round %d: got %s %v", round, ev.Type, ev.Object)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: a new watch saw nothing for 10 s after 100 watches stopped", round)
		}
		w.Stop()
	}
}
