package storage_test

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/etcd/etcdtest"
	"skiff.dev/skiff/controlplane/storage"
)

// TestUpdateAfterForeignWrite checks that an update of a key the store
// remembers from its own last write still sees a write made elsewhere (by
// another apiserver, say): its preconditions, its update function and a
// write that changes nothing all work from the fresh state.
func TestUpdateAfterForeignWrite(t *testing.T) {
	e := etcdtest.Start(t)
	s := newPodStore(t, e)
	other := newPodStore(t, e) // another apiserver over the same etcd
	ctx := context.Background()
	key := s.Key("default", "a")
	if err := s.Create(ctx, key, pod("default", "a", "", nil), &corev1.Pod{}, nil); err != nil {
		t.Fatal(err)
	}
	setNode := func(node string) storage.UpdateFunc {
		return func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
			p := cur.DeepCopyObject().(*corev1.Pod)
			p.Spec.NodeName = node
			return p, nil, nil
		}
	}
	var mine corev1.Pod
	if err := s.GuaranteedUpdate(ctx, key, &mine, false, nil, setNode("n1")); err != nil {
		t.Fatal(err)
	}
	var theirs corev1.Pod
	if err := other.GuaranteedUpdate(ctx, key, &theirs, false, nil, setNode("n2")); err != nil {
		t.Fatal(err)
	}

	// A precondition on the newest resourceVersion holds.
	rv := theirs.ResourceVersion
	var out corev1.Pod
	if err := s.GuaranteedUpdate(ctx, key, &out, false, &storage.Preconditions{ResourceVersion: &rv}, setNode("n3")); err != nil {
		t.Fatalf("update with the newest resourceVersion: %v", err)
	}
	if out.Spec.NodeName != "n3" {
		t.Fatalf("node = %q, want n3", out.Spec.NodeName)
	}

	// The update function sees what the other store wrote.
	if err := other.GuaranteedUpdate(ctx, key, &theirs, false, nil, setNode("n4")); err != nil {
		t.Fatal(err)
	}
	errSeen := errors.New("saw another node")
	err := s.GuaranteedUpdate(ctx, key, &out, false, nil, func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
		if n := cur.(*corev1.Pod).Spec.NodeName; n != "n4" {
			return nil, nil, errSeen
		}
		return setNode("n5")(cur)
	})
	if err != nil {
		t.Fatalf("update after a foreign write: %v", err)
	}

	// A write that changes nothing answers with the stored object.
	if err := other.GuaranteedUpdate(ctx, key, &theirs, false, nil, setNode("n6")); err != nil {
		t.Fatal(err)
	}
	if err := s.GuaranteedUpdate(ctx, key, &out, false, nil, setNode("n6")); err != nil {
		t.Fatal(err)
	}
	if out.ResourceVersion != theirs.ResourceVersion || out.Spec.NodeName != "n6" {
		t.Fatalf("no-op update answered rv %s node %q, want rv %s node n6", out.ResourceVersion, out.Spec.NodeName, theirs.ResourceVersion)
	}

	// A key deleted elsewhere is gone for this store too.
	if err := other.Delete(ctx, key, &corev1.Pod{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.GuaranteedUpdate(ctx, key, &out, false, nil, setNode("n7")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update of a key deleted elsewhere: got %v, want ErrNotFound", err)
	}
}
