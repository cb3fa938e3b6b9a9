package lb

import (
	"context"
	"testing"
	"time"

	"skiff.dev/skiff/dataplane/internal/modeltest"
	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/model"
)

// BenchmarkProgram10kServices times programming 10,000 ClusterIP
// services of 10 endpoints into empty maps (the brief's target: under
// 0.3 s), then one endpoint change.
func BenchmarkProgram10kServices(b *testing.B) {
	benchmarkProgram(b, modeltest.Services(10000, 10, false))
}

// BenchmarkProgram1kNodePorts does the same with 1,000 NodePort services
// (each a ClusterIP and a NodePort frontend with its Maglev table).
func BenchmarkProgram1kNodePorts(b *testing.B) {
	benchmarkProgram(b, modeltest.Services(1000, 10, true))
}

func benchmarkProgram(b *testing.B, svcs []model.Service) {
	nettest.Require(b)
	for range b.N {
		l, err := Load(Config{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := l.Replace(context.Background(), svcs); err != nil {
			b.Fatal(err)
		}
		full := time.Since(start)
		changed := svcs[len(svcs)/2]
		changed.Endpoints = changed.Endpoints[1:]
		start = time.Now()
		if err := l.Update(context.Background(), []model.Service{changed}, nil); err != nil {
			b.Fatal(err)
		}
		one := time.Since(start)
		b.ReportMetric(full.Seconds(), "s/full-sync")
		b.ReportMetric(float64(one.Microseconds()), "µs/endpoint-change")
		l.Close()
	}
}
