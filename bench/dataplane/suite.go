// Package dataplane benchmarks skiff's service dataplane against
// kube-proxy's iptables rule shape and against the machine's own
// no-service path, on one topology of network namespaces built for each
// measurement:
//
//	pod    10.200.0.2 --- pod0 10.200.0.1 \                 / bk0 10.201.0.1 --- backend 10.201.0.10-19
//	                                        node (forwards)
//	client 10.202.0.2 --- ext0 10.202.0.1 /   eBPF programs or iptables rules here
//
// wrk in the pod namespace (inside the cgroup v2 subtree the socket
// programs attach to) measures ClusterIP; wrk in the client namespace
// (outside it) measures NodePort on the node's ext0 address. The backend
// is a Go HTTP server in its namespace, answering on every endpoint
// address. Each measurement (a "cell": scenario, mode, service count) gets
// a fresh topology, so that no mode inherits another's netfilter hooks or
// conntrack; it first measures the no-service path there (the same client
// straight to a backend address, nothing on the node yet), then programs
// the services and measures the path through the last one. Cells of all
// modes are interleaved within every round.
//
// Besides throughput and latency it reports the time to program N
// services in each mode, the per-connection cost of the BPF programs from
// the kernel's BPF statistics, and the EndpointSlice write -> programmed
// latency through a real API server.
package dataplane

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"skiff.dev/skiff/bench"
	"skiff.dev/skiff/bench/report"
)

// Options sizes the benchmark; every field is a flag.
type Options struct {
	// Rounds repeats every cell; cells of all modes are interleaved in
	// each round.
	Rounds int `json:"rounds"`
	// Sizes are the ClusterIP service counts; NodePortSizes the NodePort
	// ones (at most 2,767: the default node port range).
	Sizes         []int `json:"sizes"`
	NodePortSizes []int `json:"nodeport_sizes"`
	// Modes and NodePortModes are the service modes measured: ebpf,
	// iptables-legacy, iptables-nft. Every cell also measures the
	// no-service path ("direct") in its topology before the dataplane
	// starts.
	Modes         []string `json:"modes"`
	NodePortModes []string `json:"nodeport_modes"`
	// Endpoints per service.
	Endpoints int `json:"endpoints"`
	// Duration, Connections and Threads are wrk's -d, -c and -t.
	Duration    time.Duration `json:"duration_ns"`
	Connections int           `json:"connections"`
	Threads     int           `json:"threads"`
	// BPFStats turns the kernel's BPF run-time statistics on during the
	// eBPF cells, for the per-connection program cost.
	BPFStats bool `json:"bpf_stats"`
	// Seed orders the cells of each round.
	Seed uint64 `json:"seed"`
	// LatencyModes are the modes whose EndpointSlice write -> programmed
	// latency is measured, with LatencyServices services in the cluster;
	// eBPF takes LatencyWrites writes, the iptables modes (a full
	// iptables-restore per write) LatencyIPTablesWrites.
	LatencyModes          []string `json:"latency_modes"`
	LatencyServices       int      `json:"latency_services"`
	LatencyWrites         int      `json:"latency_writes"`
	LatencyIPTablesWrites int      `json:"latency_iptables_writes"`
}

// DefaultOptions are the sizes of `make bench`: the design brief's
// targets in about ten minutes.
func DefaultOptions() Options {
	return Options{
		Rounds:                3,
		Sizes:                 []int{1, 1000, 10000},
		NodePortSizes:         []int{1, 1000},
		Modes:                 []string{modeEBPF, modeLegacy, modeNft},
		NodePortModes:         []string{modeEBPF},
		Endpoints:             10,
		Duration:              2 * time.Second,
		Connections:           32,
		Threads:               2,
		BPFStats:              true,
		Seed:                  1,
		LatencyModes:          []string{modeEBPF, modeLegacy},
		LatencyServices:       200,
		LatencyWrites:         300,
		LatencyIPTablesWrites: 40,
	}
}

// The modes. "direct" names the no-service path: no programs, no rules,
// the client connects to a backend address.
const (
	modeDirect = "direct"
	modeEBPF   = "ebpf"
	modeLegacy = "iptables-legacy"
	modeNft    = "iptables-nft"
)

// Limits of the address plan (services.go).
const (
	maxServices         = 60000
	maxNodePortServices = 2767
	maxEndpoints        = 200
)

// Suite is the dataplane benchmark suite.
type Suite struct{ opts Options }

// NewSuite returns the suite with the default options.
func NewSuite() *Suite { return &Suite{opts: DefaultOptions()} }

// Name implements bench.Suite.
func (s *Suite) Name() string { return "dataplane" }

// Title implements bench.Suite.
func (s *Suite) Title() string { return "Service dataplane" }

