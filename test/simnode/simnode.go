// Package simnode simulates nodes for integration tests and benchmarks:
// Node objects with a kubelet's status, Lease heartbeats in
// kube-node-lease, and a mini agent that runs the pods bound to them
// (Pending -> Running and Ready, graceful deletions finished, containers
// that exit on demand). Nothing runs: the nodes exist only in the API, so
// thousands of them fit in one test process. StartCluster adds an
// in-process apiserver and scheduler around them.
package simnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Config of simulated nodes. Zero fields take the defaults.
type Config struct {
	// Count nodes named <Prefix>-0 .. <Prefix>-<Count-1> (default prefix
	// "sim").
	Count  int
	Prefix string
	// CPU, Memory and Pods are each node's capacity and allocatable
	// (default "4", "32Gi", "110").
	CPU, Memory, Pods string
	// Labels are added to every node, which also gets
	// kubernetes.io/hostname, kubernetes.io/os, kubernetes.io/arch and
	// topology.kubernetes.io/zone (zone-<i%3>).
	Labels map[string]string
	// Taints every node registers with.
	Taints []corev1.Taint
	// LeaseInterval paces the heartbeat: the node's Lease in
	// kube-node-lease is renewed and its Ready condition refreshed this
	// often (default 10s). Renewals are spread over the interval.
	LeaseInterval time.Duration
	// StatusInterval, when set, refreshes the Ready condition at its own,
	// usually longer, pace (a kubelet's nodeStatusReportFrequency), which
	// halves the heartbeat writes of a large simulated cluster.
	StatusInterval time.Duration
	// StartupDelay is how long a bound pod waits before it turns Running
	// and Ready (default 0).
	StartupDelay time.Duration
	// TerminationDelay is how long a pod being deleted takes to stop, at
	// most its grace period (default 0: at once).
	TerminationDelay time.Duration
	// Workers bound the API calls in flight for heartbeats and for pods
	// each (default 16).
	Workers int
	// Logger receives errors the simulation cannot return (default:
	// discard).
	Logger *slog.Logger
}

// Addresses, versions and defaults the simulated nodes report.
const (
	KubeletVersion   = "v1.37.2-skiff"
	RuntimeVersion   = "sim://1.0.0"
	leaseDurationSec = 40
)

func (c Config) withDefaults() (Config, error) {
	if c.Count < 0 {
		return c, fmt.Errorf("simnode: negative node count %d", c.Count)
	}
	if c.Prefix == "" {
		c.Prefix = "sim"
	}
	if c.CPU == "" {
		c.CPU = "4"
	}
	if c.Memory == "" {
		c.Memory = "32Gi"
	}
	if c.Pods == "" {
		c.Pods = "110"
	}
	for _, q := range []string{c.CPU, c.Memory, c.Pods} {
		if _, err := resource.ParseQuantity(q); err != nil {
			return c, fmt.Errorf("simnode: capacity %q: %w", q, err)
		}
	}
	if c.LeaseInterval <= 0 {
		c.LeaseInterval = 10 * time.Second
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = c.LeaseInterval
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Nodes is a running set of simulated nodes.
type Nodes struct {
	cs     kubernetes.Interface
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	hb     *heartbeater
	agent  *agent

	mu    sync.Mutex
	nodes map[string]*simNode
	next  int // index of the next node added
}

// simNode is one simulated node's state.
type simNode struct {
	name  string
	index int
	uid   string
	// dead is set by StopHeartbeat: no heartbeat, no pod handled.
	dead bool
	// heartbeat schedule, owned by the heartbeater.
	leaseDue, statusDue time.Time
	busy                bool
}

// ErrUnknownNode is returned for a node these Nodes do not simulate.
var ErrUnknownNode = errors.New("simnode: unknown node")

// Start registers cfg.Count nodes with their Leases, starts their
// heartbeats and the agent that runs their pods, and returns once the
// nodes exist. Stop (or ctx) ends the simulation; the objects stay.
func Start(ctx context.Context, cs kubernetes.Interface, cfg Config) (*Nodes, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n := &Nodes{cs: cs, cfg: cfg, log: cfg.Logger.With("component", "simnode"), cancel: cancel, nodes: map[string]*simNode{}}
	n.hb = newHeartbeater(n)
	n.agent = newAgent(n)
	if err := n.agent.sync(ctx, runCtx); err != nil {
		cancel()
		return nil, err
	}
	if _, err := n.Add(ctx, cfg.Count); err != nil {
		n.Stop()
		return nil, err
	}
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.hb.run(runCtx) }()
	go func() { defer n.wg.Done(); n.agent.run(runCtx) }()
	go func() {
		select {
		case <-ctx.Done():
			n.Stop()
		case <-runCtx.Done():
		}
	}()
	return n, nil
}

// Names returns the simulated nodes' names in the order they were added.
func (n *Nodes) Names() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	all := make([]*simNode, 0, len(n.nodes))
	for _, s := range n.nodes {
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b *simNode) int { return a.index - b.index })
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.name
	}
	return names
}

