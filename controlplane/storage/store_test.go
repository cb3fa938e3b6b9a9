package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/skiff/controlplane/apis"
	"skiff.dev/skiff/controlplane/etcd"
	"skiff.dev/skiff/controlplane/etcd/etcdtest"
	"skiff.dev/skiff/controlplane/storage"
)

func newPodStore(t testing.TB, e *etcd.Embedded) *storage.Store {
	t.Helper()
	proto := protobuf.NewSerializer(apis.Scheme, apis.Scheme)
	codec := apis.Codecs.CodecForVersions(proto, proto, corev1.SchemeGroupVersion, corev1.SchemeGroupVersion)
	s, err := storage.New(storage.Config{
		Client:      e.Client,
		Codec:       codec,
		Prefix:      "/registry/pods/",
		NewFunc:     func() runtime.Object { return &corev1.Pod{} },
		NewListFunc: func() runtime.Object { return &corev1.PodList{} },
		Leases:      storage.NewLeaseManager(e.Client, time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pod(ns, name, node string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls, UID: "uid-" + "name"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func podAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	p := obj.(*corev1.Pod)
	return p.Labels, fields.Set{"metadata.name": p.Name, "metadata.namespace": p.Namespace, "spec.nodeName": p.Spec.NodeName}, nil
}

func TestCreateGetUpdateDelete(t *testing.T) {
	e := etcdtest.Start(t)
	s := newPodStore(t, e)
	ctx := context.Background()
	key := s.Key("default", "a")

	var created corev1.Pod
	if err := s.Create(ctx, key, pod("default", "a", "", nil), &created, nil); err != nil {
		t.Fatal(err)
	}
	if created.ResourceVersion == "" || created.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("created = %+v", created)
	}
	if err := s.Create(ctx, key, pod("default", "a", "", nil), &corev1.Pod{}, nil); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	var got corev1.Pod
	if err := s.Get(ctx, key, &got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("get rv %s, created rv %s", got.ResourceVersion, created.ResourceVersion)
	}

	// A stale resourceVersion precondition is a conflict.
	stale := "1"
	err := s.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, &storage.Preconditions{ResourceVersion: &stale},
		func(cur runtime.Object) (runtime.Object, *storage.Extras, error) { return cur, nil, nil })
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}

	var updated corev1.Pod
	err = s.GuaranteedUpdate(ctx, key, &updated, false, nil, func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
		p := cur.(*corev1.Pod).DeepCopy()
		p.Spec.NodeName = "n1"
		return p, nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Spec.NodeName != "n1" || updated.ResourceVersion == created.ResourceVersion {
		t.Fatalf("updated = %s rv %s", updated.Spec.NodeName, updated.ResourceVersion)
	}

	// An update that changes nothing writes nothing.
	var same corev1.Pod
	err = s.GuaranteedUpdate(ctx, key, &same, false, nil, func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
		return cur.(*corev1.Pod).DeepCopy(), nil, nil
	})
	if err != nil || same.ResourceVersion != updated.ResourceVersion {
		t.Fatalf("no-op update: err %v rv %s want %s", err, same.ResourceVersion, updated.ResourceVersion)
	}

	var deleted corev1.Pod
	if err := s.Delete(ctx, key, &deleted, nil, nil); err != nil {
		t.Fatal(err)
	}
	if deleted.Spec.NodeName != "n1" {
		t.Fatalf("deleted object = %+v", deleted.Spec)
	}
	if err := s.Get(ctx, key, &got); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

// Concurrent read-modify-write cycles through GuaranteedUpdate lose nothing.
func TestGuaranteedUpdateNoLostUpdates(t *testing.T) {
	e := etcdtest.Start(t)
	s := newPodStore(t, e)
	ctx := context.Background()
	key := s.Key("default", "counter")
	if err := s.Create(ctx, key, pod("default", "counter", "", map[string]string{"n": "0"}), &corev1.Pod{}, nil); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := s.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, nil, func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
					p := cur.(*corev1.Pod).DeepCopy()
					var n int
					fmt.Sscan(p.Labels["n"], &n)
					p.Labels["n"] = fmt.Sprint(n + 1)
					return p, nil, nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var got corev1.Pod
	if err := s.Get(ctx, key, &got); err != nil {
		t.Fatal(err)
	}
	if got.Labels["n"] != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d", got.Labels["n"], workers*each)
	}
}

func TestClaims(t *testing.T) {
	e := etcdtest.Start(t)
	s := newPodStore(t, e)
	ctx := context.Background()
	claim := &storage.Extras{Claims: map[string]string{"/registry/ranges/test/1": "a"}}
	if err := s.Create(ctx, s.Key("default", "a"), pod("default", "a", "", nil), &corev1.Pod{}, claim); err != nil {
		t.Fatal(err)
	}
	err := s.Create(ctx, s.Key("default", "b"), pod("default", "b", "", nil), &corev1.Pod{}, claim)
	var ce *storage.ClaimError
	if !errors.As(err, &ce) || ce.Key != "/registry/ranges/test/1" {
		t.Fatalf("second claim: got %v, want ClaimError", err)
	}
	if err := s.Get(ctx, s.Key("default", "b"), &corev1.Pod{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("b must not exist after a failed claim: %v", err)
	}
	// Deleting a with the release frees the claim.
	err = s.Delete(ctx, s.Key("default", "a"), &corev1.Pod{}, nil, func(runtime.Object) (*storage.Extras, error) {
		return &storage.Extras{Releases: []string{"/registry/ranges/test/1"}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, s.Key("default", "b"), pod("default", "b", "", nil), &corev1.Pod{}, claim); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
}

func TestListPagingAndSelectors(t *testing.T) {
	e := etcdtest.Start(t)
	s := newPodStore(t, e)
	ctx := context.Background()
	for i := range 10 {
		ns := "a"
		if i%2 == 1 {
			ns = "b"
		}
		tier := "web"
		if i < 4 {
			tier = "db"
		}
		p := pod(ns, fmt.Sprintf("p%02d", i), "", map[string]string{"tier": tier})
		if err := s.Create(ctx, s.Key(ns, p.Name), p, &corev1.Pod{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var all corev1.PodList
	if err := s.List(ctx, s.Prefix(), storage.ListOptions{}, &all); err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 10 || all.ResourceVersion == "" {
		t.Fatalf("list all: %d items rv %q", len(all.Items), all.ResourceVersion)
	}

	// Pages of 3 with a label selector that skips items: every page holds
	// 3 matches and the pages together hold each web pod once.
	sel, _ := labels.Parse("tier=web")
	opts := storage.ListOptions{Limit: 3, Predicate: storage.Predicate{Label: sel, GetAttrs: podAttrs}}
	var names []string
	for {
		var page corev1.PodList
		if err := s.List(ctx, s.Prefix(), opts, &page); err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			names = append(names, p.Name)
		}
		if page.Continue == "" {
			break
		}
		if len(page.Items) != 3 {
			t.Fatalf("page with continue has %d items", len(page.Items))
		}
		if page.ResourceVersion != all.ResourceVersion {
			t.Fatalf("page rv %s, want consistent %s", page.ResourceVersion, all.ResourceVersion)
		}
		opts.Continue = page.Continue
	}
	if got := strings.Join(names, ","); got != "p04,p06,p08,p05,p07,p09" {
		t.Fatalf("paged names = %s", got)
	}

	var nsB corev1.PodList
	if err := s.List(ctx, s.NamespacePrefix("b"), storage.ListOptions{}, &nsB); err != nil {
		t.Fatal(err)
	}
	if len(nsB.Items) != 5 {
		t.Fatalf("namespace b has %d pods", len(nsB.Items))
	}

	// A continue token outlives nothing once its revision is compacted.
	var first corev1.PodList
	if err := s.List(ctx, s.Prefix(), storage.ListOptions{Limit: 2}, &first); err != nil {
		t.Fatal(err)
	}
	if first.RemainingItemCount == nil || *first.RemainingItemCount != 8 {
		t.Fatalf("remainingItemCount = %v", first.RemainingItemCount)
	}
	if err := s.Create(ctx, s.Key("a", "late"), pod("a", "late", "", nil), &corev1.Pod{}, nil); err != nil {
		t.Fatal(err)
	}
	rev, _ := s.Revision(ctx)
	if _, err := e.Client.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	err := s.List(ctx, s.Prefix(), storage.ListOptions{Limit: 2, Continue: first.Continue}, &corev1.PodList{})
	if !errors.Is(err, storage.ErrExpired) {
		t.Fatalf("continue after compaction: %v, want ErrExpired", err)
	}
	if err := s.List(ctx, s.Prefix(), storage.ListOptions{Continue: "garbage"}, &corev1.PodList{}); !errors.Is(err, storage.ErrInvalidContinue) {
		t.Fatalf("bad continue: %v", err)
	}
}

func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event in 10s")
	}
	return watch.Event{}
}

func eventName(ev watch.Event) string {
	if p, ok := ev.Object.(*corev1.Pod); ok {
		return string(ev.Type) + " " + p.Name
	}
	return string(ev.Type)
}

// A watch filtered on spec.nodeName sees a pod arrive when it is bound to
// the node and leave when it moves away, as an agent needs.
func TestWatchFilteredEnterLeave(t *testing.T) {
	e := etcdtest.Start(t)
	s := newPodStore(t, e)
	ctx := context.Background()
	rev, _ := s.Revision(ctx)
	fsel := fields.OneTermEqualSelector("spec.nodeName", "n1")
	w, err := s.Watch(ctx, s.Prefix(), storage.WatchOptions{
		ResourceVersion: fmt.Sprint(rev),
		Predicate:       storage.Predicate{Field: fsel, GetAttrs: podAttrs},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	key := s.Key("default", "p")
	setNode := func(node string) {
		err := s.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, nil, func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
			p := cur.(*corev1.Pod).DeepCopy()
			p.Spec.NodeName = node
			return p, nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, key, pod("default", "p", "", nil), &corev1.Pod{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, s.Key("default", "other"), pod("default", "other", "n2", nil), &corev1.Pod{}, nil); err != nil {
		t.Fatal(err)
	}
	setNode("n1")
	if got := eventName(next(t, w)); got != "ADDED p" {
		t.Fatalf("bind: %s", got)
	}
	setNode("n1") // no change, no event
	p := pod("default", "p", "n1", map[string]string{"x": "y"})
	err = s.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, nil, func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
		c := cur.(*corev1.Pod).DeepCopy()
		c.Labels = p.Labels
		return c, nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := eventName(next(t, w)); got != "MODIFIED p" {
		t.Fatalf("label change: %s", got)
	}
	setNode("n2")
	ev := next(t, w)
	if got := eventName(ev); got != "DELETED p" {
		t.Fatalf("move away: %s", got)
	}
	if ev.Object.(*corev1.Pod).Spec.NodeName != "n1" {
		t.Fatalf("DELETED must carry the last matching state")
	}
}

func TestWatchInitialEventsAndCompaction(t *testing.T) {
	e := etcdtest.Start(t)
	s := newPodStore(t, e)
	ctx := context.Background()
	for i := range 3 {
		if err := s.Create(ctx, s.Key("default", fmt.Sprint("p", i)), pod("default", fmt.Sprint("p", i), "", nil), &corev1.Pod{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	yes := true
	w, err := s.Watch(ctx, s.Prefix(), storage.WatchOptions{SendInitialEvents: &yes, AllowBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i := range 3 {
		if got := eventName(next(t, w)); got != fmt.Sprint("ADDED p", i) {
			t.Fatalf("initial event %d: %s", i, got)
		}
	}
	bm := next(t, w)
	if bm.Type != watch.Bookmark || bm.Object.(*corev1.Pod).Annotations[storage.InitialEventsAnnotation] != "true" {
		t.Fatalf("want initial-events-end bookmark, got %s %+v", bm.Type, bm.Object)
	}
	if err := s.Create(ctx, s.Key("default", "p3"), pod("default", "p3", "", nil), &corev1.Pod{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := eventName(next(t, w)); got != "ADDED p3" {
		t.Fatalf("after bookmark: %s", got)
	}

	// A watch from a compacted revision gets 410 Expired.
	rev, _ := s.Revision(ctx)
	if _, err := e.Client.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	old, err := s.Watch(ctx, s.Prefix(), storage.WatchOptions{ResourceVersion: "2"})
	if err != nil {
		t.Fatal(err)
	}
	ev := next(t, old)
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok || st.Code != 410 {
		t.Fatalf("compacted watch: %s %+v", ev.Type, ev.Object)
	}
	if _, open := <-old.ResultChan(); open {
		t.Fatal("watch must end after the 410")
	}
}

func TestTTL(t *testing.T) {
	e := etcdtest.Start(t)
	s := newPodStore(t, e)
	ctx := context.Background()
	if err := s.Create(ctx, s.Key("default", "ttl"), pod("default", "ttl", "", nil), &corev1.Pod{}, &storage.Extras{TTL: 1}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.Client.Get(ctx, s.Key("default", "ttl"))
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("object must carry a lease: %v %+v", err, resp)
	}
}

func TestTooLarge(t *testing.T) {
	e := etcdtest.Start(t)
	s := newPodStore(t, e)
	p := pod("default", "big", "", nil)
	p.Annotations = map[string]string{"big": strings.Repeat("x", 2<<20)}
	err := s.Create(context.Background(), s.Key("default", "big"), p, &corev1.Pod{}, nil)
	if !errors.Is(err, storage.ErrTooLarge) {
		t.Fatalf("2 MiB object: got %v, want ErrTooLarge", err)
	}
}
