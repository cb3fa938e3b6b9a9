// Package api benchmarks skiff's Kubernetes API: creates, updates, gets and
// lists per second with their latencies at several client counts over TLS,
// beside raw etcd puts of the same size measured in the same run; watch
// fan-out; latency of writes at a fixed rate; and the server's memory idle
// and under load. It runs the server as a child process built from this
// tree, so that the memory it reports is the server's alone.
package api

import (
	"context"
	"flag"
	"fmt"

	"skiff.dev/skiff/bench"
	"skiff.dev/skiff/bench/report"
)

// Suite is the API benchmark suite.
type Suite struct {
	opts  Options
	skiff string
}

// NewSuite returns the suite with the default options.
func NewSuite() *Suite { return &Suite{opts: DefaultOptions()} }

// Name implements bench.Suite.
func (s *Suite) Name() string { return "api" }

// Title implements bench.Suite.
func (s *Suite) Title() string { return "API server" }

// RegisterFlags implements bench.Suite.
func (s *Suite) RegisterFlags(fs *flag.FlagSet) {
	o := &s.opts
	fs.IntVar(&o.Rounds, "api.rounds", o.Rounds, "rounds of every API measurement")
	fs.Var((*bench.IntList)(&o.Clients), "api.clients", "comma-separated numbers of concurrent API clients")
	fs.DurationVar(&o.Warmup, "api.warmup", o.Warmup, "unmeasured start of each closed-loop phase")
	fs.DurationVar(&o.Duration, "api.duration", o.Duration, "measured length of each closed-loop phase")
	fs.BoolVar(&o.PerClient, "api.per-client", o.PerClient, "also measure creates and gets with a connection per client")
	fs.IntVar(&o.ObjectSize, "api.object-size", o.ObjectSize, "size in bytes of a benchmark object as stored in etcd")
	fs.IntVar(&o.ListSize, "api.list-size", o.ListSize, "objects returned by each list")
	fs.IntVar(&o.Watchers, "api.watchers", o.Watchers, "watches in the fan-out measurement")
	fs.IntVar(&o.WatchObjects, "api.watch-objects", o.WatchObjects, "objects created in the fan-out measurement")
	fs.IntVar(&o.Rate, "api.rate", o.Rate, "writes/s of the open-loop latency measurement")
	fs.DurationVar(&o.RateDuration, "api.rate-duration", o.RateDuration, "measured length of each open-loop phase")
	fs.DurationVar(&o.IdleSettle, "api.idle-settle", o.IdleSettle, "idle time before each idle memory reading")
	fs.StringVar(&o.ContentType, "api.content-type", o.ContentType, "wire format of the API clients (application/json or application/vnd.kubernetes.protobuf)")
	fs.StringVar(&s.skiff, "api.skiff", "", "skiff binary to benchmark (default: build ./cmd/skiff)")
}

// Run implements bench.Suite.
func (s *Suite) Run(ctx context.Context, env bench.Env) ([]report.Section, error) {
	if err := s.opts.validate(); err != nil {
		return nil, err
	}
	bin := s.skiff
	if bin == "" {
		var err error
		if bin, err = env.Skiff(ctx); err != nil {
			return nil, err
		}
	}
	p, err := startServer(ctx, bin, env.WorkDir)
	if err != nil {
		return nil, err
	}
	env.Logger.Info("api: server started", "pid", p.target.pid, "log", p.logPath)
	res, err := measure(ctx, p.target, s.opts, env.Logger, p.running)
	if serr := p.stop(); serr != nil {
		env.Logger.Warn("api: server stop", "err", serr)
		res.Findings = append(res.Findings, "Stopping the server: "+serr.Error()+".")
	}
	return sections(res), err
}

func (o Options) validate() error {
	switch {
	case o.Rounds < 1:
		return fmt.Errorf("api: -api.rounds must be at least 1")
	case len(o.Clients) == 0:
		return fmt.Errorf("api: -api.clients is empty")
	case o.Duration <= 0 || o.RateDuration <= 0:
		return fmt.Errorf("api: durations must be positive")
	case o.Rate < 1 || o.Watchers < 1 || o.WatchObjects < 1 || o.ListSize < 1 || o.ObjectSize < 1:
		return fmt.Errorf("api: rate, watchers, watch objects, list and object sizes must be positive")
	case o.maxClients() > 999:
		return fmt.Errorf("api: at most 999 clients")
	}
	return nil
}
