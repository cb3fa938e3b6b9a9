// Package servertest starts a skiff server in-process for integration
// tests: on free ports, in a temporary directory, stopped when the test
// ends.
package servertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/serviceaccount"
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

// Start starts a server in a temporary directory; opt may adjust its
// configuration first. The server stops when the test ends.
func Start(tb testing.TB, opt ...func(*server.Config)) *Server {
	tb.Helper()
	cfg, err := Config(tb.TempDir(), opt...)
	if err != nil {
		tb.Fatal(err)
	}
	return StartWith(tb, cfg)
}

// Config returns the configuration of a test server in dataDir on free
// ports, adjusted by opt.
func Config(dataDir string, opt ...func(*server.Config)) (server.Config, error) {
	ports, err := testenv.FindFreePorts(3)
	if err != nil {
		return server.Config{}, err
	}
	cfg := server.Config{
		DataDir:        dataDir,
		NodeName:       "test-server",
		BindAddress:    "127.0.0.1",
		HTTPSPort:      ports[0],
		EtcdClientPort: ports[1],
		EtcdPeerPort:   ports[2],
		EtcdLogLevel:   "fatal",
		// The bare API, plus the service account controller (pods need
		// their namespace's default service account): tests that want the
		// scheduler or other controllers start them (simnode.StartCluster
		// does).
		DisableScheduler: true,
		Controllers: []controllers.Constructor{func(c *controllers.Context) (controllers.Controller, error) {
			return serviceaccount.New(c, serviceaccount.Config{})
		}},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range opt {
		o(&cfg)
	}
	return cfg, nil
}

// StartWith starts a server with exactly cfg and stops it when the test
// ends.
func StartWith(tb testing.TB, cfg server.Config) *Server {
	tb.Helper()
	s, err := Launch(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Launch starts a server with cfg and waits until it is ready; the caller
// stops it. It suits TestMain, which has no testing.TB.
func Launch(cfg server.Config) (*Server, error) {
	s, err := server.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &Server{Server: s, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Start(ctx) }()
	select {
	case <-s.Ready():
	case err := <-ts.done:
		cancel()
		return nil, fmt.Errorf("server failed to start: %w", err)
	case <-time.After(60 * time.Second):
		cancel()
		return nil, errors.New("server not ready after 60s")
	}
	ts.Config = s.AdminConfig()
	ts.Config.QPS, ts.Config.Burst = 1000, 2000
	ts.Client = kubernetes.NewForConfigOrDie(ts.Config)
	return ts, nil
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

// Main runs a package's tests against one server started for them all,
// which setup (when not nil) prepares first, stops it and exits: for
// TestMain.
func Main(m *testing.M, setup func(*Server) error) {
	os.Exit(runWithServer(m, setup))
}

func runWithServer(m *testing.M, setup func(*Server) error) int {
	dir, err := os.MkdirTemp("", "servertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cfg, err := Config(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, err := Launch(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Stop()
	if setup != nil {
		if err := setup(srv); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}
