package deployment_test

import (
	"context"
	"encoding/json"
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

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/deployment"
	"skiff.dev/skiff/controlplane/controllers/replicaset"
	"skiff.dev/skiff/test/simnode"
)

func ctors() []controllers.Constructor {
	return []controllers.Constructor{
		deployment.Constructor(deployment.Config{}),
		replicaset.Constructor(replicaset.Config{}),
	}
}

// nodes are simulated nodes whose pods take a moment to start and to stop,
// so that a rollout has observable steps.
var nodes = simnode.Config{Count: 3, StartupDelay: 150 * time.Millisecond, TerminationDelay: 150 * time.Millisecond}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas:        ptr.To(replicas),
			MinReadySeconds: 1,
			Selector:        &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{{Name: "c", Image: image}},
					TerminationGracePeriodSeconds: ptr.To[int64](5),
				},
			},
		},
	}
}

func rolling(d *appsv1.Deployment, surge, unavailable int32) *appsv1.Deployment {
	d.Spec.Strategy = appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxSurge: ptr.To(intstr.FromInt32(surge)), MaxUnavailable: ptr.To(intstr.FromInt32(unavailable)),
		},
	}
	return d
}

func patchDeployment(t *testing.T, e *ctrltest.Env, ns, name, patch string) {
	t.Helper()
	_, err := e.Client.AppsV1().Deployments(ns).Patch(t.Context(), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func setImage(t *testing.T, e *ctrltest.Env, ns, name, image string) {
	t.Helper()
	patchDeployment(t, e, ns, name, fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, image))
}

// rolloutStatus is what kubectl rollout status decides for a Deployment.
func rolloutStatus(d *appsv1.Deployment) (done bool, msg string, err error) {
	if d.Generation > d.Status.ObservedGeneration {
		return false, "Waiting for deployment spec update to be observed...", nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == deployment.TimedOutReason {
			return false, "", fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	switch s := d.Status; {
	case s.UpdatedReplicas < *d.Spec.Replicas:
		return false, fmt.Sprintf("%d out of %d new replicas have been updated", s.UpdatedReplicas, *d.Spec.Replicas), nil
	case s.Replicas > s.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas are pending termination", s.Replicas-s.UpdatedReplicas), nil
	case s.AvailableReplicas < s.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas are available", s.AvailableReplicas, s.UpdatedReplicas), nil
	}
	return true, "successfully rolled out", nil
}

// waitRolledOut waits until kubectl rollout status would succeed and the
// pods agree: exactly replicas active pods, all ready and of the new
// ReplicaSet.
func waitRolledOut(t *testing.T, e *ctrltest.Env, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	ctrltest.Eventually(t, 60*time.Second, "deployment "+name+" rolled out", func() (bool, string, error) {
		var err error
		d, err = e.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		done, msg, err := rolloutStatus(d)
		if err != nil || !done {
			return false, msg, err
		}
		newRS := newReplicaSet(t, e, d)
		pods, err := e.Pods(ns, labels.SelectorFromSet(d.Spec.Selector.MatchLabels))
		if err != nil || newRS == nil {
			return false, "no new replica set", err
		}
		ready := 0
		for i := range pods {
			p := &pods[i]
			if controllerutil.IsPodActive(p) && controllerutil.IsPodReady(p) &&
				p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == newRS.Labels[appsv1.DefaultDeploymentUniqueLabelKey] {
				ready++
			}
		}
		return ready == len(pods) && ready == int(*d.Spec.Replicas), "pods: " + ctrltest.Describe(pods), nil
	})
	return d
}

// replicaSets returns the ReplicaSets d controls, by revision.
func replicaSets(t *testing.T, e *ctrltest.Env, d *appsv1.Deployment) []appsv1.ReplicaSet {
	t.Helper()
	list, err := e.Client.AppsV1().ReplicaSets(d.Namespace).List(context.Background(),
		metav1.ListOptions{LabelSelector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()})
	if err != nil {
		t.Fatal(err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) {
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return revisionOf(&out[i]) < revisionOf(&out[j]) })
	return out
}

func revisionOf(rs *appsv1.ReplicaSet) string { return rs.Annotations[deployment.RevisionAnnotation] }

// newReplicaSet returns the ReplicaSet running d's template, as kubectl
// finds it.
func newReplicaSet(t *testing.T, e *ctrltest.Env, d *appsv1.Deployment) *appsv1.ReplicaSet {
	for _, rs := range replicaSets(t, e, d) {
		tmpl := rs.Spec.Template.DeepCopy()
		delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		a, _ := json.Marshal(tmpl)
		b, _ := json.Marshal(d.Spec.Template)
		if string(a) == string(b) {
			return &rs
		}
	}
	return nil
}

// rollbackUndo does what kubectl rollout undo does (toRevision 0: the
// previous revision): it finds the ReplicaSet with the second highest
// revision and patches its template and annotations into the Deployment.
func rollbackUndo(t *testing.T, e *ctrltest.Env, ns, name string) {
	t.Helper()
	d, err := e.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rss := replicaSets(t, e, d)
	if len(rss) < 2 {
		t.Fatalf("no previous revision: %d replica sets", len(rss))
	}
	prev := rss[len(rss)-2]
	tmpl := prev.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	skip := map[string]bool{corev1.LastAppliedConfigAnnotation: true, deployment.RevisionAnnotation: true,
		deployment.RevisionHistoryAnnotation: true, deployment.DesiredReplicasAnnotation: true,
		deployment.MaxReplicasAnnotation: true, appsv1.DeprecatedRollbackTo: true}
	annotations := map[string]string{}
	for k, v := range d.Annotations {
		if skip[k] {
			annotations[k] = v
		}
	}
	for k, v := range prev.Annotations {
		if !skip[k] {
			annotations[k] = v
		}
	}
	patch, _ := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	})
	if _, err := e.Client.AppsV1().Deployments(ns).Patch(t.Context(), name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// state is what a restart must not change: the ReplicaSets and the pods.
func state(t *testing.T, e *ctrltest.Env, d *appsv1.Deployment) string {
	t.Helper()
	var parts []string
	for _, rs := range replicaSets(t, e, d) {
		parts = append(parts, fmt.Sprintf("%s rev=%s replicas=%d", rs.Name, revisionOf(&rs), *rs.Spec.Replicas))
	}
	pods, err := e.Pods(d.Namespace, labels.SelectorFromSet(d.Spec.Selector.MatchLabels))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		parts = append(parts, string(p.UID))
	}
	slices.Sort(parts)
	return fmt.Sprint(parts)
}

// restartChangesNothing restarts the controller manager on a settled
// Deployment and checks that nothing moves.
func restartChangesNothing(t *testing.T, e *ctrltest.Env, d *appsv1.Deployment) {
	t.Helper()
	before := state(t, e, d)
	e.Manager.Restart()
	ctrltest.Never(t, 2*time.Second, "restart changed a settled deployment", func() (bool, string, error) {
		after := state(t, e, d)
		return after != before, after + " != " + before, nil
	})
}

// readySampler checks that the deployment never has fewer than minReady
// ready pods nor more than maxActive active ones.
func readySampler(e *ctrltest.Env, ns string, sel labels.Selector, minReady, maxActive int) *ctrltest.Sampler {
	return ctrltest.Sample(15*time.Millisecond, func() string {
		_, active, ready, err := e.CountPods(ns, sel)
		if err != nil {
			return ""
		}
		if ready < minReady || active > maxActive {
			return fmt.Sprintf("%d ready (min %d), %d active (max %d)", ready, minReady, active, maxActive)
		}
		return ""
	})
}

func TestRollingUpdateKeepsReadyReplicas(t *testing.T) {
	e := ctrltest.Start(t, nodes, ctors()...)
	ns := e.Namespace("rolling")
	ctx := t.Context()
	d := rolling(newDeployment("web", 6, "app:v1"), 2, 0)
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	if _, err := e.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d = waitRolledOut(t, e, ns, "web")
	rss := replicaSets(t, e, d)
	if len(rss) != 1 || revisionOf(&rss[0]) != "1" || d.Annotations[deployment.RevisionAnnotation] != "1" {
		t.Fatalf("after create: replica sets %v, deployment revision %q", names(rss), d.Annotations[deployment.RevisionAnnotation])
	}
	first := rss[0]
	hash := first.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if first.Name != "web-"+hash || first.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		first.Annotations[deployment.DesiredReplicasAnnotation] != "6" || first.Annotations[deployment.MaxReplicasAnnotation] != "8" {
		t.Fatalf("replica set %s labels %v selector %v annotations %v", first.Name, first.Labels, first.Spec.Selector, first.Annotations)
	}

	ctrltest.Eventually(t, 10*time.Second, "ScalingReplicaSet event", func() (bool, string, error) {
		evs, err := e.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		var seen []string
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Kind == "Deployment" && ev.Reason == "ScalingReplicaSet" {
				seen = append(seen, ev.Message)
				if ev.Message == "Scaled up replica set "+first.Name+" from 0 to 6" && ev.Source.Component == deployment.Name {
					return true, "", nil
				}
			}
		}
		return false, fmt.Sprint(seen), nil
	})

	// Roll to v2 with a controller-manager restart halfway; ready pods
	// never drop below 6 and active ones never exceed 6 + maxSurge.
	sampler := readySampler(e, ns, labels.SelectorFromSet(labels.Set{"app": "web"}), 6, 8)
	setImage(t, e, ns, "web", "app:v2")
	ctrltest.Eventually(t, 30*time.Second, "rollout halfway", func() (bool, string, error) {
		d, err := e.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return d.Status.UpdatedReplicas >= 2 && d.Status.Replicas > d.Status.UpdatedReplicas, fmt.Sprintf("%+v", d.Status), nil
	})
	e.Manager.Restart()
	d = waitRolledOut(t, e, ns, "web")
	if n, bad := sampler.Stop(); len(bad) > 0 || n < 20 {
		t.Fatalf("%d samples, %d violations: %v", n, len(bad), bad)
	}
	rss = replicaSets(t, e, d)
	if len(rss) != 2 || revisionOf(&rss[1]) != "2" || *rss[0].Spec.Replicas != 0 || d.Annotations[deployment.RevisionAnnotation] != "2" {
		t.Fatalf("after v2: replica sets %v, deployment revision %q", names(rss), d.Annotations[deployment.RevisionAnnotation])
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && (c.Status != corev1.ConditionTrue || c.Reason != deployment.NewRSAvailableReason) {
			t.Errorf("Progressing = %s/%s, want True/%s", c.Status, c.Reason, deployment.NewRSAvailableReason)
		}
		if c.Type == appsv1.DeploymentAvailable && c.Status != corev1.ConditionTrue {
			t.Errorf("Available = %s", c.Status)
		}
	}

	// A third template: revisionHistoryLimit 1 keeps one old ReplicaSet.
	setImage(t, e, ns, "web", "app:v3")
	d = waitRolledOut(t, e, ns, "web")
	ctrltest.Eventually(t, 10*time.Second, "history pruned to one old replica set", func() (bool, string, error) {
		rss = replicaSets(t, e, d)
		return len(rss) == 2 && revisionOf(&rss[0]) == "2" && revisionOf(&rss[1]) == "3", names(rss), nil
	})
	restartChangesNothing(t, e, d)
}

func names(rss []appsv1.ReplicaSet) string {
	var out []string
	for _, rs := range rss {
		out = append(out, fmt.Sprintf("%s(rev %s, %d)", rs.Name, revisionOf(&rs), *rs.Spec.Replicas))
	}
	return fmt.Sprint(out)
}

func TestRollbackToPreviousReplicaSet(t *testing.T) {
	e := ctrltest.Start(t, nodes, ctors()...)
	ns := e.Namespace("rollback")
	ctx := t.Context()
	d := rolling(newDeployment("web", 3, "app:v1"), 1, 1)
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "v1"}
	if _, err := e.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d = waitRolledOut(t, e, ns, "web")
	v1 := replicaSets(t, e, d)[0]
	if v1.Annotations["kubernetes.io/change-cause"] != "v1" {
		t.Errorf("change-cause not copied to the replica set: %v", v1.Annotations)
	}
	patchDeployment(t, e, ns, "web", `{"metadata":{"annotations":{"kubernetes.io/change-cause":"v2"}},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"app:v2"}]}}}}`)
	d = waitRolledOut(t, e, ns, "web")

	// kubectl rollout undo: back to v1's ReplicaSet, which becomes
	// revision 3 and remembers revision 1.
	rollbackUndo(t, e, ns, "web")
	ctrltest.Eventually(t, 10*time.Second, "rollback started", func() (bool, string, error) {
		got, err := e.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return got.Annotations[deployment.RevisionAnnotation] == "3", fmt.Sprint(got.Annotations), nil
	})
	e.Manager.Restart()
	d = waitRolledOut(t, e, ns, "web")
	rss := replicaSets(t, e, d)
	if len(rss) != 2 {
		t.Fatalf("rollback made a new replica set: %s", names(rss))
	}
	back := rss[1]
	if back.UID != v1.UID || revisionOf(&back) != "3" || back.Annotations[deployment.RevisionHistoryAnnotation] != "1" || *back.Spec.Replicas != 3 {
		t.Fatalf("after undo: %s, want %s at revision 3 with history 1 (annotations %v)", names(rss), v1.Name, back.Annotations)
	}
	if d.Annotations["kubernetes.io/change-cause"] != "v1" || d.Spec.Template.Spec.Containers[0].Image != "app:v1" {
		t.Errorf("deployment after undo: annotations %v, image %s", d.Annotations, d.Spec.Template.Spec.Containers[0].Image)
	}

	// Undo again: back to v2 (revision 4).
	rollbackUndo(t, e, ns, "web")
	d = waitRolledOut(t, e, ns, "web")
	ctrltest.Eventually(t, 10*time.Second, "v2 at revision 4", func() (bool, string, error) {
		rss = replicaSets(t, e, d)
		return len(rss) == 2 && revisionOf(&rss[1]) == "4" && rss[1].Spec.Template.Spec.Containers[0].Image == "app:v2" &&
			rss[1].Annotations[deployment.RevisionHistoryAnnotation] == "2", names(rss), nil
	})
	restartChangesNothing(t, e, d)
}

