package api

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"skiff.dev/skiff/bench/stats"
	"skiff.dev/skiff/controlplane/server/servertest"
)

// BenchmarkRequests measures the closed-loop requests of the suite against
// an in-process server, for profiling the server's request path with
// `go test -bench . -cpuprofile`: b.N requests shared by the clients,
// with p50 and p99 reported beside ns/op. The numbers of record come from
// cmd/skiff-bench, which runs the server in its own process.
func BenchmarkRequests(b *testing.B) {
	s := servertest.Start(b)
	tg := target{
		cfg:          s.AdminConfig(),
		etcdEndpoint: "127.0.0.1:" + strconv.Itoa(s.Server.Config().EtcdClientPort),
		pid:          os.Getpid(),
		describe:     "in-process test server",
	}
	opts := DefaultOptions()
	ctx := context.Background()
	r, err := newRunner(ctx, tg, opts, slog.New(slog.DiscardHandler), func() error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	defer r.close()
	if err := r.prepare(ctx); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"etcd put", "API create", "API update", "API get", "API list"} {
		for _, clients := range opts.Clients {
			b.Run(fmt.Sprintf("%s/clients=%d", strings.ReplaceAll(kind, " ", "_"), clients), func(b *testing.B) {
				r.phase++
				op, err := r.op(kind, r.phase, false)
				if err != nil {
					b.Fatal(err)
				}
				lat := make([]time.Duration, b.N)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for worker := range clients {
					wg.Go(func() {
						for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
							t0 := time.Now()
							if err := op(ctx, worker, i); err != nil {
								b.Error(err)
								return
							}
							lat[i] = time.Since(t0)
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				st := stats.Summarize(lat)
				b.ReportMetric(ms(st.P50), "p50-ms")
				b.ReportMetric(ms(st.P99), "p99-ms")
			})
		}
	}
}
