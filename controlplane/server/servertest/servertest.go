// Package servertest starts a skiff server in-process for integration
// tests: on free ports, in a temporary directory, stopped when the test
// ends.
package servertest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/internal/testenv"
)

// Server is a running test server.
type Server struct {
	*server.Server
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Config is the admin client configuration.
	Config *rest.Config
	cancel context.CancelFunc
	done   chan error
}

// Start starts a server; opt may adjust its configuration first.
func Start(tb testing.TB, opt ...func(*server.Config)) *Server {
	tb.Helper()
	ports := testenv.FreePorts(tb, 3)
	cfg := server.Config{
		DataDir:        tb.TempDir(),
		NodeName:       "test-server",
		BindAddress:    "127.0.0.1",
		HTTPSPort:      ports[0],
		EtcdClientPort: ports[1],
		EtcdPeerPort:   ports[2],
		EtcdLogLevel:   "error",
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range opt {
		o(&cfg)
	}
	return StartWith(tb, cfg)
}

// StartWith starts a server with exactly cfg.
func StartWith(tb testing.TB, cfg server.Config) *Server {
	tb.Helper()
	s, err := server.New(cfg)
	if err != nil {
		tb.Fatalf("server config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &Server{Server: s, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Start(ctx) }()
	select {
	case <-s.Ready():
	case err := <-ts.done:
		cancel()
		tb.Fatalf("server failed to start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		tb.Fatal("server not ready after 60s")
	}
	tb.Cleanup(ts.Stop)
	ts.Config = s.AdminConfig()
	ts.Config.QPS, ts.Config.Burst = 1000, 2000
	ts.Client = kubernetes.NewForConfigOrDie(ts.Config)
	return ts
}

// Stop stops the server and waits for it to finish; it may be called more
// than once.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
	}
}
