package daemonset

import (
	"bytes"
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// rollingUpdate replaces old pods. Without surge it deletes old pods
// while fewer than maxUnavailable nodes lack an available pod, and the
// manage loop creates the new ones; with surge it creates new pods next
// to old ones (at most maxSurge at a time, any number for old pods that
// are unavailable anyway) and deletes an old pod once its node's new one
// is available.
func (dc *Controller) rollingUpdate(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	byNode, err := dc.nodePods(ctx, ds, false)
	if err != nil {
		return err
	}
	maxSurge, maxUnavailable, desired, err := dc.rollingLimits(ds, nodes, byNode)
	if err != nil {
		return fmt.Errorf("daemon set %s: %w", key, err)
	}
	now := dc.now()
	available := func(p *corev1.Pod) bool { return controllerutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) }

	if maxSurge == 0 {
		var unavailable int
		var replace, candidates []string
		for _, pods := range byNode {
			newPod, oldPod, ok := updatedPodsOnNode(pods, hash)
			switch {
			case !ok:
				// Duplicates: the manage loop prunes them first.
				unavailable++
			case oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				unavailable++
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			case !available(oldPod):
				replace = append(replace, oldPod.Name)
				unavailable++
			case unavailable < maxUnavailable:
				candidates = append(candidates, oldPod.Name)
			}
		}
		n := min(max(maxUnavailable-unavailable, 0), len(candidates))
		return dc.syncNodes(ctx, key, ds, append(replace, candidates[:n]...), nil, hash)
	}

	nodeByName := map[string]*corev1.Node{}
	for _, n := range nodes {
		nodeByName[n.Name] = n
	}
	wanted := func(node string) bool {
		n, ok := nodeByName[node]
		if !ok {
			return false
		}
		run, _ := shouldRun(n, ds)
		return run
	}
	var del, shouldNotRun, candidates, allowed []string
	var surging, numAvailable int
	for node, pods := range byNode {
		newPod, oldPod, ok := updatedPodsOnNode(pods, hash)
		if !ok {
			surging++
			continue
		}
		if (oldPod != nil && available(oldPod)) || (oldPod == nil && newPod != nil && available(newPod)) {
			numAvailable++
		}
		switch {
		case oldPod == nil:
			// Nothing to replace; the manage loop creates what is missing.
		case newPod == nil && !available(oldPod):
			if !wanted(node) {
				del = append(del, oldPod.Name)
				continue
			}
			allowed = append(allowed, node)
		case newPod == nil:
			if !wanted(node) {
				shouldNotRun = append(shouldNotRun, oldPod.Name)
				continue
			}
			if surging >= maxSurge {
				continue
			}
			candidates = append(candidates, node)
		case !available(newPod):
			surging++
		default:
			del = append(del, oldPod.Name)
		}
	}
	// Pods on nodes the DaemonSet left go only while enough others are
	// available, so that moving it never leaves it without pods.
	if extra := min(numAvailable-desired, len(shouldNotRun)); extra > 0 {
		del = append(del, shouldNotRun[:extra]...)
	}
	n := min(max(maxSurge-surging, 0), len(candidates))
	return dc.syncNodes(ctx, key, ds, del, append(allowed, candidates[:n]...), hash)
}

// rollingLimits returns maxSurge and maxUnavailable resolved against the
// nodes that should run ds, and their number; it gives those nodes an
// entry in byNode.
func (dc *Controller) rollingLimits(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod) (surge, unavailable, desired int, err error) {
	for _, n := range nodes {
		if run, _ := shouldRun(n, ds); run {
			desired++
			if _, ok := byNode[n.Name]; !ok {
				byNode[n.Name] = nil
			}
		}
	}
	unavailable, err = scaled(ds, func(r *appsv1.RollingUpdateDaemonSet) *intstr.IntOrString { return r.MaxUnavailable }, desired)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	surge, err = scaled(ds, func(r *appsv1.RollingUpdateDaemonSet) *intstr.IntOrString { return r.MaxSurge }, desired)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	if desired > 0 && surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable, desired, nil
}

