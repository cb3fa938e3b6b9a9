package endpointslice_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/workqueue"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/endpoints"
	"skiff.dev/skiff/controlplane/controllers/endpointslice"
)

// latencies collects the work-queue latency (add to get) of one queue.
type latencies struct {
	mu      sync.Mutex
	samples []float64
}

func (l *latencies) Observe(v float64) {
	l.mu.Lock()
	l.samples = append(l.samples, v)
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.samples = l.samples[:0]
	l.mu.Unlock()
}

// quantile returns the q-quantile in milliseconds and the sample count.
func (l *latencies) quantile(q float64) (float64, int) {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	l.mu.Unlock()
	if len(s) == 0 {
		return 0, 0
	}
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))] * 1000, len(s)
}

// queueMetrics is a workqueue.MetricsProvider that keeps only latency.
type queueMetrics struct{ latency *latencies }

type noop struct{}

func (noop) Inc()            {}
func (noop) Dec()            {}
func (noop) Set(float64)     {}
func (noop) Observe(float64) {}

func (m queueMetrics) NewDepthMetric(string) workqueue.GaugeMetric            { return noop{} }
func (m queueMetrics) NewAddsMetric(string) workqueue.CounterMetric           { return noop{} }
func (m queueMetrics) NewLatencyMetric(string) workqueue.HistogramMetric      { return m.latency }
func (m queueMetrics) NewWorkDurationMetric(string) workqueue.HistogramMetric { return noop{} }
func (m queueMetrics) NewRetriesMetric(string) workqueue.CounterMetric        { return noop{} }
func (m queueMetrics) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}
func (m queueMetrics) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}

// BenchmarkQueueLatencyPodChurn flips the readiness of 1,000 pods behind
// 10 services, round after round, with the Endpoints and EndpointSlice
// controllers running, and reports the p50 and p99 time a service key
// waits in each controller's work queue, and the pod updates per second
// the churn reached. Each round ends when every slice shows the new
// state. Run with -benchtime=3x.
func BenchmarkQueueLatencyPodChurn(b *testing.B) {
	const services, podsPerService, writers = 10, 100, 16
	c := srv.Client
	ctx := context.Background()
	ns := newNamespace(b, c)
	sliceLat, epLat := &latencies{}, &latencies{}
	mgrCtx, cancel := context.WithCancel(ctx)
	mgr := controllers.NewManager(controllers.ManagerConfig{
		Client: srv.Client,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Controllers: []controllers.Constructor{
			func(cc *controllers.Context) (controllers.Controller, error) {
				return endpointslice.New(cc, endpointslice.Config{QueueMetrics: queueMetrics{sliceLat}})
			},
			func(cc *controllers.Context) (controllers.Controller, error) {
				return endpoints.New(cc, endpoints.Config{QueueMetrics: queueMetrics{epLat}})
			},
		},
	})
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})

	var pods []*corev1.Pod
	for s := range services {
		app := fmt.Sprintf("app-%d", s)
		if _, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: app},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
		}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for i := range podsPerService {
			pods = append(pods, createAppPod(b, c, ns, app, fmt.Sprintf("%s-%d", app, i), fmt.Sprintf("10.44.%d.%d", s, i+1), 8080, true))
		}
	}
	waitAll := func(ready bool) {
		b.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			list, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, s := range list.Items {
				for _, e := range s.Endpoints {
					if e.Conditions.Ready != nil && *e.Conditions.Ready == ready && s.Labels[discovery.LabelManagedBy] == endpointslice.ManagedBy {
						n++
					}
				}
			}
			if n == len(pods) {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d endpoints ready=%v", n, len(pods), ready)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitAll(true)
	sliceLat.reset()
	epLat.reset()

	b.ResetTimer()
	start := time.Now()
	ready := true
	for range b.N {
		ready = !ready
		work := make(chan *corev1.Pod)
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				for p := range work {
					fresh, err := c.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
					if err == nil {
						_, err = updateReady(c, fresh, ready)
					}
					if err != nil {
						b.Error(err)
					}
				}
			})
		}
		for _, p := range pods {
			work <- p
		}
		close(work)
		wg.Wait()
		waitAll(ready)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	for _, q := range []struct {
		name string
		l    *latencies
	}{{"slices", sliceLat}, {"endpoints", epLat}} {
		p50, n := q.l.quantile(0.5)
		p99, _ := q.l.quantile(0.99)
		b.ReportMetric(p50, q.name+"-queue-p50-ms")
		b.ReportMetric(p99, q.name+"-queue-p99-ms")
		b.ReportMetric(float64(n)/float64(b.N), q.name+"-syncs/round")
	}
	b.ReportMetric(float64(b.N*len(pods))/elapsed.Seconds(), "pod-updates/s")
}
