package replicaset_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/replicaset"
	"skiff.dev/skiff/test/simnode"
)

func ctors() []controllers.Constructor {
	return []controllers.Constructor{
		replicaset.Constructor(replicaset.Config{}),
		replicaset.ReplicationManagerConstructor(replicaset.Config{}),
	}
}

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "c", Image: "busybox"}},
			TerminationGracePeriodSeconds: ptr.To[int64](5),
		},
	}
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}
}

func scaleRS(t *testing.T, e *ctrltest.Env, ns, name string, replicas int32) {
	t.Helper()
	_, err := e.Client.AppsV1().ReplicaSets(ns).Patch(t.Context(), name, types.MergePatchType,
		fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// waitRS waits until the ReplicaSet has observed its spec and reports
// want ready and available replicas, with exactly want active pods.
func waitRS(t *testing.T, e *ctrltest.Env, ns, name string, want int32) *appsv1.ReplicaSet {
	t.Helper()
	var rs *appsv1.ReplicaSet
	ctrltest.Eventually(t, 30*time.Second, fmt.Sprintf("ReplicaSet %s at %d ready replicas", name, want), func() (bool, string, error) {
		var err error
		rs, err = e.Client.AppsV1().ReplicaSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		_, active, _, err := e.CountPods(ns, labels.SelectorFromSet(rs.Spec.Selector.MatchLabels))
		s := rs.Status
		return s.ObservedGeneration == rs.Generation && s.Replicas == want && s.ReadyReplicas == want &&
				s.AvailableReplicas == want && s.FullyLabeledReplicas == want && active == int(want),
			fmt.Sprintf("status %+v, %d active pods", s, active), err
	})
	return rs
}

// podUIDs returns the uids of the active pods matching sel.
func podUIDs(t *testing.T, e *ctrltest.Env, ns string, sel labels.Selector) []string {
	t.Helper()
	pods, err := e.Pods(ns, sel)
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for i := range pods {
		if controllerutil.IsPodActive(&pods[i]) {
			uids = append(uids, string(pods[i].UID))
		}
	}
	slices.Sort(uids)
	return uids
}

// neverMore samples the active pods matching sel and reports any moment
// with more than limit of them.
func neverMore(e *ctrltest.Env, ns string, sel labels.Selector, limit *atomic.Int64) *ctrltest.Sampler {
	return ctrltest.Sample(20*time.Millisecond, func() string {
		_, active, _, err := e.CountPods(ns, sel)
		if l := limit.Load(); err == nil && int64(active) > l {
			return fmt.Sprintf("%d active pods, limit %d", active, l)
		}
		return ""
	})
}

func TestReplicaSetScaleUpAndDown(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 3}, ctors()...)
	ns := e.Namespace("rs")
	ctx := t.Context()
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	var limit atomic.Int64
	limit.Store(10)
	over := neverMore(e, ns, sel, &limit)

	if _, err := e.Client.AppsV1().ReplicaSets(ns).Create(ctx, newRS("web", 10), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs := waitRS(t, e, ns, "web", 10)
	pods, _ := e.Pods(ns, sel)
	for i := range pods {
		ref := metav1.GetControllerOf(&pods[i])
		if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Fatalf("pod %s controller = %+v, want the ReplicaSet", pods[i].Name, ref)
		}
		if pods[i].GenerateName != "web-" {
			t.Errorf("pod %s generateName %q, want web-", pods[i].Name, pods[i].GenerateName)
		}
	}

	// Scaling down takes the not-ready pods first.
	unready := []string{pods[0].Name, pods[1].Name}
	for _, name := range unready {
		if err := e.Nodes.SetPodReady(ns, name, false); err != nil {
			t.Fatal(err)
		}
	}
	ctrltest.Eventually(t, 10*time.Second, "two pods reported not ready", func() (bool, string, error) {
		rs, err := e.Client.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return rs.Status.ReadyReplicas == 8 && rs.Status.AvailableReplicas == 8, fmt.Sprintf("%+v", rs.Status), nil
	})
	scaleRS(t, e, ns, "web", 8)
	waitRS(t, e, ns, "web", 8)
	limit.Store(8)
	pods, _ = e.Pods(ns, sel)
	for i := range pods {
		if slices.Contains(unready, pods[i].Name) && controllerutil.IsPodActive(&pods[i]) {
			t.Errorf("not-ready pod %s kept while ready ones were deleted", pods[i].Name)
		}
	}

	scaleRS(t, e, ns, "web", 0)
	waitRS(t, e, ns, "web", 0)
	limit.Store(12)
	scaleRS(t, e, ns, "web", 12)
	waitRS(t, e, ns, "web", 12)
	if n, bad := over.Stop(); len(bad) > 0 {
		t.Errorf("too many pods in %d of %d samples: %v", len(bad), n, bad[0])
	}

	// The events kubectl describe shows.
	ctrltest.Eventually(t, 10*time.Second, "SuccessfulCreate and SuccessfulDelete events", func() (bool, string, error) {
		evs, err := e.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		reasons := map[string]bool{}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Kind == "ReplicaSet" && ev.InvolvedObject.Name == "web" && ev.Source.Component == replicaset.ReplicaSetName {
				reasons[ev.Reason] = true
			}
		}
		return reasons["SuccessfulCreate"] && reasons["SuccessfulDelete"], fmt.Sprint(reasons), nil
	})
}

