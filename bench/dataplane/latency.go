package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/bench/stats"
	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
	dplane "skiff.dev/skiff/dataplane"
)

// latencyRun is one mode's EndpointSlice write -> programmed latencies.
type latencyRun struct {
	Mode     string `json:"mode"`
	Services int    `json:"services"`
	// Usable are writes that made an endpoint ready, Unusable writes that
	// made one not ready. Latency runs from the write's response to the
	// end of the sync that programmed it.
	Usable   stats.Latency `json:"usable"`
	Unusable stats.Latency `json:"unusable"`
	// Early counts writes whose sync finished before the write's response
	// arrived (the watch beat the response): counted as 0.
	Early int `json:"early"`
	// Settle is how long after the first full sync the dataplane kept
	// syncing what its informers queued at start (each service once more),
	// and Syncs how many syncs it ran by then; the writes start after it.
	Settle time.Duration `json:"settle_ns"`
	Syncs  uint64        `json:"syncs_at_start"`
	Err    string        `json:"error,omitempty"`
}

// measureLatency starts an API server in-process with LatencyServices
// services of Endpoints endpoints, then, for each mode, a dataplane that
// follows it, and writes EndpointSlices one after another, timing each
// from the write's response to the dataplane carrying it.
func (r *runner) measureLatency(ctx context.Context, workDir string) ([]latencyRun, error) {
	cfg, err := servertest.Config(filepath.Join(workDir, "apiserver"), func(c *server.Config) {
		c.ServiceCIDR = serviceCIDR
		c.DisableScheduler, c.DisableControllers = true, true
		c.Logger = r.quiet("apiserver")
	})
	if err != nil {
		return nil, err
	}
	srv, err := servertest.Launch(cfg)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	r.log.Info("dataplane: creating services for the EndpointSlice latency", "services", r.opts.LatencyServices)
	slices, err := r.createServices(ctx, srv.Client)
	if err != nil {
		return nil, err
	}
	var out []latencyRun
	var errs []error
	for _, mode := range r.opts.LatencyModes {
		writes := r.opts.LatencyIPTablesWrites
		if mode == modeEBPF {
			writes = r.opts.LatencyWrites
		}
		writes += writes % 2 // whole pairs leave every endpoint ready
		lr := latencyRun{Mode: mode, Services: r.opts.LatencyServices}
		if err := r.latencyOf(ctx, srv.Client, mode, slices, writes, &lr); err != nil {
			lr.Err = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", mode, err))
		}
		r.log.Info("dataplane: EndpointSlice latency", "mode", mode, "writes", writes,
			"usable p99", lr.Usable.P99.Round(time.Microsecond), "unusable p99", lr.Unusable.P99.Round(time.Microsecond))
		out = append(out, lr)
		if ctx.Err() != nil {
			break
		}
	}
	return out, errors.Join(errs...)
}

// createServices creates the namespace, the services (no selector: the
// benchmark writes their slices, as the EndpointSlice controller would)
// and one slice per service, all endpoints ready.
func (r *runner) createServices(ctx context.Context, c kubernetes.Interface) ([]*discoveryv1.EndpointSlice, error) {
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace: %w", err)
	}
	n := r.opts.LatencyServices
	slices := make([]*discoveryv1.EndpointSlice, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: serviceName(i)},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
					Name: portName, Protocol: corev1.ProtocolTCP, Port: servicePort, TargetPort: intstr.FromInt32(backendPort),
				}}},
			}
			if _, err := c.CoreV1().Services(benchNamespace).Create(gctx, svc, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create service: %w", err)
			}
			s, err := c.DiscoveryV1().EndpointSlices(benchNamespace).Create(gctx, r.slice(i), metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("create endpointslice: %w", err)
			}
			slices[i] = s
			return nil
		})
	}
	return slices, g.Wait()
}

// slice is service i's EndpointSlice with every endpoint ready.
func (r *runner) slice(i int) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: benchNamespace, Name: serviceName(i) + "-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: serviceName(i), discoveryv1.LabelManagedBy: "skiff-bench"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To[int32](backendPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for j := range r.opts.Endpoints {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{offset(dummyEndpoints.Addr(), 1+i*r.opts.Endpoints+j).String()},
			NodeName:   ptr.To("bench-node"),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
		})
	}
	return s
}

