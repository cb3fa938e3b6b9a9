package api

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"skiff.dev/skiff/controlplane/server/servertest"
)

// TestMeasureInProcess runs every API benchmark briefly against an
// in-process server and checks that each phase did real work without
// errors, that objects have the size asked for, and that every watcher saw
// every object.
func TestMeasureInProcess(t *testing.T) {
	s := servertest.Start(t)
	tg := target{
		cfg:          s.AdminConfig(),
		etcdEndpoint: "127.0.0.1:" + strconv.Itoa(s.Server.Config().EtcdClientPort),
		pid:          os.Getpid(),
		describe:     "in-process test server",
	}
	opts := Options{
		Rounds: 1, Clients: []int{1, 4}, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond,
		PerClient: true, ObjectSize: 1536, ListSize: 5, Watchers: 4, WatchObjects: 20,
		Rate: 100, RateDuration: 300 * time.Millisecond, IdleSettle: 0, ContentType: "application/json",
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := measure(ctx, tg, opts, log, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Sizes.Stored != opts.ObjectSize {
		t.Errorf("stored object is %d bytes, want %d", res.Sizes.Stored, opts.ObjectSize)
	}
	// 1 client: etcd put, create, update, get, list; 4 clients: the same
	// plus create and get per client; then two open-loop phases.
	if len(res.Cells) != 5+7+2 {
		t.Errorf("%d phases ran, want 14", len(res.Cells))
	}
	for _, c := range res.Cells {
		if c.Errors > 0 || c.Ops == 0 || c.Latency.P99 <= 0 {
			t.Errorf("%s (%s) at %d clients: %d ops, %d errors %v, p99 %v", c.Kind, c.Conn, c.Clients, c.Ops, c.Errors, c.ErrorSamples, c.Latency.P99)
		}
		if c.OpenRate > 0 && c.Dropped > 0 {
			t.Errorf("open loop %s dropped %d requests", c.Kind, c.Dropped)
		}
	}
	if len(res.Fanouts) != 2 {
		t.Fatalf("%d fan-outs ran, want 2", len(res.Fanouts))
	}
	for _, f := range res.Fanouts {
		if f.Probe != "" {
			t.Errorf("fan-out (%s): %s", f.Conn, f.Probe)
		}
		if f.Created != opts.WatchObjects || f.Delivered != opts.Watchers*opts.WatchObjects || f.Missing != 0 || f.Duplicates != 0 || f.Errors != 0 {
			t.Errorf("fan-out (%s): %+v", f.Conn, f.fanoutResult)
		}
	}
	if len(res.Stored) != 1 || res.Stored[0].ConfigMaps < int64(opts.ListSize+opts.WatchObjects) || res.Stored[0].Keys <= res.Stored[0].ConfigMaps {
		t.Errorf("store after the round: %+v", res.Stored)
	}
	if res.IdleStart.Anon == 0 || res.IdleEnd.Anon == 0 {
		t.Errorf("idle memory not read: %+v %+v", res.IdleStart, res.IdleEnd)
	}
	secs := sections(res)
	if len(secs) < 6 {
		t.Errorf("%d report sections, want at least 6", len(secs))
	}
	for _, x := range secs {
		if x.Title == "Errors" {
			t.Errorf("report has an Errors section: %+v", x.Tables)
		}
	}
}