func TestReplicaSetAdoptsAndReleases(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 2}, ctors()...)
	ns := e.Namespace("adopt")
	ctx := t.Context()
	// The orphan and the ReplicaSet are made while no controller runs, so
	// that the ReplicaSet sees the orphan in its first sync: a controller
	// still starting may see the ReplicaSet before the pod, create three
	// pods, adopt the orphan, and delete one of the four: the orphan, when
	// it is not scheduled yet.
	e.Manager.Stop()
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "web"}},
		Spec:       podTemplate("web").Spec,
	}
	if _, err := e.Client.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs, err := e.Client.AppsV1().ReplicaSets(ns).Create(ctx, newRS("web", 3), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.Manager.Start()
	waitRS(t, e, ns, "web", 3)
	got, err := e.Client.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != rs.UID {
		t.Fatalf("orphan not adopted: owner %+v", ref)
	}

	// A pod relabelled out of the selector is released and replaced.
	if _, err := e.Client.CoreV1().Pods(ns).Patch(ctx, "orphan", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"app":"debug"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, "relabelled pod released", func() (bool, string, error) {
		p, err := e.Client.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return len(p.OwnerReferences) == 0, fmt.Sprint(p.OwnerReferences), nil
	})
	waitRS(t, e, ns, "web", 3)
}

func TestReplicationController(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 2}, ctors()...)
	ns := e.Namespace("rc")
	ctx := t.Context()
	tmpl := podTemplate("legacy")
	rc, err := e.Client.CoreV1().ReplicationControllers(ns).Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](4), Template: &tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sel := labels.SelectorFromSet(labels.Set{"app": "legacy"})
	waitRC := func(want int32) {
		t.Helper()
		ctrltest.Eventually(t, 30*time.Second, fmt.Sprintf("RC at %d", want), func() (bool, string, error) {
			rc, err := e.Client.CoreV1().ReplicationControllers(ns).Get(ctx, "legacy", metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			_, active, _, err := e.CountPods(ns, sel)
			s := rc.Status
			return s.ObservedGeneration == rc.Generation && s.Replicas == want && s.ReadyReplicas == want &&
				s.AvailableReplicas == want && active == int(want), fmt.Sprintf("%+v, %d active", s, active), err
		})
	}
	waitRC(4)
	pods, _ := e.Pods(ns, sel)
	for i := range pods {
		if ref := metav1.GetControllerOf(&pods[i]); ref == nil || ref.Kind != "ReplicationController" || ref.UID != rc.UID {
			t.Fatalf("pod %s controller %+v, want the ReplicationController", pods[i].Name, ref)
		}
	}
	if _, err := e.Client.CoreV1().ReplicationControllers(ns).Patch(ctx, "legacy", types.MergePatchType,
		[]byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRC(1)
}

// A controller-manager restart in the middle of scaling up and down
// finishes the change without an extra pod, and a restart when all is
// done changes nothing.
func TestReplicaSetRestartMidScale(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 3, StartupDelay: 300 * time.Millisecond, TerminationDelay: 300 * time.Millisecond}, ctors()...)
	ns := e.Namespace("restart")
	ctx := t.Context()
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	var limit atomic.Int64
	limit.Store(30)
	over := neverMore(e, ns, sel, &limit)
	if _, err := e.Client.AppsV1().ReplicaSets(ns).Create(ctx, newRS("web", 30), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, "some pods created", func() (bool, string, error) {
		all, _, _, err := e.CountPods(ns, sel)
		return all > 0, fmt.Sprint(all), err
	})
	e.Manager.Restart()
	waitRS(t, e, ns, "web", 30)

	scaleRS(t, e, ns, "web", 5)
	ctrltest.Eventually(t, 10*time.Second, "scale-down started", func() (bool, string, error) {
		all, active, _, err := e.CountPods(ns, sel)
		return active < 30, fmt.Sprint(all, active), err
	})
	e.Manager.Restart()
	waitRS(t, e, ns, "web", 5)
	limit.Store(5)
	if n, bad := over.Stop(); len(bad) > 0 {
		t.Errorf("too many pods in %d of %d samples: %v", len(bad), n, bad[0])
	}

	before := podUIDs(t, e, ns, sel)
	e.Manager.Restart()
	ctrltest.Never(t, 2*time.Second, "restart of a settled ReplicaSet changed its pods", func() (bool, string, error) {
		after := podUIDs(t, e, ns, sel)
		return !slices.Equal(before, after), fmt.Sprintf("pods %v became %v", before, after), nil
	})
	waitRS(t, e, ns, "web", 5)
}
