// Package ctrltest runs workload controllers against a real test cluster
// (an in-process apiserver with etcd, the scheduler and simulated nodes
// from test/simnode) under a controller manager that a test can stop and
// start again, and offers the waits such tests need.
package ctrltest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/test/simnode"
)

// Env is a test cluster and a controller manager running ctors.
type Env struct {
	*simnode.Cluster
	tb     testing.TB
	ctors  []controllers.Constructor
	client kubernetes.Interface
	cancel context.CancelFunc
	done   chan error
}

// Start starts a cluster with nodes simulated nodes (of cfg, whose Count
// it sets) and a controller manager running ctors; both stop when the
// test ends. SKIFF_TEST_LOG=1 shows the components' logs.
func Start(tb testing.TB, nodes simnode.Config, ctors ...controllers.Constructor) *Env {
	tb.Helper()
	var log *slog.Logger
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// The server's own controller manager stays off: the test runs its
	// own, which it can restart.
	c := simnode.StartCluster(tb, simnode.ClusterConfig{Nodes: nodes, Logger: log,
		ServerOptions: []func(*server.Config){func(c *server.Config) { c.DisableControllers = true }}})
	cfg := rest.CopyConfig(c.Server.Config)
	cfg.QPS, cfg.Burst = -1, 0
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e := &Env{Cluster: c, tb: tb, ctors: ctors, client: client}
	e.StartManager()
	tb.Cleanup(e.StopManager)
	return e
}

// StartManager starts the controller manager: new informers, new
// controllers, nothing remembered from a previous run.
func (e *Env) StartManager() {
	if e.cancel != nil {
		return
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m := controllers.NewManager(controllers.ManagerConfig{Client: e.client, Controllers: e.ctors, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- m.Start(ctx) }()
}

// StopManager stops the controller manager and waits until its
// controllers have returned.
func (e *Env) StopManager() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			e.tb.Errorf("controller manager: %v", err)
		}
	case <-time.After(30 * time.Second):
		e.tb.Errorf("controller manager did not stop in 30s")
	}
}

// RestartManager stops the controller manager and starts a new one.
func (e *Env) RestartManager() {
	e.StopManager()
	e.StartManager()
}

// Namespace creates a namespace for the test, with the default service
// account pods need (the server's own controllers, which would make it,
// are off), and returns its name.
func (e *Env) Namespace(name string) string {
	e.tb.Helper()
	ctx := e.tb.Context()
	_, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		e.tb.Fatal(err)
	}
	_, err = e.Client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		e.tb.Fatal(err)
	}
	return name
}

// Pods lists the pods of ns that match sel, those being deleted included.
func (e *Env) Pods(ns string, sel labels.Selector) ([]corev1.Pod, error) {
	list, err := e.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// CountPods counts the pods of ns matching sel: all of them, the active
// ones (not terminal, not being deleted), and the active ready ones.
func (e *Env) CountPods(ns string, sel labels.Selector) (all, active, ready int, err error) {
	pods, err := e.Pods(ns, sel)
	if err != nil {
		return 0, 0, 0, err
	}
	for i := range pods {
		p := &pods[i]
		if controllerutil.IsPodActive(p) {
			active++
			if controllerutil.IsPodReady(p) {
				ready++
			}
		}
	}
	return len(pods), active, ready, nil
}

// Eventually polls cond until it returns true, failing the test with what
// was last reported after timeout. cond returns a description of what it
// saw, shown on failure.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string, error)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, seen, err := cond()
		if err != nil {
			last = err.Error()
		} else {
			last = seen
		}
		if ok && err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not after %v; last seen: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Never checks cond for d and fails the test if it ever returns true.
func Never(tb testing.TB, d time.Duration, what string, cond func() (bool, string, error)) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		bad, seen, err := cond()
		if err == nil && bad {
			tb.Fatalf("%s: %s", what, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sampler checks an invariant in the background until stopped.
type Sampler struct {
	stop    chan struct{}
	done    chan struct{}
	samples int
	fails   []string
}

// Sample calls check every interval until Stop; check returns a
// description of a violation, or "".
func Sample(interval time.Duration, check func() string) *Sampler {
	s := &Sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if v := check(); v != "" {
				s.fails = append(s.fails, v)
			}
			s.samples++
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop stops sampling and returns how many samples were taken and the
// violations seen.
func (s *Sampler) Stop() (samples int, violations []string) {
	close(s.stop)
	<-s.done
	return s.samples, s.fails
}

// Describe formats a short summary of pods for failure messages.
func Describe(pods []corev1.Pod) string {
	out := ""
	for i := range pods {
		p := &pods[i]
		state := string(p.Status.Phase)
		if controllerutil.IsPodReady(p) {
			state += ",ready"
		}
		if p.DeletionTimestamp != nil {
			state += ",deleting"
		}
		out += fmt.Sprintf("%s(%s,%s) ", p.Name, p.Spec.NodeName, state)
	}
	return out
}
