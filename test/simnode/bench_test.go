package simnode_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/test/simnode"
)

// BenchmarkNodes5000 registers 5,000 nodes heartbeating every 10 s and
// reports how long registration took and what share of the Leases were
// renewed within 1.5 intervals (1 when the heartbeats keep up).
// Run: go test -run XXX -bench Nodes5000 -benchtime 1x ./test/simnode/
func BenchmarkNodes5000(b *testing.B) {
	const count, interval = 5000, 10 * time.Second
	for range b.N {
		c := simnode.StartCluster(b, simnode.ClusterConfig{NoScheduler: true})
		start := time.Now()
		nodes, err := simnode.Start(b.Context(), c.Client, simnode.Config{Count: count, LeaseInterval: interval, StatusInterval: time.Minute, Workers: 32})
		if err != nil {
			b.Fatal(err)
		}
		registered := time.Since(start)
		time.Sleep(interval * 3 / 2)
		leases, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(b.Context(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		renewed := 0
		for _, l := range leases.Items {
			if time.Since(l.Spec.RenewTime.Time) < interval*11/10 {
				renewed++
			}
		}
		nodes.Stop()
		b.ReportMetric(registered.Seconds(), "register-s")
		b.ReportMetric(float64(renewed)/count, "renewed-share")
	}
}