func TestPauseAndResume(t *testing.T) {
	e := ctrltest.Start(t, nodes, ctors()...)
	ns := e.Namespace("pause")
	ctx := t.Context()
	if _, err := e.Client.AppsV1().Deployments(ns).Create(ctx, rolling(newDeployment("web", 3, "app:v1"), 1, 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := waitRolledOut(t, e, ns, "web")

	// Paused: a template change rolls nothing out, scaling still works.
	patchDeployment(t, e, ns, "web", `{"spec":{"paused":true}}`)
	setImage(t, e, ns, "web", "app:v2")
	patchDeployment(t, e, ns, "web", `{"spec":{"replicas":4}}`)
	ctrltest.Eventually(t, 20*time.Second, "paused deployment scaled, not rolled", func() (bool, string, error) {
		got, err := e.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		rss := replicaSets(t, e, got)
		c := progressing(got)
		return got.Status.ObservedGeneration == got.Generation && len(rss) == 1 && *rss[0].Spec.Replicas == 4 &&
				got.Status.AvailableReplicas == 4 && c != nil && c.Reason == deployment.PausedDeployReason && c.Status == corev1.ConditionUnknown,
			fmt.Sprintf("%s %+v", names(rss), got.Status), nil
	})
	e.Manager.Restart()
	ctrltest.Never(t, 2*time.Second, "paused deployment rolled out", func() (bool, string, error) {
		rss := replicaSets(t, e, d)
		return len(rss) != 1, names(rss), nil
	})

	patchDeployment(t, e, ns, "web", `{"spec":{"paused":false}}`)
	d = waitRolledOut(t, e, ns, "web")
	rss := replicaSets(t, e, d)
	if len(rss) != 2 || rss[1].Spec.Template.Spec.Containers[0].Image != "app:v2" || *rss[1].Spec.Replicas != 4 {
		t.Fatalf("after resume: %s", names(rss))
	}
	if c := progressing(d); c == nil || c.Reason != deployment.NewRSAvailableReason {
		t.Errorf("Progressing after resume = %+v", c)
	}
}

func progressing(d *appsv1.Deployment) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == appsv1.DeploymentProgressing {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func TestProgressDeadlineExceeded(t *testing.T) {
	e := ctrltest.Start(t, nodes, ctors()...)
	ns := e.Namespace("deadline")
	ctx := t.Context()
	d := rolling(newDeployment("web", 2, "app:v1"), 1, 0)
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](3)
	if _, err := e.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, e, ns, "web")

	// v2's pods fit no node: the rollout stalls and times out, and the
	// old pods keep serving.
	patchDeployment(t, e, ns, "web", `{"spec":{"template":{"spec":{"nodeSelector":{"no":"such-node"}}}}}`)
	start := time.Now()
	ctrltest.Eventually(t, 20*time.Second, "ProgressDeadlineExceeded", func() (bool, string, error) {
		got, err := e.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		_, _, err = rolloutStatus(got)
		c := progressing(got)
		return err != nil && c.Status == corev1.ConditionFalse, fmt.Sprintf("%+v", c), nil
	})
	// Condition times have whole seconds: the deadline may pass up to a
	// second early.
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("timed out after %v, before the 3s deadline", took)
	}
	_, _, ready, err := e.CountPods(ns, labels.SelectorFromSet(labels.Set{"app": "web"}))
	if err != nil || ready != 2 {
		t.Errorf("%d ready pods while stalled, want the 2 old ones (%v)", ready, err)
	}
	restartChangesNothing(t, e, d)

	// Fixing the template lets the rollout finish.
	patchDeployment(t, e, ns, "web", `{"spec":{"template":{"spec":{"nodeSelector":null}}}}`)
	d = waitRolledOut(t, e, ns, "web")
	if c := progressing(d); c.Status != corev1.ConditionTrue || c.Reason != deployment.NewRSAvailableReason {
		t.Errorf("Progressing after the fix = %+v", c)
	}
}

