package endpointslice_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"skiff.dev/skiff/bench/stats"
	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/deployment"
	"skiff.dev/skiff/controlplane/controllers/endpoints"
	"skiff.dev/skiff/controlplane/controllers/endpointslice"
	"skiff.dev/skiff/controlplane/controllers/endpointslice/endpointslicebench"
	"skiff.dev/skiff/controlplane/controllers/replicaset"
	"skiff.dev/skiff/test/simnode"
)

// BenchmarkQueueLatencyPodChurn flips the readiness of 1,000 pods (10
// Deployments of 100 behind 10 Services, on 10 simulated nodes) through
// their node agent, round after round, with the Endpoints and
// EndpointSlice controllers running, and reports the p50 and p99 time a
// service key waits in each controller's work queue, and the pod updates
// per second the churn reached. Each round ends when every slice and
// every Endpoints object shows the new state. Run with -benchtime=3x.
// bench/controllers (skiff-bench) measures the same with every
// controller of the server.
func BenchmarkQueueLatencyPodChurn(b *testing.B) {
	queues := endpointslicebench.NewQueueLatency()
	e := ctrltest.Start(b, simnode.Config{Count: 10, Pods: "250"},
		controllers.ConstructorFor(endpointslice.New, endpointslice.Config{QueueMetrics: queues}),
		controllers.ConstructorFor(endpoints.New, endpoints.Config{QueueMetrics: queues}),
		deployment.Constructor(deployment.Config{}),
		replicaset.Constructor(replicaset.Config{}),
	)
	churn, err := endpointslicebench.Setup(b.Context(), e.Client, e.Nodes, endpointslicebench.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		// b.Context is done by now.
		if err := churn.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	queues.Take()

	var written time.Duration
	rounds, ready := 0, true
	for b.Loop() {
		rounds++
		ready = !ready
		f, err := churn.Flip(b.Context(), ready)
		if err != nil {
			b.Fatal(err)
		}
		written += f.Written
	}
	got := queues.Take()
	for _, q := range []struct{ name, metric string }{{"endpointslice", "slices"}, {"endpoints", "endpoints"}} {
		lat := stats.Summarize(slices.Clone(got[q.name].Latency))
		b.ReportMetric(ms(lat.P50), q.metric+"-queue-p50-ms")
		b.ReportMetric(ms(lat.P99), q.metric+"-queue-p99-ms")
		b.ReportMetric(float64(lat.Count)/float64(rounds), q.metric+"-syncs/round")
	}
	b.ReportMetric(float64(rounds*churn.Pods())/written.Seconds(), "pod-updates/s")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
