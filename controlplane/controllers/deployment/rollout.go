package deployment

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// rolloutRolling moves d towards its new ReplicaSet: it grows the new one
// as far as maxSurge allows, else shrinks old ones as far as
// maxUnavailable allows, unhealthy pods first.
func (dc *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := dc.allReplicaSets(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := append(old, newRS)
	scaledUp, err := dc.reconcileNewReplicaSet(ctx, all, newRS, d)
	if err != nil {
		return err
	}
	if scaledUp {
		return dc.syncRolloutStatus(ctx, all, newRS, d)
	}
	scaledDown, err := dc.reconcileOldReplicaSets(ctx, all, activeReplicaSets(old), newRS, d)
	if err != nil {
		return err
	}
	if scaledDown {
		return dc.syncRolloutStatus(ctx, all, newRS, d)
	}
	if deploymentComplete(d, &d.Status) {
		if err := dc.cleanup(ctx, old, d); err != nil {
			return err
		}
	}
	return dc.syncRolloutStatus(ctx, all, newRS, d)
}

func (dc *Controller) reconcileNewReplicaSet(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if *newRS.Spec.Replicas == *d.Spec.Replicas {
		return false, nil
	}
	if *newRS.Spec.Replicas > *d.Spec.Replicas {
		scaled, _, err := dc.scaleAndRecord(ctx, newRS, *d.Spec.Replicas, d)
		return scaled, err
	}
	size, err := newRSNewReplicas(d, all, newRS)
	if err != nil {
		return false, err
	}
	scaled, _, err := dc.scaleAndRecord(ctx, newRS, size, d)
	return scaled, err
}

// reconcileOldReplicaSets shrinks the old ReplicaSets without taking the
// available pods below replicas - maxUnavailable, counting the new
// ReplicaSet's unavailable pods against the budget.
func (dc *Controller) reconcileOldReplicaSets(ctx context.Context, all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if specReplicas(old) == 0 {
		return false, nil
	}
	minAvailable := *d.Spec.Replicas - maxUnavailable(d)
	newUnavailable := *newRS.Spec.Replicas - newRS.Status.AvailableReplicas
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	old, cleaned, err := dc.cleanupUnhealthyReplicas(ctx, old, d, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaled, err := dc.scaleDownOldForRollingUpdate(ctx, append(old, newRS), old, d)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

// cleanupUnhealthyReplicas shrinks old ReplicaSets by their unavailable
// pods (at most maxCleanup in all): removing them costs no availability.
func (dc *Controller) cleanupUnhealthyReplicas(ctx context.Context, old []*appsv1.ReplicaSet, d *appsv1.Deployment, maxCleanup int32) ([]*appsv1.ReplicaSet, int32, error) {
	old = append([]*appsv1.ReplicaSet(nil), old...)
	sortByCreation(old)
	var total int32
	for i, rs := range old {
		if total >= maxCleanup {
			break
		}
		if *rs.Spec.Replicas == 0 || *rs.Spec.Replicas == rs.Status.AvailableReplicas {
			continue
		}
		n := min(maxCleanup-total, *rs.Spec.Replicas-rs.Status.AvailableReplicas)
		size := *rs.Spec.Replicas - n
		if size > *rs.Spec.Replicas {
			return nil, 0, fmt.Errorf("cleaning up replica set %s/%s: would grow %d -> %d", rs.Namespace, rs.Name, *rs.Spec.Replicas, size)
		}
		_, updated, err := dc.scaleAndRecord(ctx, rs, size, d)
		if err != nil {
			return nil, total, err
		}
		total += n
		old[i] = updated
	}
	return old, total, nil
}

// scaleDownOldForRollingUpdate shrinks old ReplicaSets, oldest first, by
// the available pods above replicas - maxUnavailable.
func (dc *Controller) scaleDownOldForRollingUpdate(ctx context.Context, all, old []*appsv1.ReplicaSet, d *appsv1.Deployment) (int32, error) {
	minAvailable := *d.Spec.Replicas - maxUnavailable(d)
	available := statusSum(all, availableReplicas)
	if available <= minAvailable {
		return 0, nil
	}
	old = append([]*appsv1.ReplicaSet(nil), old...)
	sortByCreation(old)
	toScale := available - minAvailable
	var total int32
	for _, rs := range old {
		if total >= toScale {
			break
		}
		if *rs.Spec.Replicas == 0 {
			continue
		}
		n := min(*rs.Spec.Replicas, toScale-total)
		if _, _, err := dc.scaleAndRecord(ctx, rs, *rs.Spec.Replicas-n, d); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// rolloutRecreate scales every old ReplicaSet to zero, waits until their
// pods are gone, then creates and grows the new one.
func (dc *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := dc.allReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	all := append(old, newRS)
	scaledDown := false
	for _, rs := range activeReplicaSets(old) {
		scaled, _, err := dc.scaleAndRecord(ctx, rs, 0, d)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return dc.syncRolloutStatus(ctx, all, newRS, d)
	}
	running, err := dc.oldPodsRunning(d.Namespace, newRS, old)
	if err != nil {
		return err
	}
	if running {
		return dc.syncRolloutStatus(ctx, all, newRS, d)
	}
	if newRS == nil {
		if newRS, old, err = dc.allReplicaSets(ctx, d, rsList, true); err != nil {
			return err
		}
		all = append(old, newRS)
	}
	if _, _, err := dc.scaleAndRecord(ctx, newRS, *d.Spec.Replicas, d); err != nil {
		return err
	}
	if deploymentComplete(d, &d.Status) {
		if err := dc.cleanup(ctx, old, d); err != nil {
			return err
		}
	}
	return dc.syncRolloutStatus(ctx, all, newRS, d)
}

// syncRolloutStatus writes d's status during a rollout with the
// Progressing condition: NewReplicaSetAvailable when complete,
// ReplicaSetUpdated while it moves, ProgressDeadlineExceeded when it has
// not moved for progressDeadlineSeconds; and a ReplicaFailure condition
// from its ReplicaSets. A rollout that might time out is looked at again
// when it would.
func (dc *Controller) syncRolloutStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	s := dc.calculateStatus(all, newRS, d)
	if !hasProgressDeadline(d) {
		removeCondition(&s, appsv1.DeploymentProgressing)
	}
	cur := getCondition(d.Status, appsv1.DeploymentProgressing)
	complete := s.Replicas == s.UpdatedReplicas && cur != nil && cur.Reason == NewRSAvailableReason
	now := dc.now()
	if hasProgressDeadline(d) && !complete {
		subject := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case deploymentComplete(d, &s):
			setCondition(&s, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, NewRSAvailableReason,
				subject+" has successfully progressed.", now))
		case deploymentProgressing(d, &s):
			c := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReplicaSetUpdatedReason, subject+" is progressing.", now)
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					c.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&s, appsv1.DeploymentProgressing)
			}
			setCondition(&s, c)
		case deploymentTimedOut(d, &s, now):
			setCondition(&s, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, TimedOutReason,
				subject+" has timed out progressing.", now))
		}
	}
	if f := replicaFailure(all, newRS); f != nil {
		setCondition(&s, *f)
	} else {
		removeCondition(&s, appsv1.DeploymentReplicaFailure)
	}
	if reflect.DeepEqual(d.Status, s) {
		dc.requeueStuck(d, s)
		return nil
	}
	d.Status = s
	return dc.updateStatus(ctx, d)
}

// replicaFailure returns the ReplicaFailure condition of the new
// ReplicaSet, or else of an old one, as a Deployment condition.
func replicaFailure(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, all...) {
		if rs == nil {
			continue
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				return &appsv1.DeploymentCondition{
					Type: appsv1.DeploymentReplicaFailure, Status: c.Status, Reason: c.Reason, Message: c.Message,
					LastTransitionTime: c.LastTransitionTime, LastUpdateTime: c.LastTransitionTime,
				}
			}
		}
	}
	return nil
}

// requeueStuck looks at an unfinished rollout again when its progress
// deadline would pass.
func (dc *Controller) requeueStuck(d *appsv1.Deployment, s appsv1.DeploymentStatus) {
	cur := getCondition(d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cur == nil || deploymentComplete(d, &s) || cur.Reason == TimedOutReason {
		return
	}
	after := cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(dc.now())
	key := d.Namespace + "/" + d.Name
	if after <= 0 {
		dc.queue.AddRateLimited(key)
		return
	}
	// A little late, so that the deadline has surely passed.
	dc.queue.AddAfter(key, after+100*time.Millisecond)
}
