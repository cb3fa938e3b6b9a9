package dataplane

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// The dataplane does not expose its programs, so the suite finds them
// where they are attached and reads the kernel's run-time statistics
// (run_time_ns and run_cnt, what `bpftool prog` prints). It loads nothing.

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

// bpfStats holds the statistics switched on and the programs to read.
type bpfStats struct {
	enabled io.Closer
	progs   []hookProg
}

type hookProg struct {
	hook string
	name string
	id   ebpf.ProgramID
	prog *ebpf.Program
}

// hooks where the dataplane attaches the programs the benchmark traffic
// runs: the socket program every TCP connect runs, and the tc programs of
// the node's devices.
var tcHooks = []struct {
	dev    string
	attach ebpf.AttachType
	dir    string
}{
	{devExt, ebpf.AttachTCXIngress, "ingress"},
	{devExt, ebpf.AttachTCXEgress, "egress"},
	{devPod, ebpf.AttachTCXIngress, "ingress"},
	{devBackend, ebpf.AttachTCXIngress, "ingress"},
}

// openBPFStats enables the kernel's BPF statistics (until close; the
// kernel turns them off by itself if the process dies) and finds the
// programs attached to the pods cgroup and the node's devices.
func openBPFStats(podsCgroup string, node netNS) (*bpfStats, error) {
	enabled, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF statistics: %w", err)
	}
	s := &bpfStats{enabled: enabled}
	cg, err := unix.Open(podsCgroup, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	defer unix.Close(cg)
	if err := s.add("connect4", link.QueryOptions{Target: cg, Attach: ebpf.AttachCGroupInet4Connect}); err != nil {
		s.close()
		return nil, err
	}
	err = inNetNS(node.path, func() error {
		for _, h := range tcHooks {
			ifc, err := net.InterfaceByName(h.dev)
			if err != nil {
				return err
			}
			if err := s.add(h.dev+" "+h.dir, link.QueryOptions{Target: ifc.Index, Attach: h.attach}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// add opens the programs attached at one hook (none when the dataplane
// attached there with clsact instead of TCX).
func (s *bpfStats) add(hook string, q link.QueryOptions) error {
	res, err := link.QueryPrograms(q)
	if err != nil {
		return fmt.Errorf("query %s programs: %w", hook, err)
	}
	for _, ap := range res.Programs {
		// The kernel counts per program, not per attachment: one program
		// on several hooks is one entry naming them all.
		if i := slices.IndexFunc(s.progs, func(p hookProg) bool { return p.id == ap.ID }); i >= 0 {
			s.progs[i].hook += ", " + hook
			continue
		}
		p, err := ebpf.NewProgramFromID(ap.ID)
		if err != nil {
			return fmt.Errorf("open %s program %d: %w", hook, ap.ID, err)
		}
		name := ""
		if info, err := p.Info(); err == nil {
			name = info.Name
		}
		s.progs = append(s.progs, hookProg{hook: hook, name: name, id: ap.ID, prog: p})
	}
	return nil
}

// snapshot reads every program's cumulative statistics.
func (s *bpfStats) snapshot() ([]progCost, error) {
	out := make([]progCost, len(s.progs))
	for i, p := range s.progs {
		st, err := p.prog.Stats()
		if err != nil {
			return nil, fmt.Errorf("statistics of %s: %w", p.hook, err)
		}
		out[i] = progCost{Hook: p.hook, Name: p.name, Runs: st.RunCount, RunTime: st.Runtime}
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

// close releases the programs and switches the statistics off.
func (s *bpfStats) close() error {
	var errs []error
	for _, p := range s.progs {
		errs = append(errs, p.prog.Close())
	}
	errs = append(errs, s.enabled.Close())
	return errors.Join(errs...)
}
