// Package controllers benchmarks skiff's workload controllers as the
// server runs them, on simulated nodes (test/simnode): how long a
// Deployment of 100 replicas takes to roll out and to roll over to a new
// template (controlplane/controllers/deployment/deploymentbench), and the
// latency of every controller's work queue while the readiness of 1,000
// pods behind 10 Services churns
// (controlplane/controllers/endpointslice/endpointslicebench). Both are
// reported as absolute numbers, median and range over rounds, with
// kube-controller-manager's documented defaults beside them for context.
package controllers

import (
	"context"
	"flag"
	"fmt"
	"time"

	"skiff.dev/skiff/bench"
	"skiff.dev/skiff/bench/report"
	"skiff.dev/skiff/bench/stats"
	"skiff.dev/skiff/controlplane/controllers/deployment/deploymentbench"
	"skiff.dev/skiff/controlplane/controllers/endpointslice/endpointslicebench"
)

// podsPerNode is each simulated node's pod capacity, a kubelet's default
// maxPods.
const podsPerNode = 110

// Options sets what the suite measures.
type Options struct {
	// Rounds repeats each measurement; the report gives the median and
	// the range.
	Rounds int `json:"rounds"`
	// Nodes is the number of simulated nodes.
	Nodes int `json:"nodes"`
	// Replicas of the Deployment that rolls over.
	Replicas int `json:"replicas"`
	// Services, each in front of a Deployment of PodsPerService pods, make
	// the churn.
	Services       int `json:"services"`
	PodsPerService int `json:"pods_per_service"`
	// Writers are the readiness changes in flight at once.
	Writers int `json:"writers"`
	// Settle is how long each churn round waits after its last flip
	// converged, so that the syncs it still causes (the EndpointSlice
	// controller's delayed ones) count in it.
	Settle time.Duration `json:"settle_ns"`
	// Timeout bounds each phase of a round.
	Timeout time.Duration `json:"timeout_ns"`
}

// DefaultOptions finish in about two minutes on a 2-core machine.
func DefaultOptions() Options {
	return Options{Rounds: 3, Nodes: 20, Replicas: 100, Services: 10, PodsPerService: 100, Writers: 16,
		Settle: 2 * time.Second, Timeout: 5 * time.Minute}
}

func (o Options) validate() error {
	switch {
	case o.Rounds < 1:
		return fmt.Errorf("controllers: -controllers.rounds must be at least 1")
	case o.Nodes < 1 || o.Replicas < 1 || o.Services < 1 || o.PodsPerService < 1 || o.Writers < 1:
		return fmt.Errorf("controllers: nodes, replicas, services, pods per service and writers must be positive")
	case o.Settle < 0 || o.Timeout <= 0:
		return fmt.Errorf("controllers: -controllers.settle must not be negative, -controllers.timeout must be positive")
	}
	// The rollover's pods (with its surge) and the churn's share the nodes
	// while the churn is set up.
	if need := o.churnPods() + 2*o.Replicas; need > o.Nodes*podsPerNode {
		return fmt.Errorf("controllers: %d pods do not fit on %d nodes of %d pods: raise -controllers.nodes", need, o.Nodes, podsPerNode)
	}
	return nil
}

func (o Options) churnPods() int { return o.Services * o.PodsPerService }

// Rollover is one round of the rollover measurement.
type Rollover struct {
	Round int `json:"round"`
	// Idle is how long the round waited for the controllers to go idle
	// before it started.
	Idle time.Duration `json:"idle_wait_ns"`
	// RolledOut runs from the Deployment's creation until it is rolled
	// out; RolledOver from its template change until the new ReplicaSet
	// has every replica available and no old pod is left.
	RolledOut  time.Duration `json:"rolled_out_ns"`
	RolledOver time.Duration `json:"rolled_over_ns"`
	// Queues are the controllers' work queues from the creation to the
	// end of the rollover.
	Queues map[string]Queue `json:"queues"`
}