func TestRecreate(t *testing.T) {
	e := ctrltest.Start(t, nodes, ctors()...)
	ns := e.Namespace("recreate")
	ctx := t.Context()
	d := newDeployment("web", 3, "app:v1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := e.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d = waitRolledOut(t, e, ns, "web")
	oldHash := replicaSets(t, e, d)[0].Labels[appsv1.DefaultDeploymentUniqueLabelKey]

	// Old and new pods never exist together, even across a restart.
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	sampler := ctrltest.Sample(15*time.Millisecond, func() string {
		pods, err := e.Pods(ns, sel)
		if err != nil {
			return ""
		}
		var oldPods, newPods int
		for i := range pods {
			if pods[i].Labels[appsv1.DefaultDeploymentUniqueLabelKey] == oldHash {
				oldPods++
			} else {
				newPods++
			}
		}
		if oldPods > 0 && newPods > 0 {
			return "old and new pods together: " + ctrltest.Describe(pods)
		}
		return ""
	})
	setImage(t, e, ns, "web", "app:v2")
	ctrltest.Eventually(t, 10*time.Second, "old replica set scaled down", func() (bool, string, error) {
		rss := replicaSets(t, e, d)
		return *rss[0].Spec.Replicas == 0, names(rss), nil
	})
	e.Manager.Restart()
	d = waitRolledOut(t, e, ns, "web")
	if n, bad := sampler.Stop(); len(bad) > 0 {
		t.Fatalf("%d samples, %d violations: %v", n, len(bad), bad[0])
	}
	restartChangesNothing(t, e, d)
}

// Scaling a Deployment in the middle of a rollout spreads the change over
// its ReplicaSets in proportion to their sizes.
func TestProportionalScaling(t *testing.T) {
	e := ctrltest.Start(t, nodes, ctors()...)
	ns := e.Namespace("proportional")
	ctx := t.Context()
	if _, err := e.Client.AppsV1().Deployments(ns).Create(ctx, rolling(newDeployment("web", 10, "app:v1"), 3, 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := waitRolledOut(t, e, ns, "web")
	// The new pods fit nowhere, so the rollout stops with both
	// ReplicaSets active: old 8, new 5 (10 + 3 surge, 2 unavailable).
	patchDeployment(t, e, ns, "web", `{"spec":{"template":{"spec":{"nodeSelector":{"no":"such-node"}}}}}`)
	ctrltest.Eventually(t, 20*time.Second, "rollout stuck at 8 old + 5 new", func() (bool, string, error) {
		rss := replicaSets(t, e, d)
		return len(rss) == 2 && *rss[0].Spec.Replicas == 8 && *rss[1].Spec.Replicas == 5, names(rss), nil
	})
	patchDeployment(t, e, ns, "web", `{"spec":{"replicas":20}}`)
	// 20 + 3 surge = 23 to share: the old one grows to 8*23/13 = 14, the
	// new one takes the rest, 9.
	ctrltest.Eventually(t, 20*time.Second, "scaled proportionally", func() (bool, string, error) {
		rss := replicaSets(t, e, d)
		return len(rss) == 2 && *rss[0].Spec.Replicas == 14 && *rss[1].Spec.Replicas == 9 &&
			rss[0].Annotations[deployment.DesiredReplicasAnnotation] == "20", names(rss), nil
	})
}
