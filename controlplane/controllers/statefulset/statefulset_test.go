package statefulset_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/controllers/controllerutil"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/statefulset"
	"skiff.dev/skiff/test/simnode"
)

var (
	sel   = labels.SelectorFromSet(labels.Set{"app": "web"})
	nodes = simnode.Config{Count: 2, StartupDelay: 200 * time.Millisecond, TerminationDelay: 200 * time.Millisecond}
)

func newSet(replicas int32, policy appsv1.PodManagementPolicyType) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         "web",
			PodManagementPolicy: policy,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{{Name: "c", Image: "web:v1"}},
					TerminationGracePeriodSeconds: ptr.To[int64](5),
				},
			},
		},
	}
}

// podsByOrdinal returns the set's pods (being deleted too) by ordinal.
func podsByOrdinal(e *ctrltest.Env, ns string) (map[int]corev1.Pod, error) {
	pods, err := e.Pods(ns, sel)
	if err != nil {
		return nil, err
	}
	out := map[int]corev1.Pod{}
	for _, p := range pods {
		ord, err := strconv.Atoi(p.Labels[appsv1.PodIndexLabel])
		if err != nil {
			return nil, fmt.Errorf("pod %s has no index label", p.Name)
		}
		out[ord] = p
	}
	return out, nil
}

func ready(p corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && controllerutil.IsPodReady(&p)
}

