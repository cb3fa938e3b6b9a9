package api

import (
	"context"
	"fmt"
	"net"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// target is the server under test.
type target struct {
	// cfg is an admin client configuration.
	cfg *rest.Config
	// etcdEndpoint is the embedded member's client port on localhost.
	etcdEndpoint string
	// pid is the server's process, whose memory and CPU are reported.
	pid int
	// describe says how the server runs, for the report.
	describe string
}

// clients are the load generator's connections to the target.
type clients struct {
	// shared is one clientset: every simulated client multiplexes its
	// requests over one HTTP/2 connection, as the clients of one process
	// usually do.
	shared kubernetes.Interface
	// own gives every simulated client its own transport and so its own
	// TLS connection, as separate processes would have.
	own []kubernetes.Interface
	// etcd is a real etcd client over a localhost gRPC connection to the
	// member's client port.
	etcd *clientv3.Client
}

// clientConfig is cfg set up for load generation: no client-side rate
// limit, the given wire format.
func clientConfig(cfg *rest.Config, contentType string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	c.ContentType = contentType
	c.UserAgent = "skiff-bench"
	return c
}

func dialClients(ctx context.Context, t target, contentType string, own int) (*clients, error) {
	cfg := clientConfig(t.cfg, contentType)
	shared, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	c := &clients{shared: shared}
	for range own {
		oc := rest.CopyConfig(cfg)
		// A dialer of its own makes client-go build (not reuse from its
		// cache) a transport for this client.
		oc.Dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		cs, err := kubernetes.NewForConfig(oc)
		if err != nil {
			return nil, fmt.Errorf("API client: %w", err)
		}
		c.own = append(c.own, cs)
	}
	c.etcd, err = clientv3.New(clientv3.Config{
		Endpoints:   []string{t.etcdEndpoint},
		DialTimeout: 10 * time.Second,
		Context:     ctx,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", t.etcdEndpoint, err)
	}
	return c, nil
}

func (c *clients) close() { _ = c.etcd.Close() }

// pick returns the clientset simulated client worker uses.
func (c *clients) pick(perClient bool) func(worker int) kubernetes.Interface {
	if perClient {
		return func(worker int) kubernetes.Interface { return c.own[worker] }
	}
	return func(int) kubernetes.Interface { return c.shared }
}
