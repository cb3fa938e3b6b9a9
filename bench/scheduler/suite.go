// Package scheduler benchmarks skiff's scheduler scheduler_perf style:
// static nodes of one shape and pods created before the scheduler starts,
// measured two ways. The pure pipeline schedules them on an in-memory
// snapshot (parse, filter, score, assume), with no API; through the API,
// a scheduler configured as the server runs it places them on simulated
// nodes (test/simnode) registered with a skiff server in this process,
// binding each through pods/binding. Both report pods/s and the p50/p99
// of per-pod latency, beside the design brief's targets and published
// figures of other schedulers.
package scheduler

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"skiff.dev/skiff/bench"
	"skiff.dev/skiff/bench/report"
	"skiff.dev/skiff/bench/stats"
)

// Modes of a measurement.
const (
	modePure      = "pure pipeline"
	modeAPI       = "through the API"
	modeThrottled = "through the API, standalone scheduler's client limits"
	modeStatic    = "through the API, static nodes"
)

// Options sets what the suite measures.
type Options struct {
	// Rounds repeats each pure pipeline measurement, APIRounds each one
	// through the API (a minute or two each at 10,000 pods here); the
	// report gives the median and the spread.
	Rounds    int `json:"rounds"`
	APIRounds int `json:"api_rounds"`
	// Nodes are the cluster sizes, measured in increasing order.
	Nodes []int `json:"nodes"`
	// Pods are created before each round.
	Pods int `json:"pods"`
	// PodCPU and PodMemory are each pod's requests.
	PodCPU    string `json:"pod_cpu"`
	PodMemory string `json:"pod_memory"`
	// API also measures through the API; Throttled adds rounds at the
	// largest size with the client limits the server gives its scheduler;
	// Static adds rounds at the largest size with the nodes' heartbeats
	// and agent stopped (scheduler_perf's static nodes).
	API       bool `json:"api"`
	Throttled bool `json:"throttled"`
	Static    bool `json:"static"`
	// LeaseInterval and StatusInterval pace the simulated nodes'
	// heartbeats (simnode.Config).
	LeaseInterval  time.Duration `json:"lease_interval_ns"`
	StatusInterval time.Duration `json:"status_interval_ns"`
	// ContentType is the wire format of the scheduler's client
	// (protobuf by default, as skiff's components use; the benchmark's
	// own calls use protobuf).
	ContentType string `json:"content_type"`
	// Timeout bounds one round through the API.
	Timeout time.Duration `json:"timeout_ns"`
	// APIConcurrency, if positive, replaces the scheduler's bound on API
	// calls in flight (scheduler.Config.APIConcurrency).
	APIConcurrency int `json:"api_concurrency,omitempty"`
	// CPUProfile, if set, is a directory that receives a CPU profile of
	// the process (server and scheduler) for each round through the API,
	// from the scheduler's start until every pod is bound.
	CPUProfile string `json:"-"`

	cpu, mem resource.Quantity
}

// DefaultOptions finish in about eight minutes on a 2-core machine.
func DefaultOptions() Options {
	return Options{
		Rounds: 3, APIRounds: 1, Nodes: []int{100, 1000, 5000}, Pods: 10000, PodCPU: "25m", PodMemory: "128Mi",
		API: true, Static: true,
		LeaseInterval: 10 * time.Second, StatusInterval: time.Minute,
		ContentType: protobuf, Timeout: 5 * time.Minute,
	}
}

func (o *Options) validate() error {
	var err error
	switch {
	case o.Rounds < 1 || o.APIRounds < 1:
		return fmt.Errorf("scheduler: -scheduler.rounds and -scheduler.api-rounds must be at least 1")
	case len(o.Nodes) == 0 || o.Pods < 1:
		return fmt.Errorf("scheduler: -scheduler.nodes and -scheduler.pods must be positive")
	case o.LeaseInterval <= 0 || o.StatusInterval <= 0 || o.Timeout <= 0:
		return fmt.Errorf("scheduler: intervals and timeout must be positive")
	}
	if o.cpu, err = resource.ParseQuantity(o.PodCPU); err != nil {
		return fmt.Errorf("scheduler: -scheduler.pod-cpu: %w", err)
	}
	if o.mem, err = resource.ParseQuantity(o.PodMemory); err != nil {
		return fmt.Errorf("scheduler: -scheduler.pod-memory: %w", err)
	}
	o.Nodes = slices.Sorted(slices.Values(o.Nodes))
	return nil
}

