package ctrltest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/controlplane/controllers"
)

// Manager is a controller manager running the controllers under test,
// without leader election; the test may stop it and start it again.
type Manager struct {
	tb     testing.TB
	cfg    controllers.ManagerConfig
	cancel context.CancelFunc
	done   chan error
}

// StartManager starts a controller manager running ctors against the API
// server that cfg reaches, with clients of its own that no client-side
// rate limit slows; it stops when the test ends. SKIFF_TEST_LOG=1 shows
// its logs.
func StartManager(tb testing.TB, cfg *rest.Config, ctors ...controllers.Constructor) *Manager {
	tb.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	m := &Manager{tb: tb, cfg: controllers.ManagerConfig{Client: client, Metadata: md, Controllers: ctors, Logger: testLogger()}}
	m.Start()
	tb.Cleanup(m.Stop)
	return m
}

// testLogger discards, unless SKIFF_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Start starts the manager, if stopped: new informers, new controllers,
// nothing remembered from a previous run.
func (m *Manager) Start() {
	if m.cancel != nil {
		return
	}
	mgr := controllers.NewManager(m.cfg)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	go func() { m.done <- mgr.Start(ctx) }()
}

// Stop stops the manager, if running, and waits until its controllers
// have returned.
func (m *Manager) Stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	select {
	case err := <-m.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			m.tb.Errorf("controller manager: %v", err)
		}
	case <-time.After(30 * time.Second):
		m.tb.Errorf("controller manager did not stop in 30s")
	}
}

// Restart stops the manager and starts it again.
func (m *Manager) Restart() {
	m.Stop()
	m.Start()
}
