package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	duration    prometheus.Histogram
	programming prometheus.Histogram
	errors      *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "skiff_dataplane_sync_duration_seconds",
			Help:    "Time of one dataplane sync: a batch of changed services (or all of them at start).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		// kube-proxy's network_programming_duration_seconds, with buckets
		// fine enough for a target of 100 ms.
		programming: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "skiff_dataplane_network_programming_duration_seconds",
			Help: "Time from the change that triggered an EndpointSlice write (its " +
				"endpoints.kubernetes.io/last-change-trigger-time annotation) to the dataplane carrying it; " +
				"each change once, changes from before the dataplane started are not counted.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_dataplane_sync_errors_total",
			Help: "Failed dataplane syncs, by reason (map_full, verifier, error).",
		}, []string{"reason"}),
	}
}

func (m *metrics) observe(d time.Duration, err error, classify func(error) string) {
	m.duration.Observe(d.Seconds())
	if err != nil {
		m.errors.WithLabelValues(classify(err)).Inc()
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.duration.Describe(ch)
	m.programming.Describe(ch)
	m.errors.Describe(ch)
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.duration.Collect(ch)
	m.programming.Collect(ch)
	m.errors.Collect(ch)
}
