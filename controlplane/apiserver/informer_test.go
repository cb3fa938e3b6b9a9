package apiserver_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// recorder keeps what an informer's handlers saw.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(kind string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p := obj.(*corev1.Pod)
	r.mu.Lock()
	r.events = append(r.events, kind+" "+p.Name)
	r.mu.Unlock()
}

func (r *recorder) handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.add("add", o) },
		UpdateFunc: func(_, o any) { r.add("update", o) },
		DeleteFunc: func(o any) { r.add("delete", o) },
	}
}

// waitFor waits until the recorder saw want (in order, among others).
func (r *recorder) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		i := 0
		for _, e := range r.events {
			if i < len(want) && e == want[i] {
				i++
			}
		}
		r.mu.Unlock()
		if i == len(want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("informer saw %v, want in order %v", r.events, want)
}

func testPod(name, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

// Shared informers (client-go's default: the streaming initial list) see
// creates, updates and deletes, and filtered informers see pods enter and
// leave their selection, as a node agent watching spec.nodeName needs.
func TestInformers(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	cs := shared.Client
	pods := cs.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, testPod("before", "", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	all, onNode, web := &recorder{}, &recorder{}, &recorder{}
	stop := make(chan struct{})
	var factories []informers.SharedInformerFactory
	t.Cleanup(func() {
		close(stop)
		for _, f := range factories {
			f.Shutdown()
		}
	})
	start := func(rec *recorder, tweak func(*metav1.ListOptions)) {
		f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns), informers.WithTweakListOptions(tweak))
		inf := f.Core().V1().Pods().Informer()
		if _, err := inf.AddEventHandler(rec.handler()); err != nil {
			t.Fatal(err)
		}
		f.Start(stop)
		factories = append(factories, f)
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			t.Fatal("informer did not sync")
		}
	}
	start(all, nil)
	start(onNode, func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=node-1" })
	start(web, func(o *metav1.ListOptions) { o.LabelSelector = "tier in (web,frontend)" })
	all.waitFor(t, "add before")

	p, err := pods.Create(ctx, testPod("p", "", map[string]string{"tier": "db"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all.waitFor(t, "add before", "add p")

	// Binding puts the pod on node-1: the node's informer sees it arrive.
	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	onNode.waitFor(t, "add p")

	p, err = pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels["tier"] = "web"
	if p, err = pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	web.waitFor(t, "add p")
	all.waitFor(t, "add p", "update p")
	p.Labels["tier"] = "batch"
	if _, err = pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	web.waitFor(t, "add p", "delete p")

	// The pod leaves the node's view when it is deleted (graceful: the
	// deletion timestamp first, then the final delete).
	zero := int64(0)
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	onNode.waitFor(t, "add p", "delete p")
	all.waitFor(t, "add p", "update p", "delete p")
}

// An informer whose watch resumes from a compacted revision gets 410 Gone,
// lists again and ends with the right state, missing nothing.
func TestInformerRecoversAfterCompaction(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	cs := shared.Client
	pods := cs.CoreV1().Pods(ns)
	for i := range 3 {
		if _, err := pods.Create(ctx, testPod(fmt.Sprint("p", i), "", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Watches last a second; while held, the informer cannot start a new
	// one, so it misses what happens meanwhile and must resume from an old
	// resourceVersion.
	var held atomic.Bool
	waiting, release := make(chan struct{}), make(chan struct{})
	var relists atomic.Int32
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			relists.Add(1)
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			if held.Load() {
				waiting <- struct{}{}
				<-release
			}
			if o.SendInitialEvents != nil && *o.SendInitialEvents {
				relists.Add(1)
			}
			timeout := int64(1)
			o.TimeoutSeconds = &timeout
			return pods.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	held.Store(true)
	<-waiting
	listsBefore := relists.Load()

	if _, err := pods.Create(ctx, testPod("after", "", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "p0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	compactAll(t)
	held.Store(false)
	close(release)

	want := "after,p1,p2"
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		var names []string
		for _, o := range inf.GetStore().List() {
			names = append(names, o.(*corev1.Pod).Name)
		}
		sort.Strings(names)
		if got = strings.Join(names, ","); got == want && relists.Load() > listsBefore {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("informer holds %q after %d relists, want %q after a relist", got, relists.Load()-listsBefore, want)
}

func compactAll(t *testing.T) {
	t.Helper()
	ctx := testContext(t)
	resp, err := shared.Etcd().Get(ctx, "/registry", countOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Etcd().Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
}