// updatedPodsOnNode returns a node's live new and old pod; ok is false
// when there is more than one of either.
func updatedPodsOnNode(pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// constructHistory returns the ControllerRevision of ds's current
// template (created, or renumbered as the newest, as needed) and the
// others.
func (dc *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	revs, err := dc.ownedRevisions(ctx, ds)
	if err != nil {
		return nil, nil, err
	}
	patch, err := controllerutil.TemplatePatch(ds)
	if err != nil {
		return nil, nil, err
	}
	var current, old []*appsv1.ControllerRevision
	for _, r := range revs {
		if bytes.Equal(r.Data.Raw, patch) {
			current = append(current, r)
		} else {
			old = append(old, r)
		}
	}
	next := controllerutil.MaxRevision(old) + 1
	if len(current) == 0 {
		cur, err := dc.snapshot(ctx, ds, patch, next)
		return cur, old, err
	}
	cur, err := dc.dedupRevisions(ctx, ds, current)
	if err != nil {
		return nil, nil, err
	}
	if cur.Revision < next {
		upd := cur.DeepCopy()
		upd.Revision = next
		if cur, err = dc.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return nil, nil, fmt.Errorf("renumber revision %s: %w", upd.Name, err)
		}
	}
	return cur, old, nil
}

// ownedRevisions returns ds's ControllerRevisions, adopting and releasing
// as for pods.
func (dc *Controller) ownedRevisions(ctx context.Context, ds *appsv1.DaemonSet) ([]*appsv1.ControllerRevision, error) {
	claimer, err := dc.claimer(ds)
	if err != nil {
		return nil, err
	}
	all, err := dc.revLister.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controllerutil.Claim(ctx, claimer, all, controllerutil.RevisionPatcher(dc.client))
}

// snapshot creates the revision of ds's template, named
// <daemonset>-<hash>. A name taken by another template bumps the
// collision count, which changes the hash next time.
func (dc *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, patch []byte, revision int64) (*appsv1.ControllerRevision, error) {
	hash := controllerutil.ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            controllerutil.RevisionName(ds.Name, hash),
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     ds.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}
	created, err := dc.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, rev, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return created, err
	}
	existing, getErr := dc.client.AppsV1().ControllerRevisions(ds.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, getErr
	}
	if bytes.Equal(existing.Data.Raw, patch) && metav1.IsControlledBy(existing, ds) {
		return existing, nil
	}
	fresh, getErr := dc.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, getErr
	}
	count := int32(1)
	if fresh.Status.CollisionCount != nil {
		count = *fresh.Status.CollisionCount + 1
	}
	fresh.Status.CollisionCount = &count
	if _, err := dc.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("revision name %s collides: collision count now %d", rev.Name, count)
}

// dedupRevisions keeps the newest of several revisions of the same
// template, relabelling the pods of the others before deleting them.
func (dc *Controller) dedupRevisions(ctx context.Context, ds *appsv1.DaemonSet, revs []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	keep := revs[0]
	for _, r := range revs[1:] {
		if r.Revision >= keep.Revision {
			keep = r
		}
	}
	if len(revs) == 1 {
		return keep, nil
	}
	keepHash := keep.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	byNode, err := dc.nodePods(ctx, ds, true)
	if err != nil {
		return nil, err
	}
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, appsv1.DefaultDaemonSetUniqueLabelKey, keepHash)
	for _, pods := range byNode {
		for _, p := range pods {
			if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == keepHash {
				continue
			}
			if _, err := dc.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("relabel pod %s: %w", controllerutil.PodKey(p), err)
			}
		}
	}
	for _, r := range revs {
		if r.Name == keep.Name {
			continue
		}
		if err := dc.client.AppsV1().ControllerRevisions(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("delete duplicate revision %s: %w", r.Name, err)
		}
	}
	return keep, nil
}

// cleanupHistory deletes the oldest revisions beyond
// revisionHistoryLimit that no pod runs.
func (dc *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision) error {
	toKill := len(old) - int(*ds.Spec.RevisionHistoryLimit)
	if toKill <= 0 {
		return nil
	}
	byNode, err := dc.nodePods(ctx, ds, true)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, pods := range byNode {
		for _, p := range pods {
			live[p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] = true
		}
	}
	old = append([]*appsv1.ControllerRevision(nil), old...)
	controllerutil.SortRevisions(old)
	for _, r := range old {
		if toKill <= 0 {
			break
		}
		if live[r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		if err := dc.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete revision %s: %w", r.Name, err)
		}
		toKill--
	}
	return nil
}
