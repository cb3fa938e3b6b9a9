package controllerutil

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func TestExpectations(t *testing.T) {
	e := NewExpectations()
	now := time.Now()
	e.now = func() time.Time { return now }
	if !e.Satisfied("ns/rs") {
		t.Fatal("unknown key not satisfied")
	}
	e.Expect("ns/rs", 2, []string{"ns/a", "ns/b"})
	e.CreationObserved("ns/rs")
	e.CreationObserved("ns/rs")
	e.DeletionObserved("ns/rs", "ns/a")
	if e.Satisfied("ns/rs") {
		t.Fatal("satisfied with ns/b's deletion pending")
	}
	// The start of a graceful deletion and the final removal both report
	// the pod; an unrelated pod changes nothing.
	e.DeletionObserved("ns/rs", "ns/other")
	e.DeletionObserved("ns/rs", "ns/b")
	e.DeletionObserved("ns/rs", "ns/b")
	if !e.Satisfied("ns/rs") {
		t.Fatal("not satisfied after everything was observed")
	}
	e.Expect("ns/rs", 1, nil)
	if e.Satisfied("ns/rs") {
		t.Fatal("satisfied with a creation pending")
	}
	now = now.Add(ExpectationsTimeout + time.Second)
	if !e.Satisfied("ns/rs") {
		t.Fatal("expired expectations still block")
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	boom := errors.New("boom")
	// Batches of 1, 2, 4: the fourth call fails, so the third batch is
	// the last one.
	ok, err := SlowStartBatch(10, 1, func() error {
		if calls.Add(1) == 4 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || ok != 6 || calls.Load() != 7 {
		t.Fatalf("successes %d, calls %d, err %v; want 6, 7, boom", ok, calls.Load(), err)
	}
	ok, err = SlowStartBatch(0, 1, func() error { t.Fatal("called"); return nil })
	if ok != 0 || err != nil {
		t.Fatalf("empty batch: %d, %v", ok, err)
	}
}

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
}

func TestComputeHash(t *testing.T) {
	a, b := template("v1"), template("v2")
	h := ComputeHash(&a, nil)
	if h != ComputeHash(&a, nil) || h == ComputeHash(&b, nil) || h == ComputeHash(&a, ptr.To[int32](1)) {
		t.Fatal("hash not stable, or not sensitive to the template and the collision count")
	}
	if strings.Trim(h, "bcdfghjklmnpqrstvwxz2456789") != "" {
		t.Fatalf("hash %q has characters outside the safe alphabet", h)
	}
	if HashRevision([]byte("x"), nil) == HashRevision([]byte("x"), ptr.To[int32](1)) {
		t.Fatal("revision hash ignores the collision count")
	}
}

// A revision's data restores the template when applied as kubectl rollout
// undo applies it, and reads back as the same template.
func TestTemplatePatch(t *testing.T) {
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: template("v1")}}
	patch, err := TemplatePatch(ds)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(patch), `"$patch":"replace"`) {
		t.Fatalf("patch %s does not replace the template", patch)
	}
	rev := &appsv1.ControllerRevision{}
	rev.Data.Raw = patch
	got, err := RevisionTemplate(rev)
	if err != nil || !equality.Semantic.DeepEqual(*got, ds.Spec.Template) {
		t.Fatalf("RevisionTemplate = %+v, %v", got, err)
	}
	newer := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: template("v2")}}
	newer.Spec.Template.Labels["extra"] = "x"
	cur, _ := json.Marshal(newer)
	undone, err := strategicpatch.StrategicMergePatch(cur, patch, &appsv1.DaemonSet{})
	if err != nil {
		t.Fatal(err)
	}
	var back appsv1.DaemonSet
	if err := json.Unmarshal(undone, &back); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(back.Spec.Template, ds.Spec.Template) {
		t.Fatalf("undo gave %+v", back.Spec.Template)
	}
	again, _ := TemplatePatch(&back)
	if string(again) != string(patch) {
		t.Fatalf("patch not stable: %s vs %s", again, patch)
	}
}

