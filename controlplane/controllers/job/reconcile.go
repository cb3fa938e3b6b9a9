package job

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Reasons and messages of the job conditions, as Kubernetes words them.
const (
	reasonBackoffLimit    = "BackoffLimitExceeded"
	reasonDeadline        = "DeadlineExceeded"
	reasonCompletions     = "CompletionsReached"
	messageBackoffLimit   = "Job has reached the specified backoff limit"
	messageDeadline       = "Job was active longer than specified deadline"
	messageCompletions    = "Reached expected number of succeeded pods"
	removeFinalizerPatch  = `{"metadata":{"$deleteFromPrimitiveList/finalizers":["` + batchv1.JobTrackingFinalizer + `"]}}`
	defaultBackoffLimit   = 6
	maxPodCreatesPerSync  = 500
	slowStartInitialBatch = 1
	jobKind               = "Job"
)

// podSets is a job's pods sorted by what they mean for it.
type podSets struct {
	active []*corev1.Pod
	ready  int32
	// terminating pods are being deleted and not finished yet.
	terminating int32
	// newSucceeded and newFailed finished and are not counted yet.
	newSucceeded, newFailed []types.UID
	// tracked still carry the tracking finalizer.
	tracked map[types.UID]*corev1.Pod
	// lastFailure is the latest finish among failed pods still present.
	lastFailure time.Time
}

// classify sorts pods; counted holds the UIDs already recorded in
// status.uncountedTerminatedPods.
func (jc *Controller) classify(pods []*corev1.Pod, counted map[types.UID]bool) podSets {
	s := podSets{tracked: map[types.UID]*corev1.Pod{}}
	jc.mu.Lock()
	defer jc.mu.Unlock()
	for _, p := range pods {
		_, removing := jc.unfinalized[p.UID]
		tracked := hasFinalizer(p) && !removing
		if tracked {
			s.tracked[p.UID] = p
		}
		fresh := tracked && !counted[p.UID]
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			if fresh {
				s.newSucceeded = append(s.newSucceeded, p.UID)
			}
		case p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil:
			// A pod being deleted before it succeeded counts as failed
			// (podReplacementPolicy TerminatingOrFailed).
			if fresh {
				s.newFailed = append(s.newFailed, p.UID)
			}
			if p.Status.Phase != corev1.PodFailed {
				s.terminating++
			}
			if t := finishTime(p); t.After(s.lastFailure) {
				s.lastFailure = t
			}
		default:
			s.active = append(s.active, p)
			if controllerutil.IsPodReady(p) {
				s.ready++
			}
		}
	}
	return s
}

