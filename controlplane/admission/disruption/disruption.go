// Package disruption carries out pod evictions (POST pods/{name}/eviction)
// the way kube-apiserver does, honoring PodDisruptionBudgets: a pod that
// is covered by a budget is deleted only if the budget's
// status.disruptionsAllowed is above zero, and the same eviction takes one
// from it and records the pod in status.disruptedPods with a
// compare-and-swap update of the budget, retried on conflicts. An eviction
// that would break the budget fails with 429 TooManyRequests ("Cannot
// evict pod as it would violate the pod's disruption budget.") whose cause
// says why, so that kubectl drain retries.
//
// Pods that are finished, pending or already being deleted are deleted
// without looking at budgets; a pod that is not ready is deleted without
// taking from the budget when the budget is healthy without it (or its
// unhealthyPodEvictionPolicy is AlwaysAllow), provided it is still the
// version that was checked. A pod covered by more than one budget cannot
// be evicted (500).
package disruption

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	policyv1client "k8s.io/client-go/kubernetes/typed/policy/v1"
	"k8s.io/client-go/util/retry"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"
)

// MaxDisruptedPods bounds status.disruptedPods: past it, evictions
// approved but not yet seen by the disruption controller are too many and
// further ones are refused.
const MaxDisruptedPods = 2000

// retryBackoff paces retries after conflicts, on the pod or the budget.
var retryBackoff = wait.Backoff{Steps: 20, Duration: 500 * time.Millisecond, Factor: 1.0, Jitter: 0.1}

// Pods is the pod store an eviction reads and deletes through.
type Pods interface {
	Get(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	// Delete deletes the pod as a DELETE request with opts would.
	Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) error
}

// Evictor evicts pods.
type Evictor struct {
	budgets policyv1client.PodDisruptionBudgetsGetter
	backoff wait.Backoff
	now     func() time.Time
}

// New returns an evictor that reads and updates budgets through client
// (a loopback client of the apiserver).
func New(client policyv1client.PodDisruptionBudgetsGetter) *Evictor {
	return &Evictor{budgets: client, backoff: retryBackoff, now: time.Now}
}

