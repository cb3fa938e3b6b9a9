// Package queue is the scheduler's queue of pending pods, shaped like
// kube-scheduler's: an active heap ordered by priority and then by the time
// a pod entered it, a backoff heap for pods that failed recently (1s, 2s,
// 4s... up to a maximum per attempt), and a set of unschedulable pods that
// wait for a cluster event that may help them (a node added, a pod
// deleted) instead of being retried in a loop. A pod that failed while such
// an event happened goes to backoff, so the event is never missed; pods
// left unschedulable for too long are retried anyway.
package queue

import (
	"container/heap"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/utils/clock"
)

// ErrClosed is returned by Pop once the queue is closed.
var ErrClosed = errors.New("scheduling queue: closed")

// Config configures a Queue. Zero fields take the defaults.
type Config struct {
	Clock clock.WithTicker // default: the real clock
	// InitialBackoff and MaxBackoff bound the per-pod exponential backoff
	// (default 1s and 10s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxUnschedulable is how long a pod waits for a helpful event before
	// it is retried anyway (default 5m).
	MaxUnschedulable time.Duration
}

// QueuedPod is a pod handed out by Pop.
type QueuedPod struct {
	Pod *v1.Pod
	// Attempts counts the scheduling attempts, this one included.
	Attempts int
	// Enqueued is when the pod first entered the queue.
	Enqueued time.Time
	cycle    int64
}

type location int

const (
	inActive location = iota
	inBackoff
	inUnschedulable
	inFlight
)

type entry struct {
	QueuedPod
	where     location
	timestamp time.Time // entered active, or failed last
	// plugins that rejected the pod last time; nil means any event helps.
	plugins []string
	index   int // in its heap
	// set while in flight
	updated, deleted bool
}

// Queue is safe for concurrent use.
type Queue struct {
	clock                        clock.WithTicker
	initial, maxBackoff, maxWait time.Duration

	mu      sync.Mutex
	cond    *sync.Cond
	entries map[types.UID]*entry
	// unschedulable indexes the entries waiting for an event.
	unschedulable map[types.UID]*entry
	active        entryHeap
	backoff       entryHeap
	closed        bool

	// cycle counts Pops; moveCycle is the cycle of the last move request.
	cycle, moveCycle int64
}

// New returns an empty queue.
func New(cfg Config) *Queue {
	q := &Queue{
		clock:         cfg.Clock,
		initial:       cfg.InitialBackoff,
		maxBackoff:    cfg.MaxBackoff,
		maxWait:       cfg.MaxUnschedulable,
		entries:       map[types.UID]*entry{},
		unschedulable: map[types.UID]*entry{},
	}
	if q.clock == nil {
		q.clock = clock.RealClock{}
	}
	if q.initial <= 0 {
		q.initial = time.Second
	}
	if q.maxBackoff <= 0 {
		q.maxBackoff = 10 * time.Second
	}
	if q.maxWait <= 0 {
		q.maxWait = 5 * time.Minute
	}
	q.maxBackoff = max(q.maxBackoff, q.initial)
	q.cond = sync.NewCond(&q.mu)
	q.active.less = func(a, b *entry) bool {
		pa, pb := corev1helpers.PodPriority(a.Pod), corev1helpers.PodPriority(b.Pod)
		if pa != pb {
			return pa > pb
		}
		return a.timestamp.Before(b.timestamp)
	}
	q.backoff.less = func(a, b *entry) bool { return q.backoffExpiry(a).Before(q.backoffExpiry(b)) }
	return q
}

// Add queues a pending pod, or updates the object of a pod the queue
// already has. A pod waiting as unschedulable whose spec or labels changed
// is retried (after its backoff); a status change alone does not move it,
// so the scheduler's own status patches cause no retries.
func (q *Queue) Add(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.entries[pod.UID]; e != nil {
		q.updateLocked(e, pod)
		return
	}
	now := q.clock.Now()
	e := &entry{QueuedPod: QueuedPod{Pod: pod, Enqueued: now}}
	q.entries[pod.UID] = e
	q.toActive(e, now)
}

func (q *Queue) updateLocked(e *entry, pod *v1.Pod) {
	changed := specChanged(e.Pod, pod)
	e.Pod = pod
	switch e.where {
	case inFlight:
		e.updated = e.updated || changed
	case inActive:
		heap.Fix(&q.active, e.index)
	case inUnschedulable:
		if changed {
			q.requeue(e, q.clock.Now())
		}
	}
}

func specChanged(a, b *v1.Pod) bool {
	return !equality.Semantic.DeepEqual(a.Spec, b.Spec) || !equality.Semantic.DeepEqual(a.Labels, b.Labels)
}

// Delete drops a pod from the queue (it was deleted, or bound elsewhere).
func (q *Queue) Delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.entries[uid]
	if e == nil {
		return
	}
	switch e.where {
	case inFlight:
		e.deleted = true
		return
	case inActive:
		heap.Remove(&q.active, e.index)
	case inBackoff:
		heap.Remove(&q.backoff, e.index)
	case inUnschedulable:
		delete(q.unschedulable, uid)
	}
	delete(q.entries, uid)
}