// PodCIDR returns the podCIDR the agent sees on node, from which it gives
// the node's pods their addresses: "" while the node has none or the
// agent's cache has not seen it yet.
func (n *Nodes) PodCIDR(node string) string {
	obj, err := n.agent.nodes.Get(node)
	if err != nil {
		return ""
	}
	return obj.Spec.PodCIDR
}

// StopHeartbeat makes the node die: it stops renewing its Lease and
// refreshing its status, and stops handling its pods, which stay as they
// are.
func (n *Nodes) StopHeartbeat(node string) {
	n.setDead(node, true)
}

// ResumeHeartbeat brings a node stopped by StopHeartbeat back: it renews
// its Lease, reports Ready again and handles its pods.
func (n *Nodes) ResumeHeartbeat(node string) {
	n.setDead(node, false)
	n.agent.resyncNode(node)
}

func (n *Nodes) setDead(node string, dead bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.nodes[node]; ok {
		s.dead = dead
		s.leaseDue, s.statusDue = time.Time{}, time.Time{}
	}
}

// Delete stops simulating the node and deletes its Node object and Lease.
// Its pods are left to the node lifecycle controller.
func (n *Nodes) Delete(node string) error {
	n.mu.Lock()
	_, ok := n.nodes[node]
	delete(n.nodes, node)
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownNode, node)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.cs.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node %s: %w", node, err)
	}
	err := n.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(ctx, node, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete lease of node %s: %w", node, err)
	}
	return nil
}

// Add registers count more nodes, numbered after the existing ones, and
// returns their names once they exist.
func (n *Nodes) Add(ctx context.Context, count int) ([]string, error) {
	n.mu.Lock()
	first := n.next
	n.next += count
	n.mu.Unlock()
	names := make([]string, count)
	errs := make([]error, count)
	parallel(count, n.cfg.Workers, func(k int) {
		s, err := n.register(ctx, first+k)
		names[k], errs[k] = s.name, err
		if err != nil {
			return
		}
		n.mu.Lock()
		n.nodes[s.name] = s
		n.mu.Unlock()
		n.agent.resyncNode(s.name)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return names, nil
}

// register creates (or takes over) the node with index i and its Lease.
func (n *Nodes) register(ctx context.Context, i int) (*simNode, error) {
	obj := n.nodeObject(i, time.Now())
	s := &simNode{name: obj.Name, index: i}
	created, err := n.cs.CoreV1().Nodes().Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = n.cs.CoreV1().Nodes().Get(ctx, obj.Name, metav1.GetOptions{})
		if err == nil {
			err = n.patchStatus(ctx, s, time.Now())
		}
	}
	if err != nil {
		return s, fmt.Errorf("register node %s: %w", obj.Name, err)
	}
	s.uid = string(created.UID)
	if err := n.createLease(ctx, s); err != nil {
		return s, err
	}
	// Spread first renewals over the interval.
	now := time.Now()
	s.leaseDue = now.Add(spread(i, n.cfg.LeaseInterval))
	s.statusDue = now.Add(spread(i, n.cfg.StatusInterval))
	return s, nil
}

// Stop ends the simulation: heartbeats and the agent stop; the nodes, their
// Leases and pods stay in the API. It may be called more than once.
func (n *Nodes) Stop() {
	n.cancel()
	n.wg.Wait()
}

// node returns the live simulated node called name, or nil.
func (n *Nodes) node(name string) *simNode {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.nodes[name]; ok && !s.dead {
		return s
	}
	return nil
}

// parallel runs fn(0..count-1) on at most workers goroutines.
func parallel(count, workers int, fn func(int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, count) {
		wg.Go(func() {
			for k := range next {
				fn(k)
			}
		})
	}
	for k := range count {
		next <- k
	}
	close(next)
	wg.Wait()
}

// spread places node i's first renewal in the interval, so that renewals
// of many nodes do not come in one burst (a golden-ratio sequence covers
// the interval evenly whatever the count).
func spread(i int, interval time.Duration) time.Duration {
	const phi = 0.6180339887498949
	f := float64(i) * phi
	return time.Duration((f - float64(int(f))) * float64(interval))
}
