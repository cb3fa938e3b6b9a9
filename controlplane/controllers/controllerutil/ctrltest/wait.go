package ctrltest

import (
	"context"
	"testing"
	"time"
)

// Eventually polls cond until it returns true, failing the test with what
// was last reported after timeout. cond returns a description of what it
// saw, shown on failure.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string, error)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, seen, err := cond()
		if err != nil {
			last = err.Error()
		} else {
			last = seen
		}
		if ok && err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not after %v; last seen: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitFor polls cond until it returns true, failing the test after
// timeout.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	Eventually(tb, timeout, what, func() (bool, string, error) { return cond(), "", nil })
}

// Poll is Eventually for a condition that takes a context.
func Poll(tb testing.TB, timeout time.Duration, what string, cond func(context.Context) (bool, error)) {
	tb.Helper()
	Eventually(tb, timeout, what, func() (bool, string, error) {
		ok, err := cond(context.Background())
		return ok, "", err
	})
}

// Never checks cond for d and fails the test if it ever returns true.
func Never(tb testing.TB, d time.Duration, what string, cond func() (bool, string, error)) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		bad, seen, err := cond()
		if err == nil && bad {
			tb.Fatalf("%s: %s", what, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sampler checks an invariant in the background until stopped.
type Sampler struct {
	stop    chan struct{}
	done    chan struct{}
	samples int
	fails   []string
}

// Sample calls check every interval until Stop; check returns a
// description of a violation, or "".
func Sample(interval time.Duration, check func() string) *Sampler {
	s := &Sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if v := check(); v != "" {
				s.fails = append(s.fails, v)
			}
			s.samples++
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop stops sampling and returns how many samples were taken and the
// violations seen.
func (s *Sampler) Stop() (samples int, violations []string) {
	close(s.stop)
	<-s.done
	return s.samples, s.fails
}
