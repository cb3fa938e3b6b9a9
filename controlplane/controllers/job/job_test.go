package job_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/job"
	"skiff.dev/skiff/test/simnode"
)

const backoffBase = 200 * time.Millisecond

func start(t *testing.T) *ctrltest.Env {
	return ctrltest.Start(t, simnode.Config{Count: 2}, controllers.ConstructorFor(job.New, job.Config{BackoffBase: backoffBase, BackoffMax: 2 * time.Second}))
}

// namespace makes a namespace and waits for its default service account,
// without which pods are refused.
func namespace(t *testing.T, e *ctrltest.Env) string {
	t.Helper()
	ns := e.Namespace("jobs")
	ctrltest.Eventually(t, 20*time.Second, "default service account", func() (bool, string, error) {
		_, err := e.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err), nil
	})
	return ns
}

func newJob(name string, completions, parallelism, backoffLimit *int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions: completions, Parallelism: parallelism, BackoffLimit: backoffLimit,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
			}},
		},
	}
}

func jobPods(e *ctrltest.Env, ns, name string) ([]corev1.Pod, error) {
	return e.Pods(ns, labels.SelectorFromSet(labels.Set{batchv1.JobNameLabel: name}))
}

// exitRunning makes the running pods of a job exit with code, at most n
// of them, and returns how many did.
func exitRunning(t *testing.T, e *ctrltest.Env, ns, name string, code int32, n int) int {
	t.Helper()
	pods, err := jobPods(e, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, p := range pods {
		if done == n || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		if err := e.Nodes.FailPod(ns, p.Name, code); err != nil {
			t.Fatal(err)
		}
		done++
	}
	return done
}

func getJob(e *ctrltest.Env, ns, name string) (*batchv1.Job, error) {
	return e.Client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
}

func conditions(j *batchv1.Job) string {
	out := ""
	for _, c := range j.Status.Conditions {
		out += fmt.Sprintf("%s=%s(%s) ", c.Type, c.Status, c.Reason)
	}
	return out
}

func hasCondition(j *batchv1.Job, t batchv1.JobConditionType, reason string) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue && c.Reason == reason {
			return true
		}
	}
	return false
}

func waitCondition(t *testing.T, e *ctrltest.Env, ns, name string, ct batchv1.JobConditionType, reason string) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	ctrltest.Eventually(t, 20*time.Second, fmt.Sprintf("job %s %s", name, ct), func() (bool, string, error) {
		var err error
		j, err = getJob(e, ns, name)
		if err != nil {
			return false, "", err
		}
		return hasCondition(j, ct, reason), fmt.Sprintf("%s active=%d succeeded=%d failed=%d", conditions(j), j.Status.Active, j.Status.Succeeded, j.Status.Failed), nil
	})
	return j
}