// waitSet waits until the set has exactly pods web-0..web-(n-1), all
// ready at the revision the status calls current and update, and the
// status reports them.
func waitSet(t *testing.T, e *ctrltest.Env, ns string, n int32) *appsv1.StatefulSet {
	t.Helper()
	var set *appsv1.StatefulSet
	ctrltest.Eventually(t, 30*time.Second, fmt.Sprintf("statefulset at %d", n), func() (bool, string, error) {
		var err error
		set, err = e.Client.AppsV1().StatefulSets(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		pods, err := podsByOrdinal(e, ns)
		if err != nil {
			return false, "", err
		}
		s := set.Status
		if len(pods) != int(n) || s.ObservedGeneration != set.Generation || s.Replicas != n || s.ReadyReplicas != n ||
			s.AvailableReplicas != n || s.CurrentReplicas != n || s.UpdatedReplicas != n || s.CurrentRevision != s.UpdateRevision {
			return false, fmt.Sprintf("%d pods, status %+v", len(pods), s), nil
		}
		for i := range int(n) {
			p, ok := pods[i]
			if !ok || !ready(p) || p.Labels[appsv1.StatefulSetRevisionLabel] != s.UpdateRevision {
				return false, fmt.Sprintf("web-%d: %+v", i, p.Status.Phase), nil
			}
		}
		return true, "", nil
	})
	return set
}

// orderedSampler checks the OrderedReady guarantee: a pod exists only
// while all lower ordinals are running and ready.
func orderedSampler(e *ctrltest.Env, ns string) *ctrltest.Sampler {
	return ctrltest.Sample(15*time.Millisecond, func() string {
		pods, err := podsByOrdinal(e, ns)
		if err != nil {
			return ""
		}
		for ord := range pods {
			for lower := range ord {
				if p, ok := pods[lower]; !ok || !ready(p) {
					return fmt.Sprintf("web-%d exists while web-%d is not running and ready", ord, lower)
				}
			}
		}
		return ""
	})
}

func scale(t *testing.T, e *ctrltest.Env, ns string, n int) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := e.Client.AppsV1().StatefulSets(ns).Patch(t.Context(), "web", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestOrderedScaleUpAndDown(t *testing.T) {
	e := ctrltest.Start(t, nodes, statefulset.Constructor(statefulset.Config{}))
	ns := e.Namespace("ordered")
	ctx := t.Context()
	s := orderedSampler(e, ns)
	if _, err := e.Client.AppsV1().StatefulSets(ns).Create(ctx, newSet(4, appsv1.OrderedReadyPodManagement), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, "web-1 created", func() (bool, string, error) {
		pods, err := podsByOrdinal(e, ns)
		_, ok := pods[1]
		return ok, fmt.Sprint(len(pods)), err
	})
	e.Manager.Restart()
	set := waitSet(t, e, ns, 4)

	// Stable identity: name, hostname, subdomain, labels.
	pods, err := podsByOrdinal(e, ns)
	if err != nil {
		t.Fatal(err)
	}
	for ord, p := range pods {
		name := fmt.Sprintf("web-%d", ord)
		if p.Name != name || p.Spec.Hostname != name || p.Spec.Subdomain != "web" ||
			p.Labels[appsv1.StatefulSetPodNameLabel] != name || !metav1.IsControlledBy(&p, set) {
			t.Errorf("pod %d: name %s hostname %s subdomain %s labels %v", ord, p.Name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
		}
	}

	scale(t, e, ns, 1)
	ctrltest.Eventually(t, 10*time.Second, "web-3 gone", func() (bool, string, error) {
		pods, err := podsByOrdinal(e, ns)
		_, ok := pods[3]
		return !ok, fmt.Sprint(len(pods)), err
	})
	e.Manager.Restart()
	waitSet(t, e, ns, 1)
	if n, bad := s.Stop(); len(bad) > 0 || n < 20 {
		t.Fatalf("%d samples, %d violations: %v", n, len(bad), bad)
	}

	// A restart of a settled set changes nothing.
	before, _ := podsByOrdinal(e, ns)
	e.Manager.Restart()
	ctrltest.Never(t, 2*time.Second, "restart changed the pods", func() (bool, string, error) {
		after, err := podsByOrdinal(e, ns)
		return err == nil && (len(after) != 1 || after[0].UID != before[0].UID), fmt.Sprint(after), nil
	})
}

func TestParallelPodManagement(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 2, StartupDelay: time.Second}, statefulset.Constructor(statefulset.Config{}))
	ns := e.Namespace("parallel")
	ctx := t.Context()
	if _, err := e.Client.AppsV1().StatefulSets(ns).Create(ctx, newSet(4, appsv1.ParallelPodManagement), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// All four exist before any has started.
	readyEarly := false
	ctrltest.Eventually(t, 5*time.Second, "all pods created at once", func() (bool, string, error) {
		pods, err := podsByOrdinal(e, ns)
		if err != nil {
			return false, "", err
		}
		for _, p := range pods {
			readyEarly = readyEarly || (ready(p) && len(pods) < 4)
		}
		return len(pods) == 4, fmt.Sprint(len(pods)), nil
	})
	if readyEarly {
		t.Error("a pod was ready before all were created: creation waited for readiness")
	}
	waitSet(t, e, ns, 4)
	scale(t, e, ns, 1)
	ctrltest.Eventually(t, 5*time.Second, "condemned pods deleted together", func() (bool, string, error) {
		pods, err := podsByOrdinal(e, ns)
		deleting := 0
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				deleting++
			}
		}
		return deleting == 3 || len(pods) == 1, fmt.Sprint(deleting), err
	})
	waitSet(t, e, ns, 1)
}

