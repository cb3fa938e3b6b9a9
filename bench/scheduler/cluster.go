package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"

	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
	"skiff.dev/skiff/test/simnode"
)

// benchNamespace holds the benchmark's pods.
const benchNamespace = "bench"

// cluster is a skiff server in this process (etcd embedded, no scheduler
// of its own, the service account controller that pod admission needs)
// with simulated nodes registered.
type cluster struct {
	srv   *servertest.Server
	cs    kubernetes.Interface // unthrottled, for the benchmark's own calls
	nodes *simnode.Nodes
	opts  Options
	log   *slog.Logger
}

// startCluster starts the server with its data in dir and creates the
// benchmark's namespace.
func startCluster(ctx context.Context, dir string, opts Options, log *slog.Logger) (*cluster, error) {
	cfg, err := servertest.Config(dir, func(c *server.Config) {
		c.Logger = log.With("component", "server")
	})
	if err != nil {
		return nil, err
	}
	srv, err := servertest.Launch(cfg)
	if err != nil {
		return nil, err
	}
	c := &cluster{srv: srv, opts: opts, log: log}
	if c.cs, err = c.client(protobuf, -1, 0, nil); err != nil {
		c.stop()
		return nil, err
	}
	if err := c.createNamespace(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// protobuf is the wire format of the benchmark's own calls: the cheapest
// for the server.
const protobuf = "application/vnd.kubernetes.protobuf"

// client is an admin clientset speaking contentType with the given
// client-side rate limit (qps < 0: none); wrap, if set, wraps its
// transport.
func (c *cluster) client(contentType string, qps float32, burst int, wrap transport.WrapperFunc) (kubernetes.Interface, error) {
	rc := rest.CopyConfig(c.srv.Config)
	rc.QPS, rc.Burst = qps, burst
	rc.ContentType = contentType
	if wrap != nil {
		rc.Wrap(wrap)
	}
	rc.UserAgent = "skiff-bench"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cs, nil
}

// createNamespace creates the benchmark's namespace and waits for its
// default service account, which pods need.
func (c *cluster) createNamespace(ctx context.Context) error {
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := c.cs.CoreV1().ServiceAccounts(benchNamespace).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("default service account: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("default service account of %s: %w", benchNamespace, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// growTo registers simulated nodes until there are count.
func (c *cluster) growTo(ctx context.Context, count int) error {
	cfg := simnode.Config{
		Prefix: nodePrefix, CPU: nodeCPU, Memory: nodeMemory, Pods: nodePods,
		LeaseInterval: c.opts.LeaseInterval, StatusInterval: c.opts.StatusInterval,
		Workers: 32, Logger: c.log.With("component", "simnode"),
	}
	if c.nodes == nil {
		cfg.Count = count
		nodes, err := simnode.Start(ctx, c.cs, cfg)
		if err != nil {
			return fmt.Errorf("register %d nodes: %w", count, err)
		}
		c.nodes = nodes
		return nil
	}
	have := len(c.nodes.Names())
	if count <= have {
		return nil
	}
	if _, err := c.nodes.Add(ctx, count-have); err != nil {
		return fmt.Errorf("register %d more nodes: %w", count-have, err)
	}
	return nil
}

// stopNodes ends the nodes' heartbeats and agent: they stay registered,
// static, as scheduler_perf's nodes are.
func (c *cluster) stopNodes() {
	if c.nodes != nil {
		c.nodes.Stop()
	}
}

func (c *cluster) stop() {
	c.stopNodes()
	c.srv.Stop()
}

// deletePods removes every pod of the benchmark's namespace at once (no
// grace period) and waits until they are gone.
func (c *cluster) deletePods(ctx context.Context) error {
	zero := int64(0)
	err := c.cs.CoreV1().Pods(benchNamespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("delete pods: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		l, err := c.cs.CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return fmt.Errorf("list pods: %w", err)
		}
		if len(l.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("pods not gone 2 minutes after their deletion")
		case <-time.After(200 * time.Millisecond):
		}
	}
}