// reconcile creates and deletes pods and writes the status of a running
// job; job is a copy the function may change.
func (jc *Controller) reconcile(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) error {
	now := jc.now()
	oldStatus := job.Status.DeepCopy()
	st := &job.Status
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	suspended := ptr.Deref(job.Spec.Suspend, false)
	if st.StartTime == nil && !suspended {
		st.StartTime = ptr.To(metav1.NewTime(now))
	}
	counted := map[types.UID]bool{}
	for _, uid := range slices.Concat(st.UncountedTerminatedPods.Succeeded, st.UncountedTerminatedPods.Failed) {
		counted[uid] = true
	}
	s := jc.classify(pods, counted)
	if len(s.newFailed) > 0 {
		jc.mu.Lock()
		jc.lastFailure[job.UID] = now
		jc.mu.Unlock()
	}
	st.UncountedTerminatedPods.Succeeded = append(st.UncountedTerminatedPods.Succeeded, s.newSucceeded...)
	st.UncountedTerminatedPods.Failed = append(st.UncountedTerminatedPods.Failed, s.newFailed...)
	succeeded := st.Succeeded + int32(len(st.UncountedTerminatedPods.Succeeded))
	failed := st.Failed + int32(len(st.UncountedTerminatedPods.Failed))

	// Decide whether the job is done, failing before succeeding.
	finishing := condition(job, batchv1.JobFailureTarget) || condition(job, batchv1.JobSuccessCriteriaMet)
	var requeue time.Duration
	if !finishing {
		switch {
		case failed > ptr.Deref(job.Spec.BackoffLimit, defaultBackoffLimit):
			setCondition(st, batchv1.JobFailureTarget, reasonBackoffLimit, messageBackoffLimit, now)
		case deadlineLeft(job, now) <= 0:
			setCondition(st, batchv1.JobFailureTarget, reasonDeadline, messageDeadline, now)
		case job.Spec.Completions != nil && succeeded >= *job.Spec.Completions,
			job.Spec.Completions == nil && succeeded > 0 && len(s.active) == 0:
			setCondition(st, batchv1.JobSuccessCriteriaMet, reasonCompletions, messageCompletions, now)
		default:
			if left := deadlineLeft(job, now); left != math.MaxInt64 {
				requeue = left
			}
		}
		finishing = condition(job, batchv1.JobFailureTarget) || condition(job, batchv1.JobSuccessCriteriaMet)
	}

	var manageErr error
	if jc.expect.Satisfied(key) {
		want := int32(0)
		if !finishing {
			want = wantActive(job, succeeded, int32(len(s.active)))
		}
		var wait time.Duration
		wait, manageErr = jc.manage(ctx, key, job, s, want, failed)
		if wait > 0 && (requeue == 0 || wait < requeue) {
			requeue = wait
		}
	}
	if requeue > 0 {
		jc.queue.AddAfter(key, requeue)
	}
	st.Active = int32(len(s.active))
	st.Ready = ptr.To(s.ready)
	st.Terminating = ptr.To(s.terminating)
	if finishing {
		// Pods being deleted now are no longer active.
		st.Active, st.Ready = 0, ptr.To(int32(0))
		st.Terminating = ptr.To(s.terminating + int32(len(s.active)))
	}

	// 1. Record newly finished pods as uncounted before touching them.
	if err := jc.writeStatus(ctx, job, oldStatus); err != nil {
		return err
	}
	// 2. Free the recorded pods of the finalizer, 3. count them.
	if err := jc.flushUncounted(ctx, job, s.tracked); err != nil {
		return errors.Join(manageErr, err)
	}
	// 4. Finish the job once nothing runs and everything is counted.
	if finishing && ptr.Deref(st.Terminating, 0) == 0 && st.Active == 0 && uncountedEmpty(st) {
		jc.finish(job, now)
		if err := jc.writeStatus(ctx, job, nil); err != nil {
			return err
		}
	}
	return manageErr
}

// manage creates or deletes pods towards want active ones. It returns how
// long the back-off still holds creations.
func (jc *Controller) manage(ctx context.Context, key string, job *batchv1.Job, s podSets, want, failed int32) (time.Duration, error) {
	active := int32(len(s.active))
	switch {
	case active > want:
		victims := slices.Clone(s.active)
		// Not-ready and unscheduled pods go first.
		slices.SortStableFunc(victims, func(a, b *corev1.Pod) int {
			return boolRank(controllerutil.IsPodReady(a)) - boolRank(controllerutil.IsPodReady(b))
		})
		victims = victims[:active-want]
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = controllerutil.PodKey(p)
		}
		jc.expect.Expect(key, 0, keys)
		var errs []error
		for _, p := range victims {
			if err := jc.podCtl.Delete(ctx, job, p); err != nil {
				jc.expect.DeletionObserved(key, controllerutil.PodKey(p))
				errs = append(errs, err)
			}
		}
		return 0, errors.Join(errs...)
	case active < want:
		if wait := jc.backoffLeft(job, s, failed); wait > 0 {
			return wait, nil
		}
		n := int(min(want-active, maxPodCreatesPerSync))
		jc.expect.Expect(key, n, nil)
		ref := metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind(jobKind))
		created, err := controllerutil.SlowStartBatch(n, slowStartInitialBatch, func() error {
			pod := controllerutil.PodFromTemplate(&job.Spec.Template, job, ref)
			pod.Finalizers = append(pod.Finalizers, batchv1.JobTrackingFinalizer)
			_, err := jc.podCtl.Create(ctx, job, pod)
			return err
		})
		for range n - created {
			jc.expect.CreationObserved(key)
		}
		return 0, err
	}
	return 0, nil
}