// Pop blocks until a pod is active and hands it out; the pod is in flight
// until Done, Unschedulable or Retry. It fails once the queue is closed or
// ctx is done.
func (q *Queue) Pop(ctx context.Context) (*QueuedPod, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.cond.Broadcast()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	// Closed or done wins over waiting pods: a scheduler that lost its
	// Lease must not go on through its backlog.
	for {
		if q.closed {
			return nil, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if q.active.Len() > 0 {
			break
		}
		q.cond.Wait()
	}
	e := heap.Pop(&q.active).(*entry)
	q.cycle++
	e.cycle = q.cycle
	e.Attempts++
	e.where = inFlight
	e.updated, e.deleted = false, false
	qp := e.QueuedPod
	return &qp, nil
}

// Done ends the flight of a pod that was scheduled (or given up on).
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.entries[uid]; e != nil && e.where == inFlight {
		delete(q.entries, uid)
	}
}

// Unschedulable returns a pod that fit no node, with the names of the
// filters that rejected it. It waits for an event that may help them, or
// goes to backoff if such an event came while it was being scheduled or it
// changed meanwhile.
func (q *Queue) Unschedulable(qp *QueuedPod, plugins []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.landing(qp)
	if e == nil {
		return
	}
	now := q.clock.Now()
	e.timestamp = now
	e.plugins = plugins
	if e.updated || q.moveCycle >= qp.cycle {
		q.requeue(e, now)
		return
	}
	e.where = inUnschedulable
	q.unschedulable[e.Pod.UID] = e
}

// Retry returns a pod whose attempt failed for another reason (a binding
// or API error): it is retried after its backoff.
func (q *Queue) Retry(qp *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.landing(qp); e != nil {
		now := q.clock.Now()
		e.timestamp = now
		e.plugins = nil
		q.requeue(e, now)
	}
}

// landing takes the in-flight entry of qp back; nil when the pod was
// deleted meanwhile (and is now forgotten).
func (q *Queue) landing(qp *QueuedPod) *entry {
	e := q.entries[qp.Pod.UID]
	if e == nil || e.where != inFlight {
		return nil
	}
	if e.deleted {
		delete(q.entries, qp.Pod.UID)
		return nil
	}
	return e
}

// Event is a change in the cluster that may make unschedulable pods fit.
type Event struct {
	Name string
	// Helps lists the filters the event may satisfy; nil means all.
	Helps []string
}

// Move retries the unschedulable pods that the event may help: those
// still backing off go to backoff, the others to active.
func (q *Queue) Move(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for _, e := range q.unschedulable {
		if helps(ev, e.plugins) {
			q.requeue(e, now)
		}
	}
	q.moveCycle = q.cycle
}

func helps(ev Event, plugins []string) bool {
	if ev.Helps == nil || plugins == nil {
		return true
	}
	for _, p := range plugins {
		if slices.Contains(ev.Helps, p) {
			return true
		}
	}
	return false
}

// Run moves pods whose backoff ended to active, and retries pods that
// were unschedulable for longer than MaxUnschedulable, until ctx is done;
// then it closes the queue.
func (q *Queue) Run(ctx context.Context) {
	tick := q.clock.NewTicker(min(q.initial, time.Second))
	defer tick.Stop()
	defer q.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			q.flush()
		}
	}
}

// flush moves expired backoffs to active and overdue unschedulable pods
// to backoff or active.
func (q *Queue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for q.backoff.Len() > 0 && !q.backoffExpiry(q.backoff.items[0]).After(now) {
		e := heap.Pop(&q.backoff).(*entry)
		q.toActive(e, now)
	}
	for _, e := range q.unschedulable {
		if now.Sub(e.timestamp) >= q.maxWait {
			q.requeue(e, now)
		}
	}
}

// Close wakes Pop callers with ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Len returns the number of pods in each part: active, backoff,
// unschedulable, in flight.
func (q *Queue) Len() (active, backoff, unschedulable, flying int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.entries {
		switch e.where {
		case inActive:
			active++
		case inBackoff:
			backoff++
		case inUnschedulable:
			unschedulable++
		case inFlight:
			flying++
		}
	}
	return
}

// backoffDuration doubles from InitialBackoff with each attempt, up to
// MaxBackoff.
func (q *Queue) backoffDuration(attempts int) time.Duration {
	d := q.initial
	for i := 1; i < attempts; i++ {
		d *= 2
		if d >= q.maxBackoff {
			return q.maxBackoff
		}
	}
	return d
}

func (q *Queue) backoffExpiry(e *entry) time.Time {
	return e.timestamp.Add(q.backoffDuration(e.Attempts))
}

// requeue sends a pod that is not in a heap to backoff, or to active if
// its backoff already ended.
func (q *Queue) requeue(e *entry, now time.Time) {
	delete(q.unschedulable, e.Pod.UID)
	if q.backoffExpiry(e).After(now) {
		e.where = inBackoff
		heap.Push(&q.backoff, e)
		return
	}
	q.toActive(e, now)
}

func (q *Queue) toActive(e *entry, now time.Time) {
	e.where = inActive
	e.timestamp = now
	heap.Push(&q.active, e)
	q.cond.Signal()
}

// entryHeap is a container/heap of entries keeping their index.
type entryHeap struct {
	items []*entry
	less  func(a, b *entry) bool
}

func (h *entryHeap) Len() int           { return len(h.items) }
func (h *entryHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *entryHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(h.items)
	h.items = append(h.items, e)
}
func (h *entryHeap) Pop() any {
	last := len(h.items) - 1
	e := h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	return e
}
