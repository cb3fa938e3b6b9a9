package simnode

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/scheduler"
	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
)

// ClusterConfig configures a whole test cluster in one process.
type ClusterConfig struct {
	// Nodes are the simulated nodes (Count 0 starts none).
	Nodes Config
	// NoScheduler leaves pods unscheduled: no scheduler runs.
	NoScheduler bool
	// Controllers, when set, run under a controllers.Manager (no leader
	// election) against the cluster.
	Controllers []controllers.Constructor
	// ServerOptions adjust the apiserver's configuration.
	ServerOptions []func(*server.Config)
	// Logger receives the scheduler's, controllers' and nodes' logs
	// (default: discard).
	Logger *slog.Logger
}

// Cluster is a running test cluster: an apiserver, a scheduler, simulated
// nodes and, when asked, controllers.
type Cluster struct {
	Server *servertest.Server
	// Client is an admin clientset (the server's).
	Client kubernetes.Interface
	Nodes  *Nodes
}

// StartCluster starts an apiserver (servertest), a scheduler without
// leader election, cfg.Controllers and the simulated nodes, and stops them
// all when the test ends.
func StartCluster(tb testing.TB, cfg ClusterConfig) *Cluster {
	tb.Helper()
	srv := servertest.Start(tb, cfg.ServerOptions...)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var running []chan error
	tb.Cleanup(func() {
		cancel()
		for _, done := range running {
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					tb.Errorf("cluster component: %v", err)
				}
			case <-time.After(30 * time.Second):
				tb.Errorf("cluster component did not stop in 30s")
			}
		}
	})
	run := func(start func(context.Context) error) {
		done := make(chan error, 1)
		running = append(running, done)
		go func() { done <- start(ctx) }()
	}
	if !cfg.NoScheduler {
		s, err := scheduler.New(scheduler.Config{Client: ownClient(tb, srv.Config), Logger: log})
		if err != nil {
			tb.Fatal(err)
		}
		run(s.Start)
	}
	if len(cfg.Controllers) > 0 {
		m := controllers.NewManager(controllers.ManagerConfig{Client: ownClient(tb, srv.Config), Metadata: metadata.NewForConfigOrDie(srv.Config),
			Controllers: cfg.Controllers, Logger: log})
		run(m.Start)
	}
	nc := cfg.Nodes
	if nc.Logger == nil {
		nc.Logger = log
	}
	nodes, err := Start(ctx, ownClient(tb, srv.Config), nc)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nodes.Stop)
	return &Cluster{Server: srv, Client: srv.Client, Nodes: nodes}
}

// ownClient is a clientset of its own with no client-side rate limit, so
// that heartbeats, the scheduler and the test do not queue behind each
// other.
func ownClient(tb testing.TB, c *rest.Config) kubernetes.Interface {
	c = rest.CopyConfig(c)
	c.QPS, c.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		tb.Fatal(err)
	}
	return cs
}
