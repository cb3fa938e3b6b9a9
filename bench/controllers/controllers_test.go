package controllers

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"skiff.dev/skiff/bench"
)

// TestSmoke runs the whole suite small (3 nodes, a Deployment of 4
// replicas, 2 Services of 5 pods, two rounds of each) and checks that
// every round measured something, that the controllers' work queues were
// observed, and that the report holds both benchmarks.
func TestSmoke(t *testing.T) {
	opts := Options{Rounds: 2, Nodes: 3, Replicas: 4, Services: 2, PodsPerService: 5, Writers: 4,
		Settle: 200 * time.Millisecond, Timeout: time.Minute}
	env := bench.Env{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), WorkDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := measure(ctx, opts, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rollovers) != opts.Rounds || len(res.Churn) != opts.Rounds {
		t.Fatalf("%d rollover and %d churn rounds, want %d of each", len(res.Rollovers), len(res.Churn), opts.Rounds)
	}
	for _, r := range res.Rollovers {
		if r.RolledOut <= 0 || r.RolledOver <= 0 {
			t.Errorf("rollover round %d: rolled out in %v, over in %v", r.Round, r.RolledOut, r.RolledOver)
		}
		for _, q := range []string{queueDeployment, queueReplicaSet} {
			if r.Queues[q].Latency.Count == 0 {
				t.Errorf("rollover round %d: no sync of the %s queue recorded (queues: %v)", r.Round, q, names(r.Queues))
			}
		}
	}
	pods := opts.Services * opts.PodsPerService
	for _, r := range res.Churn {
		for _, f := range [...]struct {
			ready bool
			pods  int
			conv  time.Duration
		}{{r.Unready.Ready, r.Unready.Pods, r.Unready.Converged}, {r.Ready.Ready, r.Ready.Pods, r.Ready.Converged}} {
			if f.pods != pods || f.conv <= 0 {
				t.Errorf("churn round %d, ready=%v: %d pods flipped (want %d), converged in %v", r.Round, f.ready, f.pods, pods, f.conv)
			}
		}
		if r.Unready.Ready || !r.Ready.Ready {
			t.Errorf("churn round %d flipped to ready=%v then ready=%v, want false then true", r.Round, r.Unready.Ready, r.Ready.Ready)
		}
		for _, q := range []string{queueEndpoints, queueEndpointSlice, queueReplicaSet} {
			if r.Queues[q].Latency.Count == 0 || r.Queues[q].Latency.P99 <= 0 {
				t.Errorf("churn round %d: %s queue latency %+v (queues: %v)", r.Round, q, r.Queues[q].Latency, names(r.Queues))
			}
		}
	}
	secs := sections(res)
	if len(secs) != 5 {
		t.Errorf("%d report sections, want 5 (no Errors section)", len(secs))
	}
	var rows []string
	for _, row := range secs[0].Tables[0].Rows {
		rows = append(rows, row[0])
	}
	for _, want := range []string{"rolled over", "churn: endpoints", "churn: endpointslice"} {
		if !strings.Contains(strings.Join(rows, "\n"), want) {
			t.Errorf("results table lacks a row about %q; rows: %q", want, rows)
		}
	}
}

// TestOptionsNeedRoomForThePods rejects sizes the nodes cannot hold.
func TestOptionsNeedRoomForThePods(t *testing.T) {
	o := DefaultOptions()
	if err := o.validate(); err != nil {
		t.Fatalf("default options: %v", err)
	}
	o.Nodes = 5
	if err := o.validate(); err == nil {
		t.Error("1,200 pods on 5 nodes of 110 accepted")
	}
}

func names(qs map[string]Queue) []string {
	var out []string
	for n := range qs {
		out = append(out, n)
	}
	return queueOrder(out)
}
