package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"

	"skiff.dev/skiff/bench/stats"
	"skiff.dev/skiff/controlplane/controllers/endpointslice/endpointslicebench"
	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
	"skiff.dev/skiff/test/simnode"
)

// Work queues the report names first, as the controllers call them.
const (
	queueDeployment    = "deployment-controller"
	queueReplicaSet    = "replicaset-controller"
	queueEndpoints     = "endpoints"
	queueEndpointSlice = "endpointslice"
	// queueSimnode is the simulated nodes' agent, not a controller.
	queueSimnode = "simnode"
	// queueProbe checks that the recorder sees the queues made after it.
	queueProbe = "skiff-bench-controllers-probe"
)

// observeQueues makes a recorder client-go's metrics provider for every
// work queue created afterwards in this process, as kube-controller-
// manager's Prometheus provider is, so that the server's controllers are
// measured as the server builds them. client-go takes the first provider
// set in a process only: a second call fails.
func observeQueues() (*endpointslicebench.QueueLatency, error) {
	rec := endpointslicebench.NewQueueLatency()
	workqueue.SetProvider(rec)
	probe := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: queueProbe})
	probe.ShutDown()
	if !rec.Seen(queueProbe) {
		return nil, errors.New("controllers: client-go's work-queue metrics provider was already set in this process; the controllers' queues cannot be observed (run the suite once per process)")
	}
	return rec, nil
}

// summarize turns a round's samples into summaries, leaving out the
// queues that did no work, the probe and the simulated nodes' agent.
func summarize(samples map[string]endpointslicebench.QueueSamples) map[string]Queue {
	out := map[string]Queue{}
	for name, s := range samples {
		if len(s.Latency) == 0 || name == queueProbe || name == queueSimnode {
			continue
		}
		out[name] = Queue{Latency: stats.Summarize(s.Latency), Work: stats.Summarize(s.Work)}
	}
	return out
}

// queueOrder sorts queue names: the four the benchmarks are about first,
// then the others by name.
func queueOrder(names []string) []string {
	first := []string{queueEndpoints, queueEndpointSlice, queueReplicaSet, queueDeployment}
	rank := func(n string) int {
		if i := slices.Index(first, n); i >= 0 {
			return i
		}
		return len(first)
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return names
}

// cluster is a skiff server in this process, running its scheduler and
// every controller as `skiff server` does, with simulated nodes.
type cluster struct {
	srv   *servertest.Server
	cs    kubernetes.Interface
	nodes *simnode.Nodes
}

// startCluster starts the server with its data in dir and registers nodes
// simulated nodes.
func startCluster(ctx context.Context, dir string, nodes int, log *slog.Logger) (*cluster, error) {
	cfg, err := servertest.Config(dir, func(c *server.Config) {
		// Warnings only: a sync retried is counted in the report, and
		// logging each would load the machine being measured.
		c.Logger = slog.New(atLeast{Handler: log.Handler(), level: slog.LevelWarn}).With("component", "server")
		// servertest runs the bare API; run what `skiff server` runs.
		c.DisableScheduler = false
		c.Controllers = nil
	})
	if err != nil {
		return nil, err
	}
	srv, err := servertest.Launch(cfg)
	if err != nil {
		return nil, err
	}
	c := &cluster{srv: srv}
	if c.cs, err = unthrottled(srv.Config); err != nil {
		c.stop()
		return nil, err
	}
	nodeClient, err := unthrottled(srv.Config)
	if err != nil {
		c.stop()
		return nil, err
	}
	c.nodes, err = simnode.Start(ctx, nodeClient, simnode.Config{Count: nodes, Pods: fmt.Sprint(podsPerNode), Workers: 32,
		Logger: slog.New(atLeast{Handler: log.Handler(), level: slog.LevelWarn}).With("component", "simnode")})
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("register %d nodes: %w", nodes, err)
	}
	return c, nil
}

// unthrottled is an admin clientset of its own with no client-side rate
// limit, for the benchmark's calls and for the simulated nodes.
func unthrottled(c *rest.Config) (kubernetes.Interface, error) {
	c = rest.CopyConfig(c)
	c.QPS, c.Burst = -1, 0
	c.UserAgent = "skiff-bench"
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cs, nil
}

func (c *cluster) stop() {
	if c.nodes != nil {
		c.nodes.Stop()
	}
	c.srv.Stop()
}

// atLeast passes on the records of level and above only.
type atLeast struct {
	slog.Handler
	level slog.Level
}

func (h atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h atLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return atLeast{Handler: h.Handler.WithAttrs(attrs), level: h.level}
}

func (h atLeast) WithGroup(name string) slog.Handler {
	return atLeast{Handler: h.Handler.WithGroup(name), level: h.level}
}
