package scheduler

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"skiff.dev/skiff/bench"
)

// TestSmoke runs the whole suite small (10 nodes, 50 pods, one round of
// each mode) and checks that every mode placed every pod and reported
// figures.
func TestSmoke(t *testing.T) {
	opts := DefaultOptions()
	opts.Rounds, opts.Nodes, opts.Pods, opts.Throttled = 1, []int{10}, 50, true
	opts.LeaseInterval, opts.Timeout = time.Second, time.Minute
	env := bench.Env{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), WorkDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := measure(ctx, opts, env)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]bool{}
	for _, r := range res.Runs {
		modes[r.Mode] = true
		if r.Bound != r.Pods || r.PodsPerSec <= 0 || r.Latency.P99 <= 0 || r.Latency.Count != r.Pods {
			t.Errorf("%s at %d nodes: %d of %d pods placed, %.0f pods/s, latency %+v", r.Mode, r.Nodes, r.Bound, r.Pods, r.PodsPerSec, r.Latency)
		}
		if r.Mode != modePure && (r.FirstBind <= 0 || r.Sync <= 0 || r.Sync > r.FirstBind || r.LogWarnings > 0 || r.Terms != 1 || r.BindLatency.Count != r.Pods) {
			t.Errorf("%s: first bind %v, caches synced %v, %d warnings, %d terms, %d bind calls", r.Mode, r.FirstBind, r.Sync, r.LogWarnings, r.Terms, r.BindLatency.Count)
		}
	}
	for _, m := range []string{modePure, modeAPI, modeThrottled, modeStatic} {
		if !modes[m] {
			t.Errorf("mode %q did not run", m)
		}
	}
	secs := sections(res)
	if len(secs) != 3 {
		t.Errorf("%d report sections, want 3 (no Errors section)", len(secs))
	}
	if rows := len(secs[0].Tables[0].Rows); rows != 4 {
		t.Errorf("%d rows against the targets, want one per mode", rows)
	}
}
