package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"skiff.dev/skiff/bench"
	"skiff.dev/skiff/internal/testenv"
)

// TestSuiteAtTinySizes runs every measurement of the suite once at one
// service and checks that each did real work through the path it claims
// to measure, and that nothing is left on the host afterwards.
func TestSuiteAtTinySizes(t *testing.T) {
	testenv.RequireRoot(t)
	for _, cmd := range []string{"ip", "wrk", "conntrack", "bash", "iptables-legacy-restore", "iptables-nft-restore"} {
		testenv.RequireCommand(t, cmd)
	}
	root, err := cgroup2Root()
	testenv.Require(t, err == nil, "a cgroup v2 hierarchy")
	statsBefore, _ := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled")

	o := DefaultOptions()
	o.Rounds, o.Sizes, o.NodePortSizes = 1, []int{1}, []int{1}
	o.NodePortModes = []string{modeEBPF}
	o.Duration, o.Connections, o.Threads = time.Second, 8, 1
	o.LatencyModes, o.LatencyServices, o.LatencyWrites, o.LatencyIPTablesWrites = []string{modeEBPF, modeLegacy}, 2, 6, 2
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := measure(ctx, bench.Env{Logger: log, WorkDir: t.TempDir()}, o)
	if err != nil {
		t.Fatal(err)
	}

	if len(res.Cells) != len(o.plan()) {
		t.Errorf("%d cells ran, want %d", len(res.Cells), len(o.plan()))
	}
	for _, c := range res.Cells {
		name := fmt.Sprintf("%s %s", c.Scenario, c.Mode)
		if c.Err != "" {
			t.Errorf("%s: %s", name, c.Err)
			continue
		}
		for _, r := range []run{c.Direct.New, c.Direct.KeepAlive, c.Service.New, c.Service.KeepAlive} {
			if r.Requests == 0 || r.Errors > 0 {
				t.Errorf("%s: %d requests, %d errors (%s)", name, r.Requests, r.Errors, r.Detail)
			}
		}
		// Through the service, every endpoint gets connections (the
		// no-service runs before reached the first one only).
		if slices.Contains(c.Served, 0) {
			t.Errorf("%s: requests per endpoint %v, want every endpoint served", name, c.Served)
		}
		synced, restored := c.Program > 0 && c.Change > 0, c.Restore > 0
		if want := map[string][2]bool{modeEBPF: {true, false}, modeLegacy: {true, true}, modeNft: {true, true}}[c.Mode]; synced != want[0] || restored != want[1] {
			t.Errorf("%s: sync %v, change %v, full restore %v; want sync %v, restore %v", name, c.Program, c.Change, c.Restore, want[0], want[1])
		}
		if c.Mode == modeEBPF && c.Scenario == scenarioClusterIP {
			h, ok := hookCost(&group{cells: []cellResult{c}}, "connect4", true)
			if !ok || h.Runs < uint64(c.Service.New.Requests) || h.RunTime <= 0 {
				t.Errorf("%s: connect4 ran %d times in %v for %d new connections", name, h.Runs, h.RunTime, c.Service.New.Requests)
			}
		}
	}
	if len(res.Latency) != 2 {
		t.Fatalf("%d latency measurements, want 2", len(res.Latency))
	}
	for _, l := range res.Latency {
		want := o.LatencyIPTablesWrites / 2
		if l.Mode == modeEBPF {
			want = o.LatencyWrites / 2
		}
		if l.Err != "" || l.Usable.Count != want || l.Unusable.Count != want || l.Syncs == 0 {
			t.Errorf("%s latency: %+v, want %d usable and %d unusable writes", l.Mode, l, want, want)
		}
	}
	var titles []string
	for _, x := range sections(res) {
		titles = append(titles, x.Title)
	}
	for _, want := range []string{"Against the targets", "ClusterIP: connections and requests per second", "NodePort: connections and requests per second",
		"Cost of the BPF programs (kernel BPF statistics)", "Time to program services", "EndpointSlice write -> dataplane", "Method"} {
		if !slices.Contains(titles, want) {
			t.Errorf("report lacks section %q: %q", want, titles)
		}
	}
	if slices.Contains(titles, "Errors") {
		t.Errorf("report has an Errors section")
	}

	mine := fmt.Sprintf("%s%d-", resourcePrefix, os.Getpid())
	for _, dir := range []string{"/run/netns", root} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), mine) {
				t.Errorf("left behind: %s", filepath.Join(dir, e.Name()))
			}
		}
	}
	if after, _ := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); string(after) != string(statsBefore) {
		t.Errorf("kernel.bpf_stats_enabled was %q, is %q", statsBefore, after)
	}
}