func TestPartitionedRollingUpdate(t *testing.T) {
	e := ctrltest.Start(t, nodes, statefulset.Constructor(statefulset.Config{}))
	ns := e.Namespace("partition")
	ctx := t.Context()
	set := newSet(4, appsv1.OrderedReadyPodManagement)
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
		Type:          appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)},
	}
	if _, err := e.Client.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	set = waitSet(t, e, ns, 4)
	rev1 := set.Status.CurrentRevision

	// Updates go from the highest ordinal down, one at a time: a lower
	// ordinal is never updated while a higher one is not.
	order := ctrltest.Sample(15*time.Millisecond, func() string {
		pods, err := podsByOrdinal(e, ns)
		if err != nil {
			return ""
		}
		for low, p := range pods {
			for high, q := range pods {
				if low < high && p.Labels[appsv1.StatefulSetRevisionLabel] != rev1 && q.Labels[appsv1.StatefulSetRevisionLabel] == rev1 {
					return fmt.Sprintf("web-%d updated before web-%d", low, high)
				}
			}
		}
		readyPods := 0
		for _, p := range pods {
			if ready(p) {
				readyPods++
			}
		}
		if readyPods < 3 {
			return fmt.Sprintf("%d ready pods, more than maxUnavailable 1 down", readyPods)
		}
		return ""
	})
	setImage := func(image string) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, image)
		if _, err := e.Client.AppsV1().StatefulSets(ns).Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setImage("web:v2")
	ctrltest.Eventually(t, 10*time.Second, "web-3 updated", func() (bool, string, error) {
		pods, err := podsByOrdinal(e, ns)
		return err == nil && image(pods[3]) == "web:v2", "", err
	})
	e.Manager.Restart()
	// Partition 2: web-2 and web-3 move to v2, web-0 and web-1 stay.
	var rev2 string
	ctrltest.Eventually(t, 20*time.Second, "partitioned update done", func() (bool, string, error) {
		set, err := e.Client.AppsV1().StatefulSets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		pods, err := podsByOrdinal(e, ns)
		if err != nil {
			return false, "", err
		}
		s := set.Status
		rev2 = s.UpdateRevision
		images := image(pods[0]) + image(pods[1]) + image(pods[2]) + image(pods[3])
		ok := s.ObservedGeneration == set.Generation && s.UpdatedReplicas == 2 && s.CurrentReplicas == 2 &&
			s.ReadyReplicas == 4 && s.CurrentRevision == rev1 && s.UpdateRevision != rev1 && images == "web:v1web:v1web:v2web:v2" &&
			ready(pods[2]) && ready(pods[3])
		return ok, images + fmt.Sprintf(" %+v", s), nil
	})
	// A pod below the partition comes back at the current revision.
	uid := mustPod(t, e, ns, 0).UID
	if err := e.Client.CoreV1().Pods(ns).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, "web-0 recreated at v1", func() (bool, string, error) {
		p, err := e.Client.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return p.UID != uid && ready(*p) && p.Spec.Containers[0].Image == "web:v1" && p.Labels[appsv1.StatefulSetRevisionLabel] == rev1, p.Spec.Containers[0].Image, nil
	})

	// Partition 0 finishes the update; the update revision becomes
	// current.
	if _, err := e.Client.AppsV1().StatefulSets(ns).Patch(ctx, "web", types.MergePatchType,
		[]byte(`{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	set = waitSet(t, e, ns, 4)
	if n, bad := order.Stop(); len(bad) > 0 {
		t.Fatalf("%d samples, %d violations: %v", n, len(bad), bad)
	}
	if set.Status.CurrentRevision != rev2 {
		t.Errorf("current revision %s, want %s", set.Status.CurrentRevision, rev2)
	}

	// kubectl rollout undo applies the previous revision's data: v1 comes
	// back as revision 3.
	revs, err := e.Client.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(revs.Items) != 2 {
		t.Fatalf("revisions: %v, %v", len(revs.Items), err)
	}
	for _, r := range revs.Items {
		if r.Name == rev1 {
			if _, err := e.Client.AppsV1().StatefulSets(ns).Patch(ctx, "web", types.StrategicMergePatchType, r.Data.Raw, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	set = waitSet(t, e, ns, 4)
	if set.Status.CurrentRevision != rev1 || mustPod(t, e, ns, 0).Spec.Containers[0].Image != "web:v1" {
		t.Errorf("after undo: revision %s, want %s", set.Status.CurrentRevision, rev1)
	}
	r, err := e.Client.AppsV1().ControllerRevisions(ns).Get(ctx, rev1, metav1.GetOptions{})
	if err != nil || r.Revision != 3 {
		t.Errorf("revision %s renumbered to %d (%v), want 3", rev1, r.Revision, err)
	}
}

func mustPod(t *testing.T, e *ctrltest.Env, ns string, ord int) *corev1.Pod {
	t.Helper()
	p, err := e.Client.CoreV1().Pods(ns).Get(t.Context(), fmt.Sprintf("web-%d", ord), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// image is a pod's image ("" for a pod that is not there).
func image(p corev1.Pod) string {
	if len(p.Spec.Containers) == 0 {
		return ""
	}
	return p.Spec.Containers[0].Image
}
