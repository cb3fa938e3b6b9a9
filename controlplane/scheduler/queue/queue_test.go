package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func newPod(name string, prio int32) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)},
		Spec:       v1.PodSpec{Priority: &prio},
	}
}

func newQueue() (*Queue, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	return New(Config{Clock: clk}), clk
}

// pop pops without blocking; the test fails if nothing is active.
func pop(t *testing.T, q *Queue) *QueuedPod {
	t.Helper()
	if a, _, _, _ := q.Len(); a == 0 {
		t.Fatal("nothing active to pop")
	}
	qp, err := q.Pop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return qp
}

func wantLen(t *testing.T, q *Queue, active, backoff, unschedulable, flying int) {
	t.Helper()
	a, b, u, f := q.Len()
	if a != active || b != backoff || u != unschedulable || f != flying {
		t.Fatalf("active/backoff/unschedulable/in flight = %d/%d/%d/%d, want %d/%d/%d/%d", a, b, u, f, active, backoff, unschedulable, flying)
	}
}

func TestActiveOrderIsPriorityThenArrival(t *testing.T) {
	q, clk := newQueue()
	q.Add(newPod("low", 1))
	clk.Step(time.Millisecond)
	q.Add(newPod("high-first", 10))
	clk.Step(time.Millisecond)
	q.Add(newPod("low-late", 1))
	q.Add(newPod("high-second", 10)) // same instant as low-late
	var got []string
	for range 4 {
		got = append(got, pop(t, q).Pod.Name)
	}
	want := []string{"high-first", "high-second", "low", "low-late"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	q, clk := newQueue()
	q.Add(newPod("p", 0))
	for attempt, wait := range []time.Duration{1, 2, 4, 8, 10, 10} {
		wait *= time.Second
		qp := pop(t, q)
		if qp.Attempts != attempt+1 {
			t.Fatalf("attempts %d, want %d", qp.Attempts, attempt+1)
		}
		q.Retry(qp)
		wantLen(t, q, 0, 1, 0, 0)
		clk.Step(wait - time.Millisecond)
		q.flush()
		wantLen(t, q, 0, 1, 0, 0)
		clk.Step(time.Millisecond)
		q.flush()
		wantLen(t, q, 1, 0, 0, 0)
	}
}

func TestUnschedulableWaitsForAHelpfulEvent(t *testing.T) {
	q, clk := newQueue()
	q.Add(newPod("p", 0))
	q.Unschedulable(pop(t, q), []string{"NodeResourcesFit"})
	wantLen(t, q, 0, 0, 1, 0)

	// No retry in a loop: time passing (short of the 5 minute limit) and
	// unrelated events leave it alone.
	clk.Step(time.Minute)
	q.flush()
	q.Move(Event{Name: "NodeLabelsChanged", Helps: []string{"NodeAffinity"}})
	wantLen(t, q, 0, 0, 1, 0)

	// A helpful event after its backoff moves it straight to active.
	q.Move(Event{Name: "AssignedPodDeleted", Helps: []string{"NodeResourcesFit", "NodePorts"}})
	wantLen(t, q, 1, 0, 0, 0)

	// Within its backoff, the event sends it to backoff first.
	q.Unschedulable(pop(t, q), []string{"NodeResourcesFit"})
	q.Move(Event{Name: "NodeAdded"})
	wantLen(t, q, 0, 1, 0, 0)
	clk.Step(2 * time.Second)
	q.flush()
	wantLen(t, q, 1, 0, 0, 0)
}

func TestUnschedulablePodsAreRetriedAfterTheLimit(t *testing.T) {
	q, clk := newQueue()
	q.Add(newPod("p", 0))
	q.Unschedulable(pop(t, q), []string{"NodeResourcesFit"})
	clk.Step(5*time.Minute - time.Second)
	q.flush()
	wantLen(t, q, 0, 0, 1, 0)
	clk.Step(time.Second)
	q.flush()
	wantLen(t, q, 1, 0, 0, 0)
}

func TestEventDuringFlightIsNotMissed(t *testing.T) {
	q, clk := newQueue()
	q.Add(newPod("p", 0))
	qp := pop(t, q)
	q.Move(Event{Name: "NodeAdded"}) // while p is being scheduled
	q.Unschedulable(qp, []string{"NodeResourcesFit"})
	wantLen(t, q, 0, 1, 0, 0)
	clk.Step(time.Second)
	q.flush()
	wantLen(t, q, 1, 0, 0, 0)
}

func TestUpdates(t *testing.T) {
	q, clk := newQueue()
	p := newPod("p", 0)
	q.Add(p)
	q.Unschedulable(pop(t, q), []string{"NodeResourcesFit"})
	clk.Step(2 * time.Second)

	// The scheduler's own condition patch changes only the status.
	withStatus := p.DeepCopy()
	withStatus.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse}}
	q.Add(withStatus)
	wantLen(t, q, 0, 0, 1, 0)

	// A smaller request may fit: retry.
	smaller := withStatus.DeepCopy()
	smaller.Labels = map[string]string{"resized": "yes"}
	q.Add(smaller)
	wantLen(t, q, 1, 0, 0, 0)
	if got := pop(t, q); got.Pod.Labels["resized"] != "yes" {
		t.Fatal("popped the old object")
	}

	// An update while in flight sends the pod to backoff, not to wait.
	q.Add(smaller.DeepCopy())
	changed := smaller.DeepCopy()
	changed.Spec.NodeSelector = map[string]string{"a": "b"}
	q.Add(changed)
	wantLen(t, q, 0, 0, 0, 1)
}

func TestDeleteInFlightForgetsThePod(t *testing.T) {
	q, _ := newQueue()
	q.Add(newPod("p", 0))
	qp := pop(t, q)
	q.Delete(qp.Pod.UID)
	q.Unschedulable(qp, nil)
	wantLen(t, q, 0, 0, 0, 0)

	q.Add(newPod("r", 0))
	q.Delete("r")
	wantLen(t, q, 0, 0, 0, 0)
}

func TestPopBlocksUntilAddOrCancel(t *testing.T) {
	q, _ := newQueue()
	got := make(chan string)
	go func() {
		qp, err := q.Pop(context.Background())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- qp.Pod.Name
	}()
	q.Add(newPod("p", 0))
	if name := <-got; name != "p" {
		t.Fatalf("popped %q", name)
	}

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { _, err := q.Pop(ctx); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Pop after cancel: %v", err)
	}
	q.Close()
	if _, err := q.Pop(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Pop after Close: %v", err)
	}
}

// A scheduler that lost its Lease stops at once, even with pods waiting:
// Pop hands out nothing more once ctx is done or the queue is closed.
func TestPopStopsWithPodsWaiting(t *testing.T) {
	q, _ := newQueue()
	q.Add(newPod("a", 0))
	q.Add(newPod("b", 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if qp, err := q.Pop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pop with ctx done and pods waiting = %v, %v; want context.Canceled", qp, err)
	}
	q.Close()
	if qp, err := q.Pop(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Pop from a closed queue with pods waiting = %v, %v; want ErrClosed", qp, err)
	}
	wantLen(t, q, 2, 0, 0, 0)
}