// RegisterFlags implements bench.Suite.
func (s *Suite) RegisterFlags(fs *flag.FlagSet) {
	o := &s.opts
	fs.IntVar(&o.Rounds, "dataplane.rounds", o.Rounds, "rounds of every measurement, modes interleaved")
	fs.Var((*intList)(&o.Sizes), "dataplane.sizes", "comma-separated ClusterIP service counts")
	fs.Var((*intList)(&o.NodePortSizes), "dataplane.nodeport-sizes", "comma-separated NodePort service counts (empty: none)")
	fs.Var((*modeList)(&o.Modes), "dataplane.modes", "comma-separated ClusterIP modes: ebpf, iptables-legacy, iptables-nft")
	fs.Var((*modeList)(&o.NodePortModes), "dataplane.nodeport-modes", "comma-separated NodePort modes: ebpf, iptables-legacy, iptables-nft")
	fs.IntVar(&o.Endpoints, "dataplane.endpoints", o.Endpoints, "endpoints per service")
	fs.DurationVar(&o.Duration, "dataplane.duration", o.Duration, "length of each wrk run (whole seconds)")
	fs.IntVar(&o.Connections, "dataplane.connections", o.Connections, "wrk connections")
	fs.IntVar(&o.Threads, "dataplane.threads", o.Threads, "wrk threads")
	fs.BoolVar(&o.BPFStats, "dataplane.bpf-stats", o.BPFStats, "enable the kernel's BPF run-time statistics during the eBPF cells")
	fs.Uint64Var(&o.Seed, "dataplane.seed", o.Seed, "seed of the cell order within rounds")
	fs.Var((*modeList)(&o.LatencyModes), "dataplane.latency-modes", "comma-separated modes of the EndpointSlice latency measurement (empty: skip it)")
	fs.IntVar(&o.LatencyServices, "dataplane.latency-services", o.LatencyServices, "services in the cluster during the EndpointSlice latency measurement")
	fs.IntVar(&o.LatencyWrites, "dataplane.latency-writes", o.LatencyWrites, "EndpointSlice writes measured in eBPF mode")
	fs.IntVar(&o.LatencyIPTablesWrites, "dataplane.latency-iptables-writes", o.LatencyIPTablesWrites, "EndpointSlice writes measured in each iptables mode")
}

// Run implements bench.Suite.
func (s *Suite) Run(ctx context.Context, env bench.Env) ([]report.Section, error) {
	if err := s.opts.validate(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("dataplane: needs root (network namespaces, BPF, iptables)")
	}
	res, err := measure(ctx, env, s.opts)
	return sections(res), err
}

func (o Options) validate() error {
	switch {
	case o.Rounds < 1:
		return errors.New("dataplane: -dataplane.rounds must be at least 1")
	case len(o.plan()) == 0:
		return errors.New("dataplane: no sizes and modes to measure")
	case o.Duration < time.Second || o.Duration%time.Second != 0:
		return errors.New("dataplane: -dataplane.duration must be whole seconds (wrk's unit)")
	case o.Connections < 1 || o.Threads < 1 || o.Threads > o.Connections:
		return errors.New("dataplane: need 1 <= threads <= connections")
	case o.Endpoints < 1 || o.Endpoints > maxEndpoints:
		return fmt.Errorf("dataplane: endpoints must be 1-%d", maxEndpoints)
	case slices.Max(append([]int{0}, o.Sizes...)) > maxServices:
		return fmt.Errorf("dataplane: at most %d ClusterIP services", maxServices)
	case slices.Max(append([]int{0}, o.Sizes...))*o.Endpoints >= 1<<23-1:
		return fmt.Errorf("dataplane: services x endpoints must stay below %d (the dummy endpoint range %s)", 1<<23-1, dummyEndpoints)
	case slices.Max(append([]int{0}, o.NodePortSizes...)) > maxNodePortServices:
		return fmt.Errorf("dataplane: at most %d NodePort services", maxNodePortServices)
	case len(o.LatencyModes) > 0 && (o.LatencyServices < 1 || o.LatencyServices > maxServices || o.LatencyWrites < 1 || o.LatencyIPTablesWrites < 1):
		return errors.New("dataplane: the latency measurement needs at least 1 service and 1 write per mode")
	}
	return nil
}

// intList is a comma-separated list of positive integers as a flag.
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	out := []int{}
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// modeList is a comma-separated list of service modes as a flag.
type modeList []string

func (l *modeList) String() string { return strings.Join(*l, ",") }

func (l *modeList) Set(v string) error {
	out := []string{}
	for f := range strings.SplitSeq(v, ",") {
		switch f = strings.TrimSpace(f); f {
		case "":
		case modeEBPF, modeLegacy, modeNft:
			out = append(out, f)
		default:
			return fmt.Errorf("unknown mode %q (want %s, %s or %s)", f, modeEBPF, modeLegacy, modeNft)
		}
	}
	*l = out
	return nil
}
