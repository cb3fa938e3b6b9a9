package api

import (
	"context"
	"sync"
	"time"

	"skiff.dev/skiff/bench/stats"
)

// opFunc is one request of a load generator: worker is the simulated
// client, seq counts that client's requests from 0.
type opFunc func(ctx context.Context, worker, seq int) error

// loadResult is what one load phase measured in its window.
type loadResult struct {
	// Ops completed without error inside the window, and their rate.
	Ops  int     `json:"ops"`
	Rate float64 `json:"ops_per_sec"`
	// Errors inside the window, with up to three distinct messages.
	Errors       int      `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Dropped counts open-loop requests not sent because too many were
	// already in flight.
	Dropped int           `json:"dropped,omitempty"`
	Window  time.Duration `json:"window_ns"`
	Latency stats.Latency `json:"latency"`
}

// window is the measured part of a phase: warm-up before it, nothing
// counted after it.
type window struct{ from, to time.Time }

func newWindow(warmup, d time.Duration) window {
	from := time.Now().Add(warmup)
	return window{from: from, to: from.Add(d)}
}

// recorder collects latencies and errors from concurrent requests.
type recorder struct {
	mu      sync.Mutex
	lat     []time.Duration
	errors  int
	samples []string
	dropped int
}

func (r *recorder) add(lat time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.lat = append(r.lat, lat)
		return
	}
	r.errors++
	if len(r.samples) < 3 {
		msg := err.Error()
		for _, s := range r.samples {
			if s == msg {
				return
			}
		}
		r.samples = append(r.samples, msg)
	}
}

func (r *recorder) result(w window) loadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := w.to.Sub(w.from)
	return loadResult{
		Ops: len(r.lat), Rate: float64(len(r.lat)) / d.Seconds(),
		Errors: r.errors, ErrorSamples: r.samples, Dropped: r.dropped,
		Window: d, Latency: stats.Summarize(r.lat),
	}
}

// grace bounds how long a request may outlive its phase's window.
const grace = 15 * time.Second

// closedLoop runs clients workers that each send the next request as soon
// as the previous one answered, and counts the requests that completed
// inside w (whenever they started: a request slower than the warm-up still
// counts once it completes inside the window).
func closedLoop(ctx context.Context, clients int, w window, op opFunc) loadResult {
	ctx, cancel := context.WithDeadline(ctx, w.to.Add(grace))
	defer cancel()
	var rec recorder
	var wg sync.WaitGroup
	for worker := range clients {
		wg.Go(func() {
			var lat []time.Duration
			for seq := 0; ctx.Err() == nil; seq++ {
				t0 := time.Now()
				if !t0.Before(w.to) {
					break
				}
				err := op(ctx, worker, seq)
				t1 := time.Now()
				if t1.Before(w.from) || t1.After(w.to) {
					continue
				}
				if err != nil {
					rec.add(0, err)
					continue
				}
				lat = append(lat, t1.Sub(t0))
			}
			rec.mu.Lock()
			rec.lat = append(rec.lat, lat...)
			rec.mu.Unlock()
		})
	}
	wg.Wait()
	return rec.result(w)
}

// openLoop sends requests at a fixed rate whatever the answers, each from
// its own goroutine, and measures each request's latency from the moment
// it was due, so a stall counts against every request it delayed. Requests
// due inside w are counted; at most maxInFlight run at once.
func openLoop(ctx context.Context, rate int, w window, maxInFlight int, op func(ctx context.Context, seq int) error) loadResult {
	ctx, cancel := context.WithDeadline(ctx, w.to.Add(grace))
	defer cancel()
	var rec recorder
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for seq := 0; ctx.Err() == nil; seq++ {
		due := start.Add(time.Duration(seq) * interval)
		if !due.Before(w.to) {
			break
		}
		time.Sleep(time.Until(due))
		counted := !due.Before(w.from)
		select {
		case sem <- struct{}{}:
		default:
			if counted {
				rec.mu.Lock()
				rec.dropped++
				rec.mu.Unlock()
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := op(ctx, seq)
			if counted {
				rec.add(time.Since(due), err)
			}
		})
	}
	wg.Wait()
	return rec.result(w)
}
