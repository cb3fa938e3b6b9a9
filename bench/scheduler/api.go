package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/skiff/bench/stats"
	skiffsched "skiff.dev/skiff/controlplane/scheduler"
	"skiff.dev/skiff/controlplane/server"
)

// clientMode is how the scheduler under test talks to the API.
type clientMode struct {
	name  string
	qps   float32 // < 0: no client-side limit
	burst int
}

// measureAPI runs one round through the API on the cluster's current
// nodes: opts.Pods pods are created, then a scheduler configured as the
// server runs it (leader-elected, with observed usage) is started and
// timed until every pod is seen bound; the pods are deleted afterwards.
// A pod's latency runs from the scheduler's start, when every pod is
// already pending (scheduler_perf's pods are also created before they
// are measured), to the moment the benchmark's watch sees it bound.
func (c *cluster) measureAPI(ctx context.Context, mode clientMode, nodes, round int) (Run, error) {
	run := Run{Mode: mode.name, Nodes: nodes, Pods: c.opts.Pods, Round: round}
	created := time.Now()
	if err := c.createPods(ctx); err != nil {
		return run, err
	}
	run.CreateRate = float64(c.opts.Pods) / time.Since(created).Seconds()
	defer func() {
		t0 := time.Now()
		if err := c.deletePods(context.WithoutCancel(ctx)); err != nil {
			c.log.Warn("scheduler: delete pods", "err", err)
		}
		c.log.Debug("scheduler: pods deleted", "took", time.Since(t0).Round(time.Millisecond))
	}()

	w, err := c.watchBinds(ctx)
	if err != nil {
		return run, err
	}
	defer w.stop()

	binds := &bindTimer{}
	cs, err := c.client(c.opts.ContentType, mode.qps, mode.burst, binds.wrap)
	if err != nil {
		return run, err
	}
	logs := &schedLog{counts: map[string]int{}}
	sc := server.SchedulerConfig(cs, server.Config{Logger: slog.New(logs)})
	sc.Usage = newUsageSource(nodes)
	sc.APIConcurrency = c.opts.APIConcurrency
	s, err := skiffsched.New(sc)
	if err != nil {
		return run, err
	}
	stopProfile, err := startProfile(c.opts.CPUProfile, fmt.Sprintf("%d-%d-%s", nodes, round, strings.ReplaceAll(mode.name, " ", "-")))
	if err != nil {
		return run, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	cpu0 := processCPU()
	start := time.Now()
	go func() { done <- s.Start(sctx) }()

	timeout := time.NewTimer(c.opts.Timeout)
	defer timeout.Stop()
	var waitErr error
	exited := false
	select {
	case <-w.all:
	case err := <-done:
		exited = true
		waitErr = fmt.Errorf("scheduler stopped before every pod was bound: %v", err)
	case <-timeout.C:
		waitErr = fmt.Errorf("%d of %d pods bound after %v", w.count.Load(), c.opts.Pods, c.opts.Timeout)
	case <-ctx.Done():
		waitErr = ctx.Err()
	}
	cpu := processCPU() - cpu0
	stopProfile()
	stop()
	if !exited {
		if err := <-done; err != nil && waitErr == nil {
			waitErr = fmt.Errorf("scheduler: %w", err)
		}
	}

	run.summarize(w.times(), start)
	if run.Bound > 0 {
		run.CPUPerPod = cpu / time.Duration(run.Bound)
	}
	run.Sync, run.Terms, run.LogWarnings, run.FailedAttempts = logs.summary(start)
	run.BindLatency = binds.summary()
	return run, waitErr
}

// summarize fills in the figures of a round through the API from the
// times the pods were seen bound (zero: never) and the scheduler's start.
func (run *Run) summarize(bound []time.Time, start time.Time) {
	lat := make([]time.Duration, 0, len(bound))
	var first, last time.Time
	for _, t := range bound {
		if t.IsZero() {
			continue
		}
		lat = append(lat, t.Sub(start))
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	run.Bound = len(lat)
	run.Latency = stats.Summarize(lat)
	if run.Bound == 0 {
		return
	}
	run.Elapsed = last.Sub(start)
	run.PodsPerSec = float64(run.Bound) / run.Elapsed.Seconds()
	run.FirstBind = first.Sub(start)
	if run.Bound > 1 {
		run.SteadyPodsPerSec = float64(run.Bound-1) / last.Sub(first).Seconds()
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// createPods creates opts.Pods pending pods with 32 clients in parallel.
func (c *cluster) createPods(ctx context.Context) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 32)
	for w := range errs {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < c.opts.Pods && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				p := benchPod(benchNamespace, i, c.opts.cpu, c.opts.mem)
				if _, err := c.cs.CoreV1().Pods(benchNamespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					errs[w] = fmt.Errorf("create pod %s: %w", p.Name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// bindWatch records when each benchmark pod is first seen bound.
type bindWatch struct {
	mu    sync.Mutex
	bound []time.Time // by pod index
	count atomic.Int64
	all   chan struct{} // closed once every pod is bound
	stop  context.CancelFunc
	done  chan struct{}
}

// watchBinds lists the namespace's pods and watches them from there.
func (c *cluster) watchBinds(ctx context.Context) (*bindWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &bindWatch{bound: make([]time.Time, c.opts.Pods), all: make(chan struct{}), done: make(chan struct{})}
	w.stop = func() { cancel(); <-w.done }
	rv, err := w.relist(ctx, c)
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			rv, err = w.follow(ctx, c, rv)
			if err != nil && ctx.Err() == nil {
				c.log.Warn("scheduler: pod watch", "err", err)
				if rv, err = w.relist(ctx, c); err != nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
	}()
	return w, nil
}

// relist marks the bound pods of a list and returns its resourceVersion.
func (w *bindWatch) relist(ctx context.Context, c *cluster) (string, error) {
	l, err := c.cs.CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list pods: %w", err)
	}
	now := time.Now()
	for i := range l.Items {
		w.saw(&l.Items[i], now)
	}
	return l.ResourceVersion, nil
}

// follow watches from rv until the watch ends and returns the last
// resourceVersion seen.
func (w *bindWatch) follow(ctx context.Context, c *cluster, rv string) (string, error) {
	wi, err := c.cs.CoreV1().Pods(benchNamespace).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		return rv, fmt.Errorf("watch pods: %w", err)
	}
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		switch ev.Type {
		case watch.Error:
			return rv, fmt.Errorf("watch pods: %v", ev.Object)
		case watch.Added, watch.Modified, watch.Bookmark:
			p, ok := ev.Object.(*v1.Pod)
			if !ok {
				continue
			}
			rv = p.ResourceVersion
			if ev.Type != watch.Bookmark {
				w.saw(p, time.Now())
			}
		}
	}
	return rv, nil
}

func (w *bindWatch) saw(p *v1.Pod, at time.Time) {
	if p.Spec.NodeName == "" {
		return
	}
	i, err := strconv.Atoi(strings.TrimPrefix(p.Name, "pod-"))
	if err != nil || i < 0 || i >= len(w.bound) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.bound[i].IsZero() {
		return
	}
	w.bound[i] = at
	if w.count.Add(1) == int64(len(w.bound)) {
		close(w.all)
	}
}

func (w *bindWatch) times() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Time(nil), w.bound...)
}

// schedLog is the scheduler's log handler: it notes when the caches were
// synced and counts the warnings and failed attempts.
type schedLog struct {
	mu     sync.Mutex
	synced time.Time
	counts map[string]int
	warn   int
}

func (h *schedLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *schedLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Message == "caches synced" && h.synced.IsZero() {
		h.synced = r.Time
	}
	h.counts[r.Message]++
	if r.Level >= slog.LevelWarn {
		h.warn++
	}
	return nil
}

func (h *schedLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *schedLog) WithGroup(string) slog.Handler      { return h }

// summary returns how long after start the caches were synced, the
// number of terms (leaderships), of warnings and of attempts that found
// no node.
func (h *schedLog) summary(start time.Time) (sync time.Duration, terms, warnings, failed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.synced.IsZero() {
		sync = h.synced.Sub(start)
	}
	return sync, h.counts["leading"], h.warn, h.counts["pod not scheduled"]
}

// bindTimer wraps the scheduler's transport and times its pods/binding
// calls, to tell the API's share of the time from the scheduler's.
type bindTimer struct {
	next http.RoundTripper
	mu   sync.Mutex
	lat  []time.Duration
}

func (b *bindTimer) wrap(next http.RoundTripper) http.RoundTripper {
	b.next = next
	return b
}

func (b *bindTimer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/binding") {
		return b.next.RoundTrip(req)
	}
	t0 := time.Now()
	resp, err := b.next.RoundTrip(req)
	d := time.Since(t0)
	b.mu.Lock()
	b.lat = append(b.lat, d)
	b.mu.Unlock()
	return resp, err
}

func (b *bindTimer) summary() stats.Latency {
	b.mu.Lock()
	defer b.mu.Unlock()
	return stats.Summarize(b.lat)
}
