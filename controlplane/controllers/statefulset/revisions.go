package statefulset

import (
	"bytes"
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// RevisionHashLabel is the label holding a StatefulSet revision's hash.
const RevisionHashLabel = "controller.kubernetes.io/hash"

// newRevision returns (without creating it) the ControllerRevision of
// set's template, numbered revision, named <set>-<hash>.
func newRevision(set *appsv1.StatefulSet, revision int64, collisionCount int32) (*appsv1.ControllerRevision, error) {
	patch, err := controllerutil.TemplatePatch(set)
	if err != nil {
		return nil, err
	}
	lbls := map[string]string{}
	for k, v := range set.Spec.Template.Labels {
		lbls[k] = v
	}
	ann := map[string]string{}
	for k, v := range set.Annotations {
		ann[k] = v
	}
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     ann,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}
	nameRevision(set, rev, collisionCount)
	return rev, nil
}

func nameRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision, collisionCount int32) {
	hash := controllerutil.HashRevision(rev.Data.Raw, &collisionCount)
	rev.Name = controllerutil.RevisionName(set.Name, hash)
	rev.Labels[RevisionHashLabel] = hash
}

// revisions returns the current and update revisions of set, creating the
// update revision or renumbering an equal older one (a rollback) as
// needed, and the collision count it ended with. revs must be sorted.
func (sc *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisions int32, err error) {
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	next := int64(1)
	if len(revs) > 0 {
		next = revs[len(revs)-1].Revision + 1
	}
	update, err = newRevision(set, next, collisions)
	if err != nil {
		return nil, nil, collisions, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range revs {
		if bytes.Equal(r.Data.Raw, update.Data.Raw) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revs[len(revs)-1]:
		update = revs[len(revs)-1]
	case len(equal) > 0:
		upd := equal[len(equal)-1].DeepCopy()
		upd.Revision = next
		if update, err = sc.client.AppsV1().ControllerRevisions(set.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return nil, nil, collisions, fmt.Errorf("renumber revision %s: %w", upd.Name, err)
		}
	default:
		if update, err = sc.createRevision(ctx, set, update, &collisions); err != nil {
			return nil, nil, collisions, err
		}
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
		}
	}
	if current == nil {
		current = update
	}
	return current, update, collisions, nil
}

// createRevision creates rev, renaming it with a higher collision count
// while its name is taken by a different revision.
func (sc *Controller) createRevision(ctx context.Context, set *appsv1.StatefulSet, rev *appsv1.ControllerRevision, collisions *int32) (*appsv1.ControllerRevision, error) {
	for {
		created, err := sc.client.AppsV1().ControllerRevisions(set.Namespace).Create(ctx, rev, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return nil, fmt.Errorf("create revision %s: %w", rev.Name, err)
			}
			return created, nil
		}
		existing, err := sc.client.AppsV1().ControllerRevisions(set.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if bytes.Equal(existing.Data.Raw, rev.Data.Raw) {
			return existing, nil
		}
		*collisions++
		nameRevision(set, rev, *collisions)
	}
}

// truncateHistory deletes the oldest revisions beyond
// revisionHistoryLimit that are neither current, nor the update one, nor
// run by a pod.
func (sc *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[podRevision(p)] = true
	}
	var history []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			history = append(history, r)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	if len(history) <= limit {
		return nil
	}
	for _, r := range history[:len(history)-limit] {
		if err := sc.client.AppsV1().ControllerRevisions(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete revision %s: %w", r.Name, err)
		}
	}
	return nil
}

// applyRevision returns a copy of set with rev's template.
func applyRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	t, err := controllerutil.RevisionTemplate(rev)
	if err != nil {
		return nil, err
	}
	out := set.DeepCopy()
	out.Spec.Template = *t
	return out, nil
}