// latencyOf runs one mode's dataplane against the server and times
// writes, each flipping one endpoint between ready and not ready.
func (r *runner) latencyOf(ctx context.Context, c kubernetes.Interface, mode string, slices []*discoveryv1.EndpointSlice, writes int, lr *latencyRun) (err error) {
	t, err := r.newTopology(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, t.close()) }()
	cfg := r.config(t, mode)
	cfg.Client = c
	dp, err := dplane.New(cfg)
	if err != nil {
		return fmt.Errorf("start the dataplane: %w", err)
	}
	defer func() { err = errors.Join(err, dp.Close()) }()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- dp.Start(runCtx) }()
	defer func() {
		cancel()
		err = errors.Join(err, <-done)
	}()
	select {
	case <-dp.Synced():
	case err := <-done:
		done <- err
		return fmt.Errorf("dataplane stopped before its first sync: %w", err)
	case <-time.After(2 * time.Minute):
		return errors.New("dataplane not synced after 2 minutes")
	}
	if lr.Settle, lr.Syncs, err = settle(ctx, dp); err != nil {
		return err
	}

	var usable, unusable []time.Duration
	api := c.DiscoveryV1().EndpointSlices(benchNamespace)
	for k := range writes {
		// Writes come in pairs on one service: an endpoint becomes
		// unusable, then usable again.
		i := (k / 2) % len(slices)
		s := slices[i].DeepCopy()
		e := &s.Endpoints[(k/2/len(slices))%len(s.Endpoints)]
		ready := k%2 == 1
		e.Conditions.Ready, e.Conditions.Serving = ptr.To(ready), ptr.To(ready)
		s, err := api.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("update endpointslice: %w", err)
		}
		acked := time.Now()
		slices[i] = s
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		at, err := dp.EndpointSliceProgrammed(wctx, s.Namespace, s.Name, s.ResourceVersion)
		wcancel()
		if err != nil {
			return fmt.Errorf("endpointslice %s at %s not programmed: %w", s.Name, s.ResourceVersion, err)
		}
		lat := at.Sub(acked)
		if lat < 0 {
			lr.Early++
			lat = 0
		}
		if ready {
			usable = append(usable, lat)
		} else {
			unusable = append(unusable, lat)
		}
	}
	lr.Usable, lr.Unusable = stats.Summarize(usable), stats.Summarize(unusable)
	return nil
}

// quiet is the suite's logger for a part it runs (the API server, the
// dataplanes) with their warnings and errors only: their info logs do not
// belong in the benchmark's output.
func (r *runner) quiet(part string) *slog.Logger {
	return slog.New(minLevel{r.log.Handler(), slog.LevelWarn}).With("part", part)
}

// minLevel drops records below its level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}

// settle waits until the dataplane has run every sync queued at its start
// and returns how long after the call the last one finished and how many
// syncs it ran. The proxy's informers queue every service as they list
// them, and the queue runs them once more after the full sync: cheap
// no-op diffs in eBPF mode, a full iptables-restore each in iptables mode.
// Idle means no sync for a second, or three mean syncs if longer.
func settle(ctx context.Context, dp *dplane.Dataplane) (time.Duration, uint64, error) {
	reg := prometheus.NewRegistry()
	for _, c := range dp.Collectors() {
		if err := reg.Register(c); err != nil {
			return 0, 0, fmt.Errorf("dataplane metrics: %w", err)
		}
	}
	syncs := func() (uint64, float64, error) {
		families, err := reg.Gather()
		if err != nil {
			return 0, 0, fmt.Errorf("dataplane metrics: %w", err)
		}
		for _, f := range families {
			if f.GetName() == syncMetric && len(f.GetMetric()) > 0 {
				h := f.GetMetric()[0].GetHistogram()
				return h.GetSampleCount(), h.GetSampleSum(), nil
			}
		}
		return 0, 0, fmt.Errorf("dataplane metrics lack %s", syncMetric)
	}
	start := time.Now()
	last, _, err := syncs()
	if err != nil {
		return 0, 0, err
	}
	changed := start
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-tick.C:
		}
		n, sum, err := syncs()
		if err != nil {
			return 0, 0, err
		}
		if n != last {
			last, changed = n, time.Now()
		}
		quiet := time.Second
		if n > 0 {
			quiet = max(quiet, 3*time.Duration(sum/float64(n)*float64(time.Second)))
		}
		switch {
		case time.Since(changed) >= quiet:
			return changed.Sub(start), last, nil
		case time.Since(start) > settleLimit:
			return 0, 0, fmt.Errorf("the dataplane still syncs %v after its start (%d syncs)", settleLimit, n)
		}
	}
}

const (
	syncMetric  = "skiff_dataplane_sync_duration_seconds"
	settleLimit = 10 * time.Minute
)
