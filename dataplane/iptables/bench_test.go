package iptables

import (
	"context"
	"fmt"
	"testing"
	"time"

	"skiff.dev/skiff/dataplane/internal/modeltest"
	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/model"
	"skiff.dev/skiff/internal/testenv"
)

// BenchmarkSync times the first sync of 1,000 and 10,000 services of 10
// endpoints, then a sync after one endpoint change (a full rewrite, as
// kube-proxy's), for each iptables back end.
func BenchmarkSync(b *testing.B) {
	nettest.Require(b)
	for _, backend := range []string{"legacy", "nft"} {
		bin, _ := binary(backend)
		testenv.RequireCommand(b, bin)
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", backend, n), func(b *testing.B) {
				svcs := modeltest.Services(n, 10, false)
				ctx := context.Background()
				for range b.N {
					ns := nettest.NewNS(b, "iptb")
					p, err := New(Config{NetNS: ns.Path, Backend: backend})
					if err != nil {
						b.Fatal(err)
					}
					start := time.Now()
					if err := p.Replace(ctx, svcs); err != nil {
						b.Fatal(err)
					}
					full := time.Since(start)
					changed := svcs[n/2]
					changed.Endpoints = changed.Endpoints[1:]
					start = time.Now()
					if err := p.Update(ctx, []model.Service{changed}, nil); err != nil {
						b.Fatal(err)
					}
					one := time.Since(start)
					b.ReportMetric(full.Seconds(), "first-sync-s")
					b.ReportMetric(one.Seconds(), "resync-s")
					if err := Cleanup(ns.Path, backend); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
