package apiserver_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
)

// Watches that allow bookmarks get them while nothing changes, and a
// watch ends after its timeoutSeconds; events expire after --event-ttl.
func TestBookmarksTimeoutsAndEventTTL(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) {
		c.WatchBookmarkInterval = time.Second
		c.EventTTL = 2 * time.Second
	})
	ctx := testContext(t)
	cms := s.Client.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	timeout := int64(4)
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion, AllowWatchBookmarks: true, TimeoutSeconds: &timeout})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bookmarks := 0
	for ev := range w.ResultChan() {
		if ev.Type != watch.Bookmark {
			t.Fatalf("unexpected %s event", ev.Type)
		}
		m := ev.Object.(*corev1.ConfigMap)
		if m.ResourceVersion == "" {
			t.Fatal("a bookmark must carry a resourceVersion")
		}
		bookmarks++
	}
	if d := time.Since(start); d < 3*time.Second || d > 8*time.Second {
		t.Fatalf("watch with timeoutSeconds=4 ended after %s", d)
	}
	if bookmarks == 0 {
		t.Fatal("no bookmark in 4 s of a quiet watch with a 1 s bookmark interval")
	}

	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "short"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
		Reason: "Test", Message: "expires", Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "test"},
	}
	if _, err := s.Client.CoreV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := s.Client.CoreV1().Events("default").Get(ctx, "short", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event still there 20 s after a 2 s TTL: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Lists page with limit and continue at one resourceVersion; a continue
// token whose revision was compacted answers 410 Expired.
func TestPagedList(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	cms := shared.Client.CoreV1().ConfigMaps(ns)
	for i := range 5 {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("c", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := cms.List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil || len(first.Items) != 2 || first.Continue == "" || first.RemainingItemCount == nil || *first.RemainingItemCount != 3 {
		t.Fatalf("first page: %v %d items continue %q remaining %v", err, len(first.Items), first.Continue, first.RemainingItemCount)
	}
	// A change after the first page does not show in the next one.
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c9"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	second, err := cms.List(ctx, metav1.ListOptions{Limit: 10, Continue: first.Continue})
	if err != nil || len(second.Items) != 3 || second.ResourceVersion != first.ResourceVersion || second.Continue != "" {
		t.Fatalf("second page: %v %d items rv %s (first %s)", err, len(second.Items), second.ResourceVersion, first.ResourceVersion)
	}
	again, err := cms.List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c10"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	compactAll(t)
	_, err = cms.List(ctx, metav1.ListOptions{Limit: 2, Continue: again.Continue})
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("continue after compaction: got %v, want 410 Expired", err)
	}
}
