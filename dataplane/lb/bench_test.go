package lb

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/model"
)

// Services builds n ClusterIP services of m ready endpoints each, for
// benchmarks: 10.96.0.0/16 addresses, endpoints in 10.128.0.0/9.
func benchServices(n, m int) []model.Service {
	out := make([]model.Service, n)
	ep := 0
	for i := range out {
		eps := make([]model.Endpoint, m)
		for j := range eps {
			eps[j] = model.Endpoint{
				Addr:  netip.AddrFrom4([4]byte{10, byte(128 + ep>>16&0x7f), byte(ep >> 8), byte(ep)}),
				Ports: []model.EndpointPort{{Name: "http", Port: 8080}},
				Ready: true, Serving: true,
			}
			ep++
		}
		out[i] = model.Service{
			Name:      types.NamespacedName{Namespace: "bench", Name: fmt.Sprint("svc-", i)},
			ClusterIP: netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}),
			Ports:     []model.Port{{Name: "http", Protocol: model.TCP, Port: 80}},
			Endpoints: eps,
		}
	}
	return out
}

// BenchmarkProgram10kServices times programming 10,000 services of 10
// endpoints into empty maps (the brief's target: under 0.3 s), then one
// endpoint change.
func BenchmarkProgram10kServices(b *testing.B) {
	nettest.Require(b)
	svcs := benchServices(10000, 10)
	for range b.N {
		l, err := Load(Config{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := l.Replace(svcs); err != nil {
			b.Fatal(err)
		}
		full := time.Since(start)
		changed := svcs[5000]
		changed.Endpoints = changed.Endpoints[1:]
		start = time.Now()
		if err := l.Upsert(changed); err != nil {
			b.Fatal(err)
		}
		one := time.Since(start)
		b.ReportMetric(full.Seconds(), "s/full-sync")
		b.ReportMetric(float64(one.Microseconds()), "µs/endpoint-change")
		l.Close()
	}
}