// wantActive is how many pods should run: parallelism, capped by the
// completions still needed; a job without completions starts no new pod
// once one succeeded.
func wantActive(job *batchv1.Job, succeeded, active int32) int32 {
	if ptr.Deref(job.Spec.Suspend, false) {
		return 0
	}
	parallelism := ptr.Deref(job.Spec.Parallelism, 1)
	if job.Spec.Completions == nil {
		if succeeded > 0 {
			return min(active, parallelism)
		}
		return parallelism
	}
	return max(0, min(parallelism, *job.Spec.Completions-succeeded))
}

// backoffLeft is how long creating a replacement must still wait: the
// base delay doubled per failure, counted from the latest failure.
func (jc *Controller) backoffLeft(job *batchv1.Job, s podSets, failed int32) time.Duration {
	if failed == 0 {
		return 0
	}
	jc.mu.Lock()
	last := jc.lastFailure[job.UID]
	jc.mu.Unlock()
	if s.lastFailure.After(last) {
		last = s.lastFailure
	}
	if last.IsZero() {
		return 0
	}
	delay := jc.cfg.BackoffMax
	if failed <= 30 {
		delay = min(jc.cfg.BackoffBase<<(failed-1), jc.cfg.BackoffMax)
	}
	return time.Until(last.Add(delay))
}

// flushUncounted removes the tracking finalizer from the pods recorded in
// uncountedTerminatedPods and moves them into the counts.
func (jc *Controller) flushUncounted(ctx context.Context, job *batchv1.Job, tracked map[types.UID]*corev1.Pod) error {
	u := job.Status.UncountedTerminatedPods
	if uncountedEmpty(&job.Status) {
		return nil
	}
	old := job.Status.DeepCopy()
	var errs []error
	done := func(uids []types.UID) (flushed int32, left []types.UID) {
		for _, uid := range uids {
			if p, ok := tracked[uid]; ok {
				if err := jc.removeFinalizer(ctx, p); err != nil {
					errs = append(errs, err)
					left = append(left, uid)
					continue
				}
			}
			flushed++
		}
		return flushed, left
	}
	var n int32
	n, u.Succeeded = done(u.Succeeded)
	job.Status.Succeeded += n
	n, u.Failed = done(u.Failed)
	job.Status.Failed += n
	if err := jc.writeStatus(ctx, job, old); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeFinalizer frees a pod of the tracking finalizer.
func (jc *Controller) removeFinalizer(ctx context.Context, p *corev1.Pod) error {
	jc.mu.Lock()
	jc.unfinalized[p.UID] = struct{}{}
	jc.mu.Unlock()
	_, err := jc.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, []byte(removeFinalizerPatch), metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		jc.finalizerGone(p.UID)
		return fmt.Errorf("remove tracking finalizer of %s: %w", controllerutil.PodKey(p), err)
	}
	return nil
}

// finish adds the terminal condition that follows FailureTarget or
// SuccessCriteriaMet.
func (jc *Controller) finish(job *batchv1.Job, now time.Time) {
	st := &job.Status
	if c := findCondition(st, batchv1.JobFailureTarget); c != nil {
		setCondition(st, batchv1.JobFailed, c.Reason, c.Message, now)
		jc.recorder.Event(job, corev1.EventTypeWarning, c.Reason, c.Message)
		return
	}
	c := findCondition(st, batchv1.JobSuccessCriteriaMet)
	setCondition(st, batchv1.JobComplete, c.Reason, c.Message, now)
	t := metav1.NewTime(now)
	if st.StartTime != nil && t.Before(st.StartTime) {
		t = *st.StartTime
	}
	st.CompletionTime = &t
	jc.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
}

