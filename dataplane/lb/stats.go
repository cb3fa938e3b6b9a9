package lb

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ProgramStats is the kernel's run-time statistics of one of the
// dataplane's programs (what `bpftool prog` prints as run_cnt and
// run_time_ns), cumulative while statistics are enabled. The kernel
// counts per program, not per attachment: a program attached to several
// hooks has one entry naming them all.
type ProgramStats struct {
	// Program is the program's name in ../bpf: "sock4_connect",
	// "tc_nodeport_ingress", ...
	Program string
	// Hooks are where this LB attached it: "connect4" (a cgroup hook),
	// "<device> ingress", "<device> egress".
	Hooks   []string
	Runs    uint64
	RunTime time.Duration
}

// NsPerRun is the mean run time in nanoseconds.
func (s ProgramStats) NsPerRun() float64 {
	if s.Runs == 0 {
		return 0
	}
	return float64(s.RunTime) / float64(s.Runs)
}

// EnableStats switches the kernel's BPF run-time statistics on, for every
// program of the machine, until the returned Closer is closed (or the
// process exits). They cost a little time per program run.
func EnableStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF statistics: %w", err)
	}
	return c, nil
}

// noteHook records that prog was attached at hook, for Stats.
func (lb *LB) noteHook(prog *ebpf.Program, hook string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.hooks == nil {
		lb.hooks = make(map[*ebpf.Program][]string)
	}
	if !slices.Contains(lb.hooks[prog], hook) {
		lb.hooks[prog] = append(lb.hooks[prog], hook)
	}
}

// Stats returns the statistics of the programs this LB attached, sorted
// by program name; without EnableStats the counts stay zero.
func (lb *LB) Stats() ([]ProgramStats, error) {
	lb.mu.Lock()
	hooks := make(map[*ebpf.Program][]string, len(lb.hooks))
	for p, h := range lb.hooks {
		hooks[p] = slices.Clone(h)
	}
	lb.mu.Unlock()
	var out []ProgramStats
	for name, prog := range programsByName(&lb.objs.bpfPrograms) {
		h, ok := hooks[prog]
		if !ok {
			continue
		}
		st, err := prog.Stats()
		if err != nil {
			return nil, fmt.Errorf("statistics of %s: %w", name, err)
		}
		out = append(out, ProgramStats{Program: name, Hooks: h, Runs: st.RunCount, RunTime: st.Runtime})
	}
	slices.SortFunc(out, func(a, b ProgramStats) int { return strings.Compare(a.Program, b.Program) })
	return out, nil
}

// programsByName maps the names of bpf2go's program fields (their
// `ebpf` tags, the names in the C source) to the loaded programs.
func programsByName(progs *bpfPrograms) map[string]*ebpf.Program {
	out := make(map[string]*ebpf.Program)
	v := reflect.ValueOf(progs).Elem()
	for i := range v.NumField() {
		if p, ok := v.Field(i).Interface().(*ebpf.Program); ok && p != nil {
			out[v.Type().Field(i).Tag.Get("ebpf")] = p
		}
	}
	return out
}