// Evict evicts the named pod with the delete options of the Eviction
// (nil for none); their dryRun makes the whole eviction a dry run.
func (e *Evictor) Evict(ctx context.Context, pods Pods, namespace, name string, opts *metav1.DeleteOptions) error {
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	rvGiven := opts.Preconditions != nil && opts.Preconditions.ResourceVersion != nil

	// Pods past disrupting are deleted without consulting budgets; the
	// delete is pinned to the version read, so that a pod turning running
	// in between is checked again.
	var pod *corev1.Pod
	deleted := false
	shouldRetry := apierrors.IsConflict
	if rvGiven {
		shouldRetry = func(error) bool { return false }
	}
	err := retry.OnError(e.backoff, shouldRetry, func() error {
		var err error
		if pod, err = pods.Get(ctx, namespace, name); err != nil {
			return err
		}
		if !canIgnoreBudget(pod) {
			return nil
		}
		del := opts
		if enforceResourceVersion(pod) && !rvGiven {
			del = withResourceVersion(opts, pod.ResourceVersion)
		}
		if err := pods.Delete(ctx, namespace, name, del); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	if err != nil || deleted {
		return err
	}

	budget, err := e.budget(ctx, pod)
	if err != nil {
		return err
	}
	// An unhealthy pod the budget can spare goes without taking from it,
	// but only as the version judged unhealthy.
	pinned := false
	if budget != nil {
		if unhealthyEvictable(pod, budget) {
			pinned = true
		} else if err := e.take(ctx, pod.Name, budget, len(opts.DryRun) > 0); err != nil {
			return err
		}
	}
	del := opts
	if pinned {
		del = withResourceVersion(opts, pod.ResourceVersion)
	}
	err = pods.Delete(ctx, namespace, name, del)
	if apierrors.IsConflict(err) && pinned && !rvGiven {
		// The pod changed since it was judged: let the client try again.
		return tooManyRequests(budget.Name)
	}
	return err
}

// budget returns the budget covering pod, or nil if none does.
func (e *Evictor) budget(ctx context.Context, pod *corev1.Pod) (*policyv1.PodDisruptionBudget, error) {
	list, err := e.budgets.PodDisruptionBudgets(pod.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var covering []policyv1.PodDisruptionBudget
	for _, b := range list.Items {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		// An invalid or empty selector covers nothing.
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		covering = append(covering, b)
	}
	switch len(covering) {
	case 0:
		return nil, nil
	case 1:
		return &covering[0], nil
	}
	return nil, &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError,
		Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
	}}
}

// take takes one disruption from budget for the pod, reading the budget
// afresh after a conflict.
func (e *Evictor) take(ctx context.Context, podName string, budget *policyv1.PodDisruptionBudget, dryRun bool) error {
	refresh := false
	return retry.RetryOnConflict(e.backoff, func() error {
		if refresh {
			var err error
			if budget, err = e.budgets.PodDisruptionBudgets(budget.Namespace).Get(ctx, budget.Name, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		refresh = true
		return e.checkAndDecrement(ctx, podName, budget.DeepCopy(), dryRun)
	})
}

// checkAndDecrement takes one disruption from b for podName and writes b's
// status, unless in a dry run.
func (e *Evictor) checkAndDecrement(ctx context.Context, podName string, b *policyv1.PodDisruptionBudget, dryRun bool) error {
	gr := schema.GroupResource{Group: policyv1.GroupName, Resource: "poddisruptionbudget"}
	switch {
	case b.Status.ObservedGeneration < b.Generation:
		return tooManyRequests(b.Name)
	case b.Status.DisruptionsAllowed < 0:
		return apierrors.NewForbidden(gr, b.Name, errors.New("pdb disruptions allowed is negative"))
	case len(b.Status.DisruptedPods) > MaxDisruptedPods:
		return apierrors.NewForbidden(gr, b.Name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	case b.Status.DisruptionsAllowed == 0:
		err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    policyv1.DisruptionBudgetCause,
			Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", b.Name, b.Status.DesiredHealthy, b.Status.CurrentHealthy),
		})
		return err
	}
	b.Status.DisruptionsAllowed--
	if b.Status.DisruptionsAllowed == 0 {
		pdbhelper.UpdateDisruptionAllowedCondition(b)
	}
	if dryRun {
		return nil
	}
	if b.Status.DisruptedPods == nil {
		b.Status.DisruptedPods = map[string]metav1.Time{}
	}
	// The disruption controller counts the pod as gone from now on, or
	// gives the disruption back if the pod is not deleted in time.
	b.Status.DisruptedPods[podName] = metav1.NewTime(e.now())
	_, err := e.budgets.PodDisruptionBudgets(b.Namespace).UpdateStatus(ctx, b, metav1.UpdateOptions{})
	return err
}

// tooManyRequests is the 429 of a budget not yet processed, or of a pod
// that changed under an eviction.
func tooManyRequests(name string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    policyv1.DisruptionBudgetCause,
		Message: fmt.Sprintf("The disruption budget %s is still being processed by the server.", name),
	})
	return err
}

// canIgnoreBudget reports whether evicting pod disrupts nothing: it is
// finished, not started, or already being deleted.
func canIgnoreBudget(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

// enforceResourceVersion reports whether the delete of a pod that skips
// the budgets must be pinned to the version read: unless it is finished
// or being deleted, it could become running and covered in between.
func enforceResourceVersion(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return false
	}
	return pod.DeletionTimestamp == nil
}

// unhealthyEvictable reports whether pod is unhealthy (not ready) and may
// go without taking from b: b allows it always, or is healthy without it.
func unhealthyEvictable(pod *corev1.Pod, b *policyv1.PodDisruptionBudget) bool {
	if ready(pod) {
		return false
	}
	if p := b.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
		return true
	}
	return b.Status.CurrentHealthy >= b.Status.DesiredHealthy && b.Status.DesiredHealthy > 0
}

// ready reports whether the pod's Ready condition is true.
func ready(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func withResourceVersion(opts *metav1.DeleteOptions, rv string) *metav1.DeleteOptions {
	out := opts.DeepCopy()
	if out.Preconditions == nil {
		out.Preconditions = &metav1.Preconditions{}
	}
	out.Preconditions.ResourceVersion = &rv
	return out
}
