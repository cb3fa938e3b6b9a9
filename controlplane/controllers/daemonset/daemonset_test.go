package daemonset_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/controllers/controllerutil"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/daemonset"
	"skiff.dev/skiff/test/simnode"
)

var sel = labels.SelectorFromSet(labels.Set{"app": "agent"})

func newDaemonSet(image string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{{Name: "c", Image: image}},
					TerminationGracePeriodSeconds: ptr.To[int64](5),
				},
			},
		},
	}
}

// podsByNode returns the daemon's active pods by node.
func podsByNode(t *testing.T, e *ctrltest.Env, ns string) map[string][]corev1.Pod {
	t.Helper()
	pods, err := e.Pods(ns, sel)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range pods {
		if controllerutil.IsPodActive(&p) {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out
}

// waitDaemons waits until exactly the nodes named run one ready, updated
// daemon pod each and the status says so.
func waitDaemons(t *testing.T, e *ctrltest.Env, ns string, nodes ...string) {
	t.Helper()
	sort.Strings(nodes)
	ctrltest.Eventually(t, 30*time.Second, fmt.Sprintf("daemons on %v", nodes), func() (bool, string, error) {
		ds, err := e.Client.AppsV1().DaemonSets(ns).Get(context.Background(), "agent", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		byNode := podsByNode(t, e, ns)
		var got []string
		for node, pods := range byNode {
			if len(pods) != 1 || !controllerutil.IsPodReady(&pods[0]) {
				return false, fmt.Sprintf("node %s: %s", node, describe(pods)), nil
			}
			got = append(got, node)
		}
		sort.Strings(got)
		s := ds.Status
		n := int32(len(nodes))
		ok := slices.Equal(got, nodes) && s.ObservedGeneration == ds.Generation && s.DesiredNumberScheduled == n &&
			s.CurrentNumberScheduled == n && s.NumberReady == n && s.NumberAvailable == n && s.UpdatedNumberScheduled == n &&
			s.NumberUnavailable == 0
		return ok, fmt.Sprintf("pods on %v, status %+v", got, s), nil
	})
}

func TestDaemonSetFollowsNodes(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 3}, daemonset.Constructor(daemonset.Config{}))
	ns := e.Namespace("ds")
	ctx := t.Context()
	if _, err := e.Client.AppsV1().DaemonSets(ns).Create(ctx, newDaemonSet("agent:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDaemons(t, e, ns, "sim-0", "sim-1", "sim-2")
	// Each pod names its node by a matchFields affinity and was placed
	// there by the scheduler.
	for node, pods := range podsByNode(t, e, ns) {
		terms := pods[0].Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" ||
			!slices.Equal(terms[0].MatchFields[0].Values, []string{node}) {
			t.Errorf("pod on %s has affinity %+v", node, terms)
		}
		if pods[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" {
			t.Errorf("pod on %s has no controller-revision-hash", node)
		}
	}

	// Nodes come: each gets a pod, across a controller-manager restart.
	e.Manager.Stop()
	added, err := e.Nodes.Add(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	e.Manager.Start()
	waitDaemons(t, e, ns, append([]string{"sim-0", "sim-1", "sim-2"}, added...)...)

	// A node goes: nothing replaces its pod elsewhere.
	if err := e.Nodes.Delete("sim-4"); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, "desired 4 after a node left", func() (bool, string, error) {
		ds, err := e.Client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return ds.Status.DesiredNumberScheduled == 4 && ds.Status.NumberReady == 4, fmt.Sprintf("%+v", ds.Status), nil
	})

	// A NoExecute taint evicts the daemon from a node; a NoSchedule one
	// lets it stay but not come back.
	taint := func(node, effect string) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"taints":[{"key":"dedicated","value":"db","effect":%q}]}}`, effect)
		if _, err := e.Client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	taint("sim-0", "NoExecute")
	taint("sim-1", "NoSchedule")
	ctrltest.Eventually(t, 10*time.Second, "daemon evicted by NoExecute, kept despite NoSchedule", func() (bool, string, error) {
		ds, err := e.Client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		byNode := podsByNode(t, e, ns)
		s := ds.Status
		return len(byNode["sim-0"]) == 0 && len(byNode["sim-1"]) == 1 && s.DesiredNumberScheduled == 2 &&
				s.NumberMisscheduled == 1 && s.NumberReady == 2 && s.UpdatedNumberScheduled == 2,
			fmt.Sprintf("%+v; sim-0: %s", s, ctrltest.Describe(byNode["sim-0"])), nil
	})
}

func TestDaemonSetNodeSelector(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 3}, daemonset.Constructor(daemonset.Config{}))
	ns := e.Namespace("dsel")
	ctx := t.Context()
	label := func(node, value string) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"labels":{"role":%s}}}`, value)
		if _, err := e.Client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	label("sim-1", `"edge"`)
	ds := newDaemonSet("agent:v1")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "edge"}
	if _, err := e.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDaemons(t, e, ns, "sim-1")
	label("sim-2", `"edge"`)
	waitDaemons(t, e, ns, "sim-1", "sim-2")
	label("sim-1", "null")
	waitDaemons(t, e, ns, "sim-2")
}

