// Package job runs Jobs to completion, as Kubernetes' job controller does
// for NonIndexed jobs: it keeps min(parallelism, completions left) pods
// running, replaces failed pods after an exponential back-off, fails the
// job past backoffLimit failures or activeDeadlineSeconds, completes it
// when enough pods succeeded, and deletes it ttlSecondsAfterFinished after
// it finished. Pods are tracked with the batch.kubernetes.io/job-tracking
// finalizer and status.uncountedTerminatedPods, so that no finished pod is
// counted twice or lost, across restarts and pod deletions alike. The
// conditions come in Kubernetes' order: FailureTarget or
// SuccessCriteriaMet first, Failed or Complete once no pod runs.
package job

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Name is the controller's name in events.
const Name = "job-controller"

// Config configures the controller. Zero fields take the defaults.
type Config struct {
	// Workers is the number of jobs synced at once (default 5).
	Workers int
	// BackoffBase and BackoffMax bound the delay before a failed pod is
	// replaced: BackoffBase doubled per failure, at most BackoffMax
	// (default 10s and 6m, Kubernetes' values).
	BackoffBase, BackoffMax time.Duration
}

// Controller is the Job controller.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	jobs     batchlisters.JobLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    controllerutil.Queue
	expect   *controllerutil.Expectations
	podCtl   controllerutil.PodControl
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time

	mu sync.Mutex
	// unfinalized are the pods whose tracking finalizer we removed but
	// whose update the informer has not shown yet: they are counted.
	unfinalized map[types.UID]struct{}
	// lastFailure is when each job last saw a pod fail, for the back-off.
	lastFailure map[types.UID]time.Time
	// written is the last status update of each job, used until the
	// informer shows it (or something newer): acting on an older status
	// would count pods twice or not at all.
	written map[types.UID]*batchv1.Job
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller over the shared informers of c.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 10 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 6 * time.Minute
	}
	jobInf := c.Informers.Batch().V1().Jobs()
	podInf := c.Informers.Core().V1().Pods()
	jc := &Controller{
		cfg:         cfg,
		client:      c.Client,
		jobs:        jobInf.Lister(),
		pods:        podInf.Lister(),
		synced:      []cache.InformerSynced{jobInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:       controllerutil.NewQueue("job"),
		expect:      controllerutil.NewExpectations(),
		recorder:    c.Recorder(Name),
		log:         c.Logger.With("controller", "job"),
		now:         time.Now,
		unfinalized: map[types.UID]struct{}{},
		lastFailure: map[types.UID]time.Time{},
		written:     map[types.UID]*batchv1.Job{},
	}
	jc.podCtl = controllerutil.PodControl{Client: c.Client, Recorder: jc.recorder}
	if _, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllerutil.Enqueue(jc.queue, obj) },
		UpdateFunc: func(_, obj any) { controllerutil.Enqueue(jc.queue, obj) },
		DeleteFunc: func(obj any) {
			if j, ok := controllerutil.Unwrap[*batchv1.Job](obj); ok {
				jc.forget(j.UID)
			}
			if key := controllerutil.Key(obj); key != "" {
				jc.expect.Delete(key)
				jc.queue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("job: watch jobs: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    jc.podAdded,
		UpdateFunc: jc.podUpdated,
		DeleteFunc: jc.podDeleted,
	}); err != nil {
		return nil, fmt.Errorf("job: watch pods: %w", err)
	}
	return jc, nil
}

// Name implements controllers.Controller.
func (jc *Controller) Name() string { return "job" }

// Start syncs jobs until ctx is done.
func (jc *Controller) Start(ctx context.Context) error {
	controllerutil.Run(ctx, jc.synced, jc.queue, jc.cfg.Workers, jc.log, jc.sync)
	return nil
}

// jobKey is the key of the job that controls pod, or "".
func jobKey(pod *corev1.Pod) string {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "Job" {
		return ""
	}
	return pod.Namespace + "/" + ref.Name
}

func (jc *Controller) podAdded(obj any) {
	pod := obj.(*corev1.Pod)
	key := jobKey(pod)
	if key == "" {
		return
	}
	if pod.DeletionTimestamp != nil {
		jc.expect.DeletionObserved(key, controllerutil.PodKey(pod))
	} else {
		jc.expect.CreationObserved(key)
	}
	jc.queue.Add(key)
}

func (jc *Controller) podUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if !hasFinalizer(cur) {
		jc.finalizerGone(cur.UID)
	}
	key := jobKey(cur)
	if key == "" {
		return
	}
	if cur.DeletionTimestamp != nil {
		jc.expect.DeletionObserved(key, controllerutil.PodKey(cur))
	}
	jc.queue.Add(key)
	if oldKey := jobKey(old); oldKey != "" && oldKey != key {
		jc.queue.Add(oldKey)
	}
}

func (jc *Controller) podDeleted(obj any) {
	pod, ok := controllerutil.Unwrap[*corev1.Pod](obj)
	if !ok {
		return
	}
	jc.finalizerGone(pod.UID)
	if key := jobKey(pod); key != "" {
		jc.expect.DeletionObserved(key, controllerutil.PodKey(pod))
		jc.queue.Add(key)
	}
}

// freshest returns the newer of the cached job and the one this
// controller last wrote (resourceVersions are etcd revisions here).
func (jc *Controller) freshest(cached *batchv1.Job) *batchv1.Job {
	jc.mu.Lock()
	defer jc.mu.Unlock()
	w := jc.written[cached.UID]
	if w == nil {
		return cached
	}
	cachedRV, err1 := strconv.ParseUint(cached.ResourceVersion, 10, 64)
	writtenRV, err2 := strconv.ParseUint(w.ResourceVersion, 10, 64)
	if err1 != nil || err2 != nil || cachedRV >= writtenRV {
		delete(jc.written, cached.UID)
		return cached
	}
	return w
}

// remember records a status update this controller made.
func (jc *Controller) remember(job *batchv1.Job) {
	jc.mu.Lock()
	jc.written[job.UID] = job
	jc.mu.Unlock()
}

// forget drops what is remembered of a deleted job.
func (jc *Controller) forget(uid types.UID) {
	jc.mu.Lock()
	delete(jc.written, uid)
	delete(jc.lastFailure, uid)
	jc.mu.Unlock()
}

func (jc *Controller) finalizerGone(uid types.UID) {
	jc.mu.Lock()
	delete(jc.unfinalized, uid)
	jc.mu.Unlock()
}

// sync brings the job named by key one step closer to done.
func (jc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := controllerutil.SplitKey(key)
	if err != nil {
		return nil
	}
	job, err := jc.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		jc.expect.Delete(key)
		// Pods of a deleted job are left to the garbage collector, free
		// of our finalizer.
		return jc.releasePods(ctx, ns, name, "")
	}
	if err != nil {
		return err
	}
	job = jc.freshest(job)
	if job.DeletionTimestamp != nil || finished(job) {
		if err := jc.releasePods(ctx, ns, name, job.UID); err != nil {
			return err
		}
		if job.DeletionTimestamp == nil {
			return jc.expireFinished(ctx, key, job)
		}
		return nil
	}
	pods, err := jc.ownedPods(ctx, job)
	if err != nil {
		return err
	}
	return jc.reconcile(ctx, key, job.DeepCopy(), pods)
}
