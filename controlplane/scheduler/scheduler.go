// Package scheduler is skiff's pod scheduler: the loop around the pure
// pipeline (package pipeline). Informers feed a cache (package snapshot)
// updated incrementally; pending pods wait in a queue (package queue); each
// pod is placed by the pipeline, assumed into the cache at once, and bound
// through pods/binding in the background. A pod that fits nowhere gets a
// FailedScheduling event and a PodScheduled=False condition saying why,
// node by node, may preempt lower-priority pods, and is retried when the
// cluster changes in a way that may help it. Several servers can run it:
// a Lease elects the one that schedules. README.md draws the pipeline.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"skiff.dev/skiff/controlplane/scheduler/pipeline"
)

// DefaultName is the scheduler name pods get when they name none.
const DefaultName = "default-scheduler"

// UsageSource gives nodes' observed CPU and memory use, as the
// resource-metrics API serves it from what the agents report. ok is false
// when there are no figures for the node; scoring then falls back to
// requests.
type UsageSource interface {
	NodeUsage(node string) (cpuMilli, memBytes int64, ok bool)
}

// LeaderElection configures the Lease that lets one of several schedulers
// with the same name work at a time.
type LeaderElection struct {
	Enabled bool
	// Identity names this instance in the Lease (default: hostname and a
	// random suffix).
	Identity string
	// Namespace holds the Lease, which is named after the scheduler
	// (default kube-system).
	Namespace string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// (default 15s, 10s, 2s).
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// Config configures a Scheduler. Zero fields take the defaults.
type Config struct {
	// Client talks to the apiserver. Required.
	Client kubernetes.Interface
	// Logger receives the scheduler's logs (default: discard).
	Logger *slog.Logger
	// Name is the schedulerName of the pods this scheduler places (default
	// "default-scheduler", which also takes pods that name none).
	Name string
	// Weights of the scorers; the zero value means pipeline.DefaultWeights.
	// Weights.ObservedUsage is how much real node usage counts.
	Weights pipeline.Weights
	// Parallelism bounds the goroutines that filter and score one pod
	// (default GOMAXPROCS).
	Parallelism int
	// PercentageOfNodesToScore: see pipeline.Config (default adaptive).
	PercentageOfNodesToScore int32
	// InitialBackoff and MaxBackoff bound the retry backoff of a pod
	// (default 1s and 10s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// DisablePreemption turns off evicting lower-priority pods.
	DisablePreemption bool
	// Usage supplies observed node usage; nil means none (requests only).
	Usage UsageSource
	// UsageInterval is how often usage figures are read (default 10s).
	UsageInterval time.Duration
	// LeaderElection, when enabled, makes Start schedule only while this
	// instance holds the Lease.
	LeaderElection LeaderElection
	// APIConcurrency bounds the binds, status patches and evictions in
	// flight (default 256). Binds wait for an etcd commit: at 100-300 ms
	// each under load, 64 in flight held a busy cluster to a few hundred
	// pods/s.
	APIConcurrency int
}

// Scheduler places pending pods on nodes. Start runs it.
type Scheduler struct {
	cfg      Config
	log      *slog.Logger
	pipeline *pipeline.Pipeline
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Client == nil {
		return nil, errors.New("scheduler: no API client")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Weights == (pipeline.Weights{}) {
		cfg.Weights = pipeline.DefaultWeights()
	}
	if cfg.UsageInterval <= 0 {
		cfg.UsageInterval = 10 * time.Second
	}
	if cfg.APIConcurrency <= 0 {
		cfg.APIConcurrency = 256
	}
	le := &cfg.LeaderElection
	if le.Namespace == "" {
		le.Namespace = "kube-system"
	}
	if le.Identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("scheduler: leader election identity: %w", err)
		}
		le.Identity = host + "_" + string(uuid.NewUUID())
	}
	if le.LeaseDuration <= 0 {
		le.LeaseDuration = 15 * time.Second
	}
	if le.RenewDeadline <= 0 {
		le.RenewDeadline = 10 * time.Second
	}
	if le.RetryPeriod <= 0 {
		le.RetryPeriod = 2 * time.Second
	}
	return &Scheduler{
		cfg: cfg,
		log: cfg.Logger.With("component", "scheduler", "name", cfg.Name),
		pipeline: pipeline.New(pipeline.Config{
			Weights:                  cfg.Weights,
			Parallelism:              cfg.Parallelism,
			PercentageOfNodesToScore: cfg.PercentageOfNodesToScore,
		}),
	}, nil
}

// Start schedules pods until ctx is done. With leader election it first
// campaigns for the Lease, schedules while it holds it, and campaigns again
// if it loses it; every term starts from fresh informers and an empty
// queue. It returns nil when ctx ends, or the error that stopped a term.
func (s *Scheduler) Start(ctx context.Context) error {
	if !s.cfg.LeaderElection.Enabled {
		return s.term(ctx)
	}
	for ctx.Err() == nil {
		if err := s.campaign(ctx); err != nil {
			return err
		}
	}
	return nil
}

// campaign waits for the Lease, schedules while holding it, and returns
// once it is lost (or ctx is done), after the term has wound down.
func (s *Scheduler) campaign(ctx context.Context) error {
	le := s.cfg.LeaderElection
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	leading := make(chan context.Context)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: s.cfg.Name},
			Client:     s.cfg.Client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
		},
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            s.cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			// The term runs on this goroutine, not on client-go's, so that
			// it is over before another one can start.
			OnStartedLeading: func(lctx context.Context) {
				select {
				case leading <- lctx:
				case <-ctx.Done():
				}
			},
			OnStoppedLeading: func() { s.log.Info("not leading", "identity", le.Identity) },
		},
	})
	if err != nil {
		return fmt.Errorf("scheduler: leader election: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		elector.Run(ctx)
	}()
	select {
	case lctx := <-leading:
		s.log.Info("leading", "identity", le.Identity)
		err := s.term(lctx)
		cancel() // a failed term gives the Lease up
		<-done
		return err
	case <-done:
		return nil
	}
}