func TestClaim(t *testing.T) {
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "owner"}}
	kind := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	ref := *metav1.NewControllerRef(owner, kind)
	other := ref
	other.UID = "other"
	pod := func(name, app string, refs ...metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name),
			Labels: map[string]string{"app": app}, OwnerReferences: refs}}
	}
	deleting := pod("deleting-orphan", "web")
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	pods := []*corev1.Pod{
		pod("owned", "web", ref),
		pod("owned-stray", "db", ref),
		pod("orphan", "web"),
		pod("orphan-stray", "db"),
		pod("theirs", "web", other),
		deleting,
	}
	patches := map[string]string{}
	patcher := func(_ context.Context, _, name string, p []byte) error {
		patches[name] = string(p)
		return nil
	}
	fresh := 0
	c := &Claimer{Owner: owner, Kind: kind, Selector: labels.SelectorFromSet(labels.Set{"app": "web"}),
		Fresh: func(context.Context) (metav1.Object, error) { fresh++; return owner, nil }}
	got, err := Claim(context.Background(), c, pods, patcher)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "owned,orphan" {
		t.Errorf("claimed %v, want owned and orphan", names)
	}
	if len(patches) != 2 || fresh != 1 {
		t.Fatalf("patches %v, fresh reads %d", patches, fresh)
	}
	if p := patches["orphan"]; !strings.Contains(p, `"controller":true`) || !strings.Contains(p, `"uid":"owner"`) || !strings.Contains(p, `"uid":"orphan"`) {
		t.Errorf("adopt patch %s", p)
	}
	if p := patches["owned-stray"]; !strings.Contains(p, `"$patch":"delete"`) || !strings.Contains(p, `"uid":"owner"`) {
		t.Errorf("release patch %s", p)
	}
	for _, cached := range pods {
		if cached.Name == "orphan" && len(cached.OwnerReferences) != 0 {
			t.Error("the cached orphan was modified")
		}
	}

	// An owner being deleted adopts nothing and keeps what it has.
	gone := owner.DeepCopy()
	gone.DeletionTimestamp = ptr.To(metav1.Now())
	patches = map[string]string{}
	c = &Claimer{Owner: gone, Kind: kind, Selector: labels.SelectorFromSet(labels.Set{"app": "web"})}
	if got, _ = Claim(context.Background(), c, pods, patcher); len(got) != 1 || len(patches) != 0 {
		t.Errorf("deleting owner claimed %d pods with patches %v", len(got), patches)
	}
}

func TestOwnedHandler(t *testing.T) {
	kind := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	sets := map[string]*appsv1.ReplicaSet{}
	for _, name := range []string{"a", "b"} {
		sets[name] = &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
			Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}},
		}
	}
	owners := Owners[*appsv1.ReplicaSet]{
		Kind: kind.Kind,
		Get: func(_, name string) (*appsv1.ReplicaSet, error) {
			if rs, ok := sets[name]; ok {
				return rs, nil
			}
			return nil, errors.New("not found")
		},
		List:     func(string) ([]*appsv1.ReplicaSet, error) { return []*appsv1.ReplicaSet{sets["a"], sets["b"]}, nil },
		Selector: func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector },
	}
	q := NewQueue("test")
	defer q.ShutDown()
	queued := func() string {
		var keys []string
		for q.Len() > 0 {
			key, _ := q.Get()
			q.Done(key)
			keys = append(keys, key)
		}
		slices.Sort(keys)
		return strings.Join(keys, ",")
	}
	expect := NewExpectations()
	h := OwnedHandler(q, owners, expect)
	pod := func(rv, app string, owner string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: rv, Labels: map[string]string{"app": app}}}
		if owner != "" {
			p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(sets[owner], kind)}
		}
		return p
	}

	// An orphan queues the owners that may adopt it.
	h.OnAdd(pod("1", "a", ""), false)
	if got := queued(); got != "ns/a" {
		t.Errorf("orphan added: queued %q, want ns/a", got)
	}
	// An owned pod is a creation its owner expected.
	expect.Expect("ns/a", 1, nil)
	h.OnAdd(pod("2", "a", "a"), false)
	if got := queued(); got != "ns/a" || !expect.Satisfied("ns/a") {
		t.Errorf("owned added: queued %q, expectations satisfied %v", got, expect.Satisfied("ns/a"))
	}
	// A change of owner queues both; a resync (same version) nothing.
	h.OnUpdate(pod("2", "a", "a"), pod("3", "b", "b"))
	if got := queued(); got != "ns/a,ns/b" {
		t.Errorf("owner changed: queued %q, want ns/a,ns/b", got)
	}
	h.OnUpdate(pod("3", "b", "b"), pod("3", "b", "b"))
	if got := queued(); got != "" {
		t.Errorf("resync: queued %q, want nothing", got)
	}
	// A released pod whose labels changed queues the owners matching now.
	h.OnUpdate(pod("3", "b", "b"), pod("4", "a", ""))
	if got := queued(); got != "ns/a,ns/b" {
		t.Errorf("released: queued %q, want ns/a,ns/b", got)
	}
	// The start of a graceful deletion is the deletion expected.
	expect.Expect("ns/b", 0, []string{"ns/p"})
	deleting := pod("6", "b", "b")
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	h.OnUpdate(pod("5", "b", "b"), deleting)
	if got := queued(); got != "ns/b" || !expect.Satisfied("ns/b") {
		t.Errorf("deleting: queued %q, expectations satisfied %v", got, expect.Satisfied("ns/b"))
	}
	// A tombstone finds its owner; an owner of another UID is not it.
	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: pod("7", "b", "b")})
	stale := pod("8", "a", "a")
	stale.OwnerReferences[0].UID = "uid-old"
	h.OnDelete(stale)
	if got := queued(); got != "ns/b" {
		t.Errorf("deleted: queued %q, want ns/b", got)
	}
}