// writeStatus writes job's status if it differs from old (nil: always).
func (jc *Controller) writeStatus(ctx context.Context, job *batchv1.Job, old *batchv1.JobStatus) error {
	if old != nil && apiequality.Semantic.DeepEqual(&job.Status, old) {
		return nil
	}
	out, err := jc.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update status of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	job.ResourceVersion = out.ResourceVersion
	jc.remember(out)
	return nil
}

// ownedPods are the pods the job controls, after adopting matching
// orphans and releasing pods that stopped matching.
func (jc *Controller) ownedPods(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, nil // validation keeps bad selectors out
	}
	all, err := jc.pods.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	claimer := &controllerutil.Claimer{
		Owner: job, Kind: batchv1.SchemeGroupVersion.WithKind(jobKind), Selector: sel,
		Fresh: func(ctx context.Context) (metav1.Object, error) {
			return jc.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		},
	}
	return controllerutil.Claim(ctx, claimer, all, controllerutil.PodPatcher(jc.client))
}

// releasePods removes the tracking finalizer from the pods controlled by
// the job named name (with uid, or by any job of that name that is gone
// when uid is empty).
func (jc *Controller) releasePods(ctx context.Context, ns, name string, uid types.UID) error {
	pods, err := jc.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if !hasFinalizer(p) || ref == nil || ref.Kind != jobKind || ref.Name != name || (uid != "" && ref.UID != uid) {
			continue
		}
		if err := jc.removeFinalizer(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// expireFinished deletes a finished job whose ttlSecondsAfterFinished has
// passed, or comes back when it will have.
func (jc *Controller) expireFinished(ctx context.Context, key string, job *batchv1.Job) error {
	if job.Spec.TTLSecondsAfterFinished == nil {
		return nil
	}
	var at time.Time
	if job.Status.CompletionTime != nil {
		at = job.Status.CompletionTime.Time
	} else if c := findCondition(&job.Status, batchv1.JobFailed); c != nil {
		at = c.LastTransitionTime.Time
	}
	if at.IsZero() {
		return nil
	}
	left := at.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second).Sub(jc.now())
	if left > 0 {
		jc.queue.AddAfter(key, left)
		return nil
	}
	policy := metav1.DeletePropagationBackground
	err := jc.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &job.UID, ResourceVersion: &job.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete expired job %s: %w", key, err)
	}
	return nil
}

// deadlineLeft is the time left before activeDeadlineSeconds, or
// math.MaxInt64 without a deadline.
func deadlineLeft(job *batchv1.Job, now time.Time) time.Duration {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || ptr.Deref(job.Spec.Suspend, false) {
		return math.MaxInt64
	}
	return job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second).Sub(now)
}

// finishTime is when a failed or deleted pod stopped, as well as its
// status tells.
func finishTime(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() && p.DeletionTimestamp != nil {
		t = p.DeletionTimestamp.Time.Add(-time.Duration(ptr.Deref(p.DeletionGracePeriodSeconds, 0)) * time.Second)
	}
	return t
}

func finished(job *batchv1.Job) bool {
	return condition(job, batchv1.JobComplete) || condition(job, batchv1.JobFailed)
}

func condition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	c := findCondition(&job.Status, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

func findCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition sets condition t to True.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, reason, message string, now time.Time) {
	ts := metav1.NewTime(now)
	if c := findCondition(st, t); c != nil {
		if c.Status != corev1.ConditionTrue {
			c.LastTransitionTime = ts
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = corev1.ConditionTrue, reason, message, ts
		return
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: ts, LastTransitionTime: ts,
	})
}

func uncountedEmpty(st *batchv1.JobStatus) bool {
	u := st.UncountedTerminatedPods
	return u == nil || len(u.Succeeded)+len(u.Failed) == 0
}

func hasFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