// ChurnRound is one round of the churn: every pod made unready, then
// ready again.
type ChurnRound struct {
	Round int `json:"round"`
	// Idle is how long the round waited for the controllers to go idle
	// before it started.
	Idle    time.Duration           `json:"idle_wait_ns"`
	Unready endpointslicebench.Flip `json:"unready"`
	Ready   endpointslicebench.Flip `json:"ready"`
	// Queues are the controllers' work queues over the round.
	Queues map[string]Queue `json:"queues"`
}

// UpdatesPerSec is the rate of readiness writes over both flips.
func (c ChurnRound) UpdatesPerSec() float64 {
	w := c.Unready.Written + c.Ready.Written
	if w <= 0 {
		return 0
	}
	return float64(c.Unready.Pods+c.Ready.Pods) / w.Seconds()
}

// Queue summarises one work queue over a round.
type Queue struct {
	// Latency is from a key's add until a worker takes it.
	Latency stats.Latency `json:"latency"`
	// Work is a worker's sync of one key.
	Work stats.Latency `json:"work"`
}

// Results are everything the suite measured.
type Results struct {
	Options   Options      `json:"options"`
	Rollovers []Rollover   `json:"rollovers"`
	Churn     []ChurnRound `json:"churn"`
	// ChurnSetup is how long the churn's Deployments took to become ready
	// endpoints.
	ChurnSetup time.Duration `json:"churn_setup_ns"`
	Errors     []string      `json:"errors,omitempty"`
}

// Suite is the workload controllers' benchmark suite.
type Suite struct{ opts Options }

// NewSuite returns the suite with the default options.
func NewSuite() *Suite { return &Suite{opts: DefaultOptions()} }

// Name implements bench.Suite.
func (s *Suite) Name() string { return "controllers" }

// Title implements bench.Suite.
func (s *Suite) Title() string { return "Workload controllers" }

// RegisterFlags implements bench.Suite.
func (s *Suite) RegisterFlags(fs *flag.FlagSet) {
	o := &s.opts
	fs.IntVar(&o.Rounds, "controllers.rounds", o.Rounds, "rounds of the rollover and of the churn")
	fs.IntVar(&o.Nodes, "controllers.nodes", o.Nodes, "simulated nodes")
	fs.IntVar(&o.Replicas, "controllers.replicas", o.Replicas, "replicas of the Deployment that rolls over")
	fs.IntVar(&o.Services, "controllers.services", o.Services, "Services (each in front of a Deployment) whose pods churn")
	fs.IntVar(&o.PodsPerService, "controllers.pods-per-service", o.PodsPerService, "pods behind each churning Service (at most 1,000)")
	fs.IntVar(&o.Writers, "controllers.writers", o.Writers, "pod readiness changes in flight at once during the churn")
	fs.DurationVar(&o.Settle, "controllers.settle", o.Settle, "wait after each churn round for the syncs it still causes")
	fs.DurationVar(&o.Timeout, "controllers.timeout", o.Timeout, "limit of each phase of a round")
}

// Run implements bench.Suite.
func (s *Suite) Run(ctx context.Context, env bench.Env) ([]report.Section, error) {
	res, err := measure(ctx, s.opts, env)
	return sections(res), err
}