// Run is one measured batch: opts.Pods pods scheduled on Nodes nodes.
type Run struct {
	Mode  string `json:"mode"`
	Nodes int    `json:"nodes"`
	Pods  int    `json:"pods"`
	Round int    `json:"round"`
	// Bound is the number of pods placed.
	Bound int `json:"bound"`
	// Elapsed runs from the start (of the batch, or of the scheduler) to
	// the last pod placed; PodsPerSec is Bound over it.
	Elapsed    time.Duration `json:"elapsed_ns"`
	PodsPerSec float64       `json:"pods_per_sec"`
	// SteadyPodsPerSec counts from the first bind to the last (API).
	SteadyPodsPerSec float64 `json:"steady_pods_per_sec,omitempty"`
	// FirstBind and Sync are how long after its start the scheduler bound
	// its first pod and had its caches synced (API).
	FirstBind time.Duration `json:"first_bind_ns,omitempty"`
	Sync      time.Duration `json:"sync_ns,omitempty"`
	// Latency is per pod: the pipeline's work on it (pure), or the time
	// from the scheduler's start until the pod was seen bound (API).
	Latency stats.Latency `json:"latency"`
	// CPUPerPod is the CPU time of the whole process (server, etcd,
	// simulated nodes, scheduler) from the scheduler's start until the
	// last pod was seen bound, over the pods bound (API): unlike pods/s,
	// it hardly depends on what else the machine runs.
	CPUPerPod time.Duration `json:"cpu_per_pod_ns,omitempty"`
	// CreateRate is how fast the pods were created before the round (API).
	CreateRate float64 `json:"create_rate,omitempty"`
	// BindLatency is the time of the scheduler's pods/binding calls, as
	// its client saw them (API).
	BindLatency stats.Latency `json:"bind_latency"`
	// Terms counts the scheduler's leaderships: more than one means it
	// lost its Lease during the round (API).
	Terms int `json:"terms,omitempty"`
	// LogWarnings and FailedAttempts count the scheduler's warnings and
	// the attempts that found no node (API).
	LogWarnings    int `json:"log_warnings"`
	FailedAttempts int `json:"failed_attempts"`
}

// Results are everything the suite measured.
type Results struct {
	Options Options  `json:"options"`
	Runs    []Run    `json:"runs"`
	Errors  []string `json:"errors,omitempty"`
}

// Suite is the scheduler benchmark suite.
type Suite struct{ opts Options }

// NewSuite returns the suite with the default options.
func NewSuite() *Suite { return &Suite{opts: DefaultOptions()} }

// Name implements bench.Suite.
func (s *Suite) Name() string { return "scheduler" }

// Title implements bench.Suite.
func (s *Suite) Title() string { return "Scheduler" }

// RegisterFlags implements bench.Suite.
func (s *Suite) RegisterFlags(fs *flag.FlagSet) {
	o := &s.opts
	fs.IntVar(&o.Rounds, "scheduler.rounds", o.Rounds, "rounds of each pure pipeline measurement")
	fs.IntVar(&o.APIRounds, "scheduler.api-rounds", o.APIRounds, "rounds of each measurement through the API")
	fs.Var((*bench.IntList)(&o.Nodes), "scheduler.nodes", "comma-separated cluster sizes (nodes)")
	fs.IntVar(&o.Pods, "scheduler.pods", o.Pods, "pods created before each round")
	fs.StringVar(&o.PodCPU, "scheduler.pod-cpu", o.PodCPU, "CPU request of each pod (scheduler_perf's is 100m, which 10,000 pods cannot get from 100 nodes)")
	fs.StringVar(&o.PodMemory, "scheduler.pod-memory", o.PodMemory, "memory request of each pod (scheduler_perf's is 500Mi)")
	fs.BoolVar(&o.API, "scheduler.api", o.API, "also measure through the API (a server in this process, simulated nodes)")
	fs.BoolVar(&o.Throttled, "scheduler.throttled", o.Throttled, "also measure at the largest size with the client limits of a standalone skiff scheduler (QPS 500, burst 1000)")
	fs.BoolVar(&o.Static, "scheduler.static", o.Static, "also measure at the largest size with the nodes' heartbeats and agent stopped")
	fs.DurationVar(&o.LeaseInterval, "scheduler.lease-interval", o.LeaseInterval, "simulated nodes' Lease renewal interval")
	fs.DurationVar(&o.StatusInterval, "scheduler.status-interval", o.StatusInterval, "simulated nodes' status report interval")
	fs.StringVar(&o.ContentType, "scheduler.content-type", o.ContentType, "wire format of the scheduler's client (application/json or application/vnd.kubernetes.protobuf)")
	fs.DurationVar(&o.Timeout, "scheduler.timeout", o.Timeout, "limit of one round through the API")
	fs.IntVar(&o.APIConcurrency, "scheduler.api-concurrency", o.APIConcurrency, "the scheduler's bound on API calls in flight (0: its default)")
	fs.StringVar(&o.CPUProfile, "scheduler.cpuprofile", o.CPUProfile, "directory for a CPU profile of each round through the API")
}