func TestDaemonSetRollingUpdate(t *testing.T) {
	e := ctrltest.Start(t, simnode.Config{Count: 4, StartupDelay: 150 * time.Millisecond, TerminationDelay: 150 * time.Millisecond},
		daemonset.Constructor(daemonset.Config{}))
	ns := e.Namespace("dsroll")
	ctx := t.Context()
	ds := newDaemonSet("agent:v1")
	ds.Spec.MinReadySeconds = 1
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{
		Type:          appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0))},
	}
	if _, err := e.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	all := []string{"sim-0", "sim-1", "sim-2", "sim-3"}
	waitDaemons(t, e, ns, all...)

	// counts samples nodes with a ready daemon pod and active pods.
	sample := func(minReady, maxActive int) *ctrltest.Sampler {
		return ctrltest.Sample(15*time.Millisecond, func() string {
			pods, err := e.Pods(ns, sel)
			if err != nil {
				return ""
			}
			readyNodes, active := map[string]bool{}, 0
			for i := range pods {
				if controllerutil.IsPodActive(&pods[i]) {
					active++
					if controllerutil.IsPodReady(&pods[i]) {
						readyNodes[pods[i].Spec.NodeName] = true
					}
				}
			}
			if len(readyNodes) < minReady || active > maxActive {
				return fmt.Sprintf("%d nodes with a ready pod (min %d), %d active pods (max %d): %s",
					len(readyNodes), minReady, active, maxActive, ctrltest.Describe(pods))
			}
			return ""
		})
	}
	update := func(image string) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, image)
		if _, err := e.Client.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	images := func() map[string]int {
		out := map[string]int{}
		for _, pods := range podsByNode(t, e, ns) {
			for _, p := range pods {
				out[p.Spec.Containers[0].Image]++
			}
		}
		return out
	}

	// maxUnavailable 1: at most one node is without a ready daemon.
	s := sample(3, 4)
	update("agent:v2")
	ctrltest.Eventually(t, 20*time.Second, "update halfway", func() (bool, string, error) {
		return images()["agent:v2"] >= 1, fmt.Sprint(images()), nil
	})
	e.Manager.Restart()
	waitDaemons(t, e, ns, all...)
	if n, bad := s.Stop(); len(bad) > 0 {
		t.Fatalf("%d samples, %d violations: %v", n, len(bad), bad[0])
	}
	if got := images(); got["agent:v2"] != 4 {
		t.Fatalf("images after update: %v", got)
	}

	// maxSurge 1, maxUnavailable 0: every node keeps a ready daemon, and
	// at most one extra pod runs.
	if _, err := e.Client.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.MergePatchType,
		[]byte(`{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	s = sample(4, 5)
	update("agent:v3")
	waitDaemons(t, e, ns, all...)
	if n, bad := s.Stop(); len(bad) > 0 {
		t.Fatalf("%d samples, %d violations: %v", n, len(bad), bad[0])
	}
	if got := images(); got["agent:v3"] != 4 {
		t.Fatalf("images after surge update: %v", got)
	}

	// Three ControllerRevisions, numbered in order; the current one's
	// hash is on every pod.
	revs, err := e.Client.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 3 {
		t.Fatalf("%d revisions, want 3", len(revs.Items))
	}
	var newest appsv1.ControllerRevision
	for _, r := range revs.Items {
		if r.Revision > newest.Revision {
			newest = r
		}
	}
	if newest.Revision != 3 {
		t.Errorf("newest revision %d, want 3", newest.Revision)
	}
	for _, pods := range podsByNode(t, e, ns) {
		if h := pods[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; newest.Name != "agent-"+h {
			t.Errorf("pod hash %s, newest revision %s", h, newest.Name)
		}
	}

	// kubectl rollout undo applies the previous revision's data as a
	// patch: the v2 revision becomes revision 4 and its pods come back.
	var prev appsv1.ControllerRevision
	for _, r := range revs.Items {
		if r.Revision == 2 {
			prev = r
		}
	}
	if _, err := e.Client.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.StrategicMergePatchType, prev.Data.Raw, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDaemons(t, e, ns, all...)
	if got := images(); got["agent:v2"] != 4 {
		t.Fatalf("images after undo: %v", got)
	}
	r, err := e.Client.AppsV1().ControllerRevisions(ns).Get(ctx, prev.Name, metav1.GetOptions{})
	if err != nil || r.Revision != 4 {
		t.Fatalf("undone revision %s: %v, revision %d, want 4", prev.Name, err, r.Revision)
	}

	// A restart when all is done changes nothing.
	uids := func() string {
		var out []string
		for _, pods := range podsByNode(t, e, ns) {
			for _, p := range pods {
				out = append(out, string(p.UID))
			}
		}
		sort.Strings(out)
		return fmt.Sprint(out)
	}
	before := uids()
	e.Manager.Restart()
	ctrltest.Never(t, 2*time.Second, "restart changed the daemon pods", func() (bool, string, error) {
		after := uids()
		return after != before, after, nil
	})
}

// describe shows daemon pods with their revision, target node and owner.
func describe(pods []corev1.Pod) string {
	out := ctrltest.Describe(pods)
	for _, p := range pods {
		target := ""
		if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			target = fmt.Sprint(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms)
		}
		out += fmt.Sprintf("[%s hash=%s target=%s owner=%v] ", p.Name, p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey], target, metav1.GetControllerOf(&p) != nil)
	}
	return out
}