// measure starts the cluster and runs the rollover rounds, then the churn
// rounds.
func measure(ctx context.Context, opts Options, env bench.Env) (*Results, error) {
	res := &Results{Options: opts}
	if err := opts.validate(); err != nil {
		return res, err
	}
	queues, err := observeQueues()
	if err != nil {
		return res, err
	}
	defer queues.Stop()
	c, err := startCluster(ctx, env.WorkDir, opts.Nodes, env.Logger)
	if err != nil {
		return res, err
	}
	defer c.stop()
	fail := func(what string, err error) error {
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", what, err))
		return fmt.Errorf("controllers: %s: %w", what, err)
	}

	// An unmeasured small rollover first: the server's controllers and
	// scheduler take their Leases and fill their caches.
	warm := deploymentbench.Config{Namespace: "rollover", Name: "warmup", Replicas: 2, Timeout: opts.Timeout}
	if _, err := deploymentbench.Rollover(ctx, c.cs, warm); err != nil {
		return res, fail("warm-up rollover", err)
	}
	for round := 1; round <= opts.Rounds; round++ {
		idle, err := waitIdle(ctx, queues, opts.Timeout)
		if err != nil {
			return res, fail(fmt.Sprintf("before rollover round %d", round), err)
		}
		r, err := rollover(ctx, c, opts, queues)
		r.Round, r.Idle = round, idle
		if err != nil {
			return res, fail(fmt.Sprintf("rollover round %d", round), err)
		}
		env.Logger.Info("controllers: rollover", "round", round, "rolled out", r.RolledOut.Round(time.Millisecond), "rolled over", r.RolledOver.Round(time.Millisecond))
		res.Rollovers = append(res.Rollovers, r)
	}

	t0 := time.Now()
	churn, err := endpointslicebench.Setup(ctx, c.cs, c.nodes, endpointslicebench.Config{
		Namespace: "churn", Services: opts.Services, PodsPerService: opts.PodsPerService, Writers: opts.Writers, Timeout: opts.Timeout})
	if err != nil {
		return res, fail("churn set-up", err)
	}
	res.ChurnSetup = time.Since(t0)
	env.Logger.Info("controllers: churn set up", "pods", churn.Pods(), "took", res.ChurnSetup.Round(time.Millisecond))
	for round := 1; round <= opts.Rounds; round++ {
		idle, err := waitIdle(ctx, queues, opts.Timeout)
		if err != nil {
			return res, fail(fmt.Sprintf("before churn round %d", round), err)
		}
		r, err := churnRound(ctx, churn, opts, queues)
		r.Round, r.Idle = round, idle
		if err != nil {
			return res, fail(fmt.Sprintf("churn round %d", round), err)
		}
		env.Logger.Info("controllers: churn", "round", round, "updates/s", int(r.UpdatesPerSec()),
			"endpointslice p99", r.Queues[queueEndpointSlice].Latency.P99, "endpoints p99", r.Queues[queueEndpoints].Latency.P99)
		res.Churn = append(res.Churn, r)
	}
	if err := churn.Close(ctx); err != nil {
		return res, fail("churn clean-up", err)
	}
	return res, nil
}

// rollover measures one rollover, with the work queues from the
// Deployment's creation to the end of its rollover, and removes it.
func rollover(ctx context.Context, c *cluster, opts Options, queues *endpointslicebench.QueueLatency) (Rollover, error) {
	cfg := deploymentbench.Config{Namespace: "rollover", Replicas: int32(opts.Replicas), Timeout: opts.Timeout, Keep: true}
	queues.Take()
	got, err := deploymentbench.Rollover(ctx, c.cs, cfg)
	r := Rollover{RolledOut: got.RolledOut, RolledOver: got.RolledOver, Queues: summarize(queues.Take())}
	if err != nil {
		return r, err
	}
	return r, deploymentbench.Cleanup(ctx, c.cs, cfg)
}

// churnRound makes every pod unready, then ready, then waits opts.Settle.
func churnRound(ctx context.Context, churn *endpointslicebench.Churn, opts Options, queues *endpointslicebench.QueueLatency) (ChurnRound, error) {
	var r ChurnRound
	queues.Take()
	var err error
	if r.Unready, err = churn.Flip(ctx, false); err != nil {
		return r, err
	}
	if r.Ready, err = churn.Flip(ctx, true); err != nil {
		return r, err
	}
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(opts.Settle):
	}
	r.Queues = summarize(queues.Take())
	return r, nil
}

// idleFor is how long every controller queue must stay empty for the
// controllers to count as idle.
const idleFor = 500 * time.Millisecond

// waitIdle waits until no controller queue has had a key waiting for
// idleFor, so that a round does not measure work left by what came before
// it (the garbage collector catching up on deletions, say), and returns
// how long that took.
func waitIdle(ctx context.Context, queues *endpointslicebench.QueueLatency, timeout time.Duration) (time.Duration, error) {
	const every = 50 * time.Millisecond
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(every)
	defer t.Stop()
	var quiet time.Duration
	for {
		waiting := queues.Waiting()
		delete(waiting, queueSimnode)
		if len(waiting) > 0 {
			quiet = 0
		} else if quiet += every; quiet >= idleFor {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("controllers not idle after %v, keys waiting: %v", timeout, waiting)
		case <-t.C:
		}
	}
}