// Run implements bench.Suite.
func (s *Suite) Run(ctx context.Context, env bench.Env) ([]report.Section, error) {
	res, err := measure(ctx, s.opts, env)
	return sections(res), err
}

// measure runs every measurement opts asks for: the pure pipeline first,
// on a quiet process, then through the API.
func measure(ctx context.Context, opts Options, env bench.Env) (*Results, error) {
	res := &Results{Options: opts}
	if err := opts.validate(); err != nil {
		return res, err
	}
	res.Options = opts
	for _, nodes := range opts.Nodes {
		for round := range opts.Rounds {
			r, err := measurePure(ctx, opts, nodes, round)
			if err != nil {
				return res, err
			}
			env.Logger.Info("scheduler: pure", "nodes", nodes, "round", round, "pods/s", int(r.PodsPerSec))
			res.Runs = append(res.Runs, r)
		}
	}
	if !opts.API {
		return res, nil
	}
	c, err := startCluster(ctx, env.WorkDir, opts, env.Logger)
	if err != nil {
		return res, err
	}
	defer c.stop()
	round := func(mode clientMode, nodes, i int) error {
		r, err := c.measureAPI(ctx, mode, nodes, i)
		env.Logger.Info("scheduler: API", "mode", mode.name, "nodes", nodes, "round", i, "pods/s", int(r.PodsPerSec), "bound", r.Bound, "err", err)
		res.Runs = append(res.Runs, r)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s, %d nodes, round %d: %v", mode.name, nodes, i+1, err))
		}
		return ctx.Err()
	}
	unlimited := clientMode{name: modeAPI, qps: -1}
	for _, nodes := range opts.Nodes {
		t0 := time.Now()
		if err := c.growTo(ctx, nodes); err != nil {
			return res, err
		}
		env.Logger.Info("scheduler: nodes registered", "nodes", nodes, "took", time.Since(t0).Round(time.Millisecond))
		for i := range opts.APIRounds {
			if err := round(unlimited, nodes, i); err != nil {
				return res, err
			}
		}
	}
	largest := opts.Nodes[len(opts.Nodes)-1]
	if opts.Throttled {
		// A standalone skiff scheduler's client: QPS 500, burst 1000.
		for i := range opts.APIRounds {
			if err := round(clientMode{name: modeThrottled, qps: 500, burst: 1000}, largest, i); err != nil {
				return res, err
			}
		}
	}
	if opts.Static {
		c.stopNodes()
		for i := range opts.APIRounds {
			if err := round(clientMode{name: modeStatic, qps: -1}, largest, i); err != nil {
				return res, err
			}
		}
	}
	if len(res.Errors) > 0 {
		return res, fmt.Errorf("scheduler: %s", strings.Join(res.Errors, "; "))
	}
	return res, nil
}

// startProfile starts a CPU profile into dir/cpu-<name>.pprof (nothing when
// dir is empty) and returns the function that stops it.
func startProfile(dir, name string) (stop func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("scheduler: cpu profile: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "cpu-"+name+".pprof"))
	if err != nil {
		return nil, fmt.Errorf("scheduler: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("scheduler: cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
