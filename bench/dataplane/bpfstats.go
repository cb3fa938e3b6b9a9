package dataplane

import (
	"io"
	"slices"
	"strings"
	"time"

	dplane "skiff.dev/skiff/dataplane"
)

// The dataplane reports its programs' run-time statistics (run_time_ns
// and run_cnt, what `bpftool prog` prints); the suite reads them around
// each wrk run.

// progCost is one attached program's work during a wrk run.
type progCost struct {
	// Hook names the program by its attach points: "connect4",
	// "ext0 ingress", "pod0 ingress, bk0 ingress", ...
	Hook    string        `json:"hook"`
	Name    string        `json:"program"`
	Runs    uint64        `json:"runs"`
	RunTime time.Duration `json:"run_time_ns"`
}

// NsPerRun is the mean run time.
func (c progCost) NsPerRun() float64 {
	if c.Runs == 0 {
		return 0
	}
	return float64(c.RunTime) / float64(c.Runs)
}

// bpfStats holds the statistics switched on and the dataplane to read.
type bpfStats struct {
	enabled io.Closer
	dp      *dplane.Dataplane
}

// openBPFStats enables the kernel's BPF statistics (until close; the
// kernel turns them off by itself if the process dies).
func openBPFStats(dp *dplane.Dataplane) (*bpfStats, error) {
	enabled, err := dplane.EnableBPFStats()
	if err != nil {
		return nil, err
	}
	return &bpfStats{enabled: enabled, dp: dp}, nil
}

// measured reports whether the benchmark traffic runs a program: the
// connect program every TCP connect runs, and the tc programs of the
// node's devices.
func measured(p dplane.ProgramStats) bool {
	return slices.Contains(p.Hooks, "connect4") || strings.HasPrefix(p.Program, "tc_")
}

// snapshot reads the measured programs' cumulative statistics, in the
// dataplane's (stable) order.
func (s *bpfStats) snapshot() ([]progCost, error) {
	all, err := s.dp.ProgramStats()
	if err != nil {
		return nil, err
	}
	var out []progCost
	for _, p := range all {
		if measured(p) {
			out = append(out, progCost{Hook: strings.Join(p.Hooks, ", "), Name: p.Program, Runs: p.Runs, RunTime: p.RunTime})
		}
	}
	return out, nil
}

// since returns the work done between two snapshots.
func since(before, after []progCost) []progCost {
	out := make([]progCost, len(after))
	for i, a := range after {
		out[i] = a
		if i < len(before) {
			out[i].Runs -= before[i].Runs
			out[i].RunTime -= before[i].RunTime
		}
	}
	return out
}

// close switches the statistics off.
func (s *bpfStats) close() error { return s.enabled.Close() }
