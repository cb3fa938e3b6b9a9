package apiserver

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the apiserver's Prometheus series, named as kube-apiserver
// names them so that existing dashboards apply.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	watchers *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "API requests by verb, group, version, resource, subresource and HTTP code.",
		}, []string{"verb", "group", "version", "resource", "subresource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "API request latency by verb, group, version, resource and subresource (watches excluded).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"verb", "group", "version", "resource", "subresource"}),
		watchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_longrunning_requests",
			Help: "Open watches by group, version and resource.",
		}, []string{"verb", "group", "version", "resource"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.latency, m.watchers} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register apiserver metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(info *requestInfo, code string, d time.Duration) {
	verb, group, version, resource, sub := info.Verb, info.APIGroup, info.APIVersion, info.Resource, info.Subresource
	switch {
	case !info.IsResourceRequest:
		verb, group, version, resource, sub = "nonresource_"+verb, "", "", "", ""
	case !info.known:
		group, version, resource, sub = "", "", "unknown", ""
	}
	m.requests.WithLabelValues(verb, group, version, resource, sub, code).Inc()
	if info.Verb != "watch" {
		m.latency.WithLabelValues(verb, group, version, resource, sub).Observe(d.Seconds())
	}
}

func (m *metrics) watchStarted(info *requestInfo) func() {
	g := m.watchers.WithLabelValues("watch", info.APIGroup, info.APIVersion, info.Resource)
	g.Inc()
	return g.Dec
}
