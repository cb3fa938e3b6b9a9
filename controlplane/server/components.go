package server

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/scheduler"
	"skiff.dev/skiff/controlplane/scheduler/pipeline"
)

// ControllerConstructors lists every controller the controller manager
// runs, in start order.
func ControllerConstructors(cfg Config) []controllers.Constructor {
	return nil
}

// SchedulerConfig is the scheduler's configuration inside a server (or in
// `skiff scheduler`): leader-elected, with the usage weight of cfg.
func SchedulerConfig(cs kubernetes.Interface, cfg Config) scheduler.Config {
	sc := scheduler.Config{Client: cs, Logger: cfg.Logger.With("component", "scheduler"),
		LeaderElection: scheduler.LeaderElection{Enabled: true}}
	if cfg.ObservedUsageWeight != 0 {
		sc.Weights = pipeline.DefaultWeights()
		sc.Weights.ObservedUsage = cfg.ObservedUsageWeight
	}
	return sc
}

// startComponents runs the scheduler and the controller manager over a
// loopback client, each under its own leader election.
func (s *Server) startComponents(ctx context.Context, g *errgroup.Group) error {
	if s.cfg.DisableScheduler && s.cfg.DisableControllers {
		return nil
	}
	rc := s.AdminConfig()
	rc.QPS, rc.Burst = 500, 1000
	rc.UserAgent = "skiff-server"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("loopback client: %w", err)
	}
	if !s.cfg.DisableScheduler {
		sc := SchedulerConfig(cs, s.cfg)
		sc.Usage = s.usage // in-process: no API call per node
		sched, err := scheduler.New(sc)
		if err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
		g.Go(func() error { return sched.Start(ctx) })
	}
	if !s.cfg.DisableControllers {
		list := s.cfg.Controllers
		if list == nil {
			list = ControllerConstructors(s.cfg)
		}
		m := controllers.NewManager(controllers.ManagerConfig{
			Client: cs, Controllers: list, LeaderElection: true,
			Logger: s.cfg.Logger.With("component", "controller-manager"),
		})
		g.Go(func() error { return m.Start(ctx) })
	}
	return nil
}
