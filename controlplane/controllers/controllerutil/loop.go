// Package controllerutil holds what the workload controllers share: the
// worker loop over a rate-limited queue of namespace/name keys,
// expectations of pod creations and deletions not yet seen by the
// informers, claiming objects by ownerReferences (adopt and release),
// pods made from templates, pod readiness and availability, and the
// hashes that name ReplicaSets and ControllerRevisions.
package controllerutil

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"k8s.io/apimachinery/pkg/api/errors"
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

// Unwrap returns the object an informer event carries, looking inside a
// deletion tombstone; ok is false when it is not a T.
func Unwrap[T metav1.Object](obj any) (T, bool) {
	if tomb, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
		obj = tomb.Obj
	}
	t, ok := obj.(T)
	return t, ok
}

// SyncFunc reconciles the object named by key; it treats a missing object
// as done. An error requeues the key with backoff.
type SyncFunc func(ctx context.Context, key string) error

// Run runs workers goroutines that take keys from q and pass them to syncFn,
// until ctx is done; it shuts q down and waits for the workers to finish
// before it returns. Conflicts are retried quietly; other errors are
// logged.
func Run(ctx context.Context, q Queue, workers int, log *slog.Logger, syncFn SyncFunc) {
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

func processNext(ctx context.Context, q Queue, log *slog.Logger, syncFn SyncFunc) bool {
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
	if !errors.IsConflict(err) && !errors.IsAlreadyExists(err) {
		log.Info("sync failed, retrying", "key", key, "err", err)
	}
	q.AddRateLimited(key)
	return true
}

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
