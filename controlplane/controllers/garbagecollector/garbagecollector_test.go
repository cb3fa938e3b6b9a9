package garbagecollector_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/garbagecollector"
	"skiff.dev/skiff/controlplane/server/servertest"
)

var (
	srv *servertest.Server
	// gc builds the controller under test.
	gc controllers.Constructor = func(c *controllers.Context) (controllers.Controller, error) {
		return garbagecollector.New(c, garbagecollector.Config{Metadata: c.Metadata})
	}
)

func TestMain(m *testing.M) {
	servertest.Main(m, func(s *servertest.Server) error { srv = s; return nil })
}

// ref is an owner reference to a ConfigMap.
func ref(cm *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: cm.Name, UID: cm.UID, BlockOwnerDeletion: &block}
}

func configMap(t *testing.T, ns, name string, finalizers []string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := srv.Client.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers, OwnerReferences: owners}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func gone(c kubernetes.Interface, ns, name string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}
}

func mustGet(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := srv.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("configmap %s: %v", name, err)
	}
	return cm
}

func deleteWith(t *testing.T, ns, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := srv.Client.CoreV1().ConfigMaps(ns).Delete(context.Background(), name,
		metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatal(err)
	}
}

func TestBackgroundCascade(t *testing.T) {
	ns := ctrltest.NewNamespace(t, srv.Client, "gc-")
	ctx := context.Background()
	c := srv.Client
	ctrltest.StartManager(t, srv.Config, gc)

	owner := configMap(t, ns, "owner", nil)
	other := configMap(t, ns, "other-owner", nil)
	child := configMap(t, ns, "child", nil, ref(owner, false))
	configMap(t, ns, "grandchild", nil, ref(child, false))
	configMap(t, ns, "shared", nil, ref(owner, false), ref(other, false))
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pod", OwnerReferences: []metav1.OwnerReference{ref(owner, true)}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// An object whose owner never existed is garbage from the start.
	configMap(t, ns, "orphaned-at-birth", nil, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "ghost", UID: types.UID("no-such-uid")})

	time.Sleep(200 * time.Millisecond)
	mustGet(t, ns, "child") // owners present: nothing collected
	deleteWith(t, ns, "owner", metav1.DeletePropagationBackground)
	ctrltest.Poll(t, 15*time.Second, "owner gone at once", gone(c, ns, "owner"))
	for _, name := range []string{"child", "grandchild", "orphaned-at-birth"} {
		ctrltest.Poll(t, 15*time.Second, name+" collected", gone(c, ns, name))
	}
	ctrltest.Poll(t, 15*time.Second, "pod collected", func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	// A dependent with another owner stays, without the dead reference.
	ctrltest.Poll(t, 15*time.Second, "shared keeps its live owner only", func(ctx context.Context) (bool, error) {
		cm := mustGet(t, ns, "shared")
		return len(cm.OwnerReferences) == 1 && cm.OwnerReferences[0].UID == other.UID, nil
	})
}

func TestForegroundCascadeAcrossRestart(t *testing.T) {
	ns := ctrltest.NewNamespace(t, srv.Client, "gc-")
	c := srv.Client
	mgr := ctrltest.StartManager(t, srv.Config, gc)

	owner := configMap(t, ns, "owner", nil)
	// blocking holds the owner until it is gone; a finalizer keeps it a while.
	configMap(t, ns, "blocking", []string{"example.com/hold"}, ref(owner, true))
	configMap(t, ns, "loose", nil, ref(owner, false))
	time.Sleep(200 * time.Millisecond)

	deleteWith(t, ns, "owner", metav1.DeletePropagationForeground)
	ctrltest.Poll(t, 15*time.Second, "loose dependent collected", gone(c, ns, "loose"))
	ctrltest.Poll(t, 15*time.Second, "blocking dependent deleting", func(context.Context) (bool, error) {
		return mustGet(t, ns, "blocking").DeletionTimestamp != nil, nil
	})
	time.Sleep(200 * time.Millisecond)
	if o := mustGet(t, ns, "owner"); o.DeletionTimestamp == nil {
		t.Fatalf("foreground owner not marked deleting: %+v", o.ObjectMeta)
	}

	// The collector restarts while the owner waits; the blocking
	// dependent finishes meanwhile.
	mgr.Stop()
	held := mustGet(t, ns, "blocking")
	held.Finalizers = nil
	if _, err := c.CoreV1().ConfigMaps(ns).Update(context.Background(), held, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Poll(t, 15*time.Second, "blocking dependent gone", gone(c, ns, "blocking"))
	mgr.Start()
	ctrltest.Poll(t, 15*time.Second, "owner gone after its dependents", gone(c, ns, "owner"))
}

func TestOrphanAcrossRestart(t *testing.T) {
	ns := ctrltest.NewNamespace(t, srv.Client, "gc-")
	c := srv.Client
	mgr := ctrltest.StartManager(t, srv.Config, gc)

	owner := configMap(t, ns, "owner", nil)
	other := configMap(t, ns, "other-owner", nil)
	configMap(t, ns, "a", nil, ref(owner, true))
	configMap(t, ns, "b", nil, ref(owner, false), ref(other, false))
	time.Sleep(200 * time.Millisecond)

	deleteWith(t, ns, "owner", metav1.DeletePropagationOrphan)
	ctrltest.Poll(t, 15*time.Second, "owner gone", gone(c, ns, "owner"))
	if cm := mustGet(t, ns, "a"); len(cm.OwnerReferences) != 0 {
		t.Errorf("orphan a keeps references %v", cm.OwnerReferences)
	}
	if cm := mustGet(t, ns, "b"); len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != other.UID {
		t.Errorf("orphan b has references %v, want only other-owner", cm.OwnerReferences)
	}

	// Orphaning asked while the collector is down completes when it is
	// back.
	mgr.Stop()
	owner2 := configMap(t, ns, "owner2", nil)
	configMap(t, ns, "c", nil, ref(owner2, true))
	deleteWith(t, ns, "owner2", metav1.DeletePropagationOrphan)
	if o := mustGet(t, ns, "owner2"); o.DeletionTimestamp == nil {
		t.Fatal("orphaning owner not held by its finalizer")
	}
	mgr.Start()
	ctrltest.Poll(t, 15*time.Second, "owner2 gone", gone(c, ns, "owner2"))
	if cm := mustGet(t, ns, "c"); len(cm.OwnerReferences) != 0 {
		t.Errorf("orphan c keeps references %v", cm.OwnerReferences)
	}
	// Orphans are not garbage.
	time.Sleep(200 * time.Millisecond)
	mustGet(t, ns, "a")
	mustGet(t, ns, "c")
}

func TestBackgroundAcrossRestart(t *testing.T) {
	ns := ctrltest.NewNamespace(t, srv.Client, "gc-")
	mgr := ctrltest.StartManager(t, srv.Config, gc)
	owner := configMap(t, ns, "owner", nil)
	configMap(t, ns, "kept", nil)
	time.Sleep(100 * time.Millisecond)
	// The owner goes while the collector is down: its dependent is
	// collected when the collector is back, and nothing else is.
	mgr.Stop()
	configMap(t, ns, "child", nil, ref(owner, false))
	deleteWith(t, ns, "owner", metav1.DeletePropagationBackground)
	mgr.Start()
	ctrltest.Poll(t, 15*time.Second, "child collected after the restart", gone(srv.Client, ns, "child"))
	mustGet(t, ns, "kept")
}
