// Package controllerutil holds what the controllers share: the worker
// loop over a rate-limited work queue, the event handlers that queue the
// objects a change concerns (the object itself, the owners of an owned
// object, the services of a pod), expectations of pod creations and
// deletions not yet seen by the informers, claiming objects by
// ownerReferences (adopt and release), pods made from templates, pod
// readiness and availability, and the hashes that name ReplicaSets and
// ControllerRevisions.
package controllerutil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Queue is a rate-limited work queue of namespace/name keys.
type Queue = workqueue.TypedRateLimitingInterface[string]

// NewQueue returns a queue named after its controller, with client-go's
// default controller rate limiter (per-item exponential backoff and an
// overall token bucket).
func NewQueue(name string) Queue {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// NewBackoffQueue returns a queue named name that delays the retries of an
// item from base, doubling up to maxDelay, with no overall rate limit;
// metrics, when not nil, receives its metrics.
func NewBackoffQueue[K comparable](name string, base, maxDelay time.Duration, metrics workqueue.MetricsProvider) workqueue.TypedRateLimitingInterface[K] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[K](base, maxDelay),
		workqueue.TypedRateLimitingQueueConfig[K]{Name: name, MetricsProvider: metrics})
}

// Key returns obj's namespace/name key; obj may be a deletion tombstone.
func Key(obj any) string {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return ""
	}
	return key
}

// Enqueue adds obj's key to q.
func Enqueue(q Queue, obj any) {
	if key := Key(obj); key != "" {
		q.Add(key)
	}
}

// EnqueueHandler returns event handlers that queue the key of every object
// added, updated or deleted. When expect is not nil, the expectations of a
// deleted object are dropped first.
func EnqueueHandler(q Queue, expect *Expectations) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { Enqueue(q, obj) },
		UpdateFunc: func(_, cur any) { Enqueue(q, cur) },
		DeleteFunc: func(obj any) {
			key := Key(obj)
			if key == "" {
				return
			}
			if expect != nil {
				expect.Delete(key)
			}
			q.Add(key)
		},
	}
}

// Unwrap returns the object an informer event carries, looking inside a
// deletion tombstone; ok is false when it is not a T.
func Unwrap[T metav1.Object](obj any) (T, bool) {
	if tomb, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
		obj = tomb.Obj
	}
	t, ok := obj.(T)
	return t, ok
}

// Run waits until the informers behind synced have synced, then runs
// workers goroutines that take keys from q and pass them to syncFn, until
// ctx is done; it shuts q down and waits for the workers to finish before
// it returns. syncFn treats a missing object as done; an error requeues
// the key with backoff. Conflicts are retried quietly; other errors are
// logged.
func Run[K comparable](ctx context.Context, synced []cache.InformerSynced, q workqueue.TypedRateLimitingInterface[K],
	workers int, log *slog.Logger, syncFn func(ctx context.Context, key K) error) {
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		q.ShutDown()
		return
	}
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for processNext(ctx, q, log, syncFn) {
			}
		})
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}

func processNext[K comparable](ctx context.Context, q workqueue.TypedRateLimitingInterface[K], log *slog.Logger, syncFn func(context.Context, K) error) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	err := syncFn(ctx, key)
	if err == nil {
		q.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return true
	}
	if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) && !errors.Is(err, ErrRetry) {
		log.Info("sync failed, retrying", "key", key, "err", err)
	}
	q.AddRateLimited(key)
	return true
}

// ErrRetry, wrapped in what a sync returns, asks Run for a retry with
// backoff without logging: work under way, not a failure.
var ErrRetry = errors.New("retry")

// SlowStartBatch calls fn count times in batches that start at initial and
// double while every call succeeds; it stops at the first batch with an
// error and returns how many calls succeeded and the first error. This
// keeps a controller from sending a burst of requests that will all fail
// (for example against a quota).
func SlowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Go(func() {
				if err := fn(); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}

// SplitKey splits a namespace/name key.
func SplitKey(key string) (namespace, name string, err error) {
	namespace, name, err = cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return "", "", fmt.Errorf("bad key %q: %w", key, err)
	}
	return namespace, name, nil
}