func TestJobRunsToCompletionAcrossRestart(t *testing.T) {
	e := start(t)
	ns := namespace(t, e)
	ctx := context.Background()
	j := newJob("count", ptr.To[int32](4), ptr.To[int32](2), nil)
	j.Spec.TTLSecondsAfterFinished = ptr.To[int32](1)
	if _, err := e.Client.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Never more pods running than parallelism.
	sampler := ctrltest.Sample(20*time.Millisecond, func() string {
		pods, err := jobPods(e, ns, "count")
		if err != nil {
			return ""
		}
		active := 0
		for i := range pods {
			if controllerutil.IsPodActive(&pods[i]) {
				active++
			}
		}
		if active > 2 {
			return fmt.Sprintf("%d pods active: %s", active, ctrltest.Describe(pods))
		}
		return ""
	})
	succeed := func(want int32) {
		t.Helper()
		ctrltest.Eventually(t, 20*time.Second, fmt.Sprintf("%d succeeded", want), func() (bool, string, error) {
			exitRunning(t, e, ns, "count", 0, 1)
			got, err := getJob(e, ns, "count")
			if err != nil {
				return false, "", err
			}
			return got.Status.Succeeded >= want, fmt.Sprintf("succeeded=%d active=%d", got.Status.Succeeded, got.Status.Active), nil
		})
	}
	succeed(2)
	// The controller manager restarts with pods counted and the rest
	// running; one more finishes while it is down (unless all did).
	ctrltest.Eventually(t, 20*time.Second, "replacements running", func() (bool, string, error) {
		pods, err := jobPods(e, ns, "count")
		if err != nil {
			return false, "", err
		}
		running, succeeded := 0, 0
		for _, p := range pods {
			switch {
			case p.Status.Phase == corev1.PodSucceeded:
				succeeded++
			case p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil:
				running++
			}
		}
		return running == min(2, 4-succeeded), ctrltest.Describe(pods), nil
	})
	e.Manager.Stop()
	exitRunning(t, e, ns, "count", 0, 1)
	e.Manager.Start()
	succeed(4)

	done := waitCondition(t, e, ns, "count", batchv1.JobComplete, "CompletionsReached")
	if !hasCondition(done, batchv1.JobSuccessCriteriaMet, "CompletionsReached") {
		t.Errorf("complete job lacks SuccessCriteriaMet: %s", conditions(done))
	}
	if done.Status.Succeeded != 4 || done.Status.Failed != 0 || done.Status.Active != 0 {
		t.Errorf("status succeeded=%d failed=%d active=%d, want 4/0/0", done.Status.Succeeded, done.Status.Failed, done.Status.Active)
	}
	if done.Status.CompletionTime == nil || done.Status.StartTime == nil {
		t.Errorf("start %v completion %v", done.Status.StartTime, done.Status.CompletionTime)
	}
	pods, err := jobPods(e, ns, "count")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if len(p.Finalizers) != 0 {
			t.Errorf("pod %s keeps finalizers %v: %s; job %+v", p.Name, p.Finalizers, ctrltest.Describe(pods), done.Status)
		}
	}
	if _, violations := sampler.Stop(); len(violations) > 0 {
		t.Errorf("parallelism exceeded: %v", violations[0])
	}
	// ttlSecondsAfterFinished deletes the job a second after it finished.
	ctrltest.Eventually(t, 10*time.Second, "job deleted after its TTL", func() (bool, string, error) {
		_, err := getJob(e, ns, "count")
		return apierrors.IsNotFound(err), "job still there", nil
	})
}

func TestJobBackoffLimit(t *testing.T) {
	e := start(t)
	ns := namespace(t, e)
	if _, err := e.Client.BatchV1().Jobs(ns).Create(context.Background(),
		newJob("flaky", nil, nil, ptr.To[int32](2)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Every pod fails; the third failure passes backoffLimit 2.
	var failures []time.Time
	ctrltest.Eventually(t, 20*time.Second, "three failures", func() (bool, string, error) {
		if exitRunning(t, e, ns, "flaky", 1, 1) == 1 {
			failures = append(failures, time.Now())
		}
		return len(failures) == 3, fmt.Sprintf("%d failures", len(failures)), nil
	})
	j := waitCondition(t, e, ns, "flaky", batchv1.JobFailed, "BackoffLimitExceeded")
	if !hasCondition(j, batchv1.JobFailureTarget, "BackoffLimitExceeded") {
		t.Errorf("failed job lacks FailureTarget: %s", conditions(j))
	}
	if j.Status.Failed != 3 || j.Status.Active != 0 || j.Status.CompletionTime != nil {
		t.Errorf("status failed=%d active=%d completionTime=%v, want 3/0/nil", j.Status.Failed, j.Status.Active, j.Status.CompletionTime)
	}
	// Replacements came after a back-off that doubled: at least 200ms,
	// then 400ms after the failures the test caused.
	pods, err := jobPods(e, ns, "flaky")
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 3 {
		t.Fatalf("%d pods, want 3: %s", len(pods), ctrltest.Describe(pods))
	}
	if gap := time.Since(failures[0]); gap < 3*backoffBase {
		t.Errorf("three failures within %v: no back-off", gap)
	}
}

func TestJobActiveDeadline(t *testing.T) {
	e := start(t)
	ns := namespace(t, e)
	j := newJob("slow", ptr.To[int32](3), ptr.To[int32](3), nil)
	j.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	if _, err := e.Client.BatchV1().Jobs(ns).Create(context.Background(), j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	done := waitCondition(t, e, ns, "slow", batchv1.JobFailed, "DeadlineExceeded")
	if !hasCondition(done, batchv1.JobFailureTarget, "DeadlineExceeded") {
		t.Errorf("failed job lacks FailureTarget: %s", conditions(done))
	}
	if done.Status.Active != 0 || ptr.Deref(done.Status.Terminating, 0) != 0 {
		t.Errorf("finished job: active=%d terminating=%v", done.Status.Active, done.Status.Terminating)
	}
	pods, err := jobPods(e, ns, "slow")
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods {
		if controllerutil.IsPodActive(&pods[i]) {
			t.Errorf("pod %s still active after the deadline", pods[i].Name)
		}
	}
}
