package deployment_test

import (
	"testing"
	"time"

	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/deployment/deploymentbench"
	"skiff.dev/skiff/test/simnode"
)

// BenchmarkRollover100 measures a 100-replica Deployment (maxSurge and
// maxUnavailable 25%) rolling over to a new template on 10 simulated
// nodes whose pods start at once: the controllers', scheduler's and API
// server's share of a rollout.
func BenchmarkRollover100(b *testing.B) {
	e := ctrltest.Start(b, simnode.Config{Count: 10}, ctors()...)
	var rolledOut, rolledOver time.Duration
	n := 0
	for b.Loop() {
		res, err := deploymentbench.Rollover(b.Context(), e.Client, deploymentbench.Config{Namespace: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		rolledOut += res.RolledOut
		rolledOver += res.RolledOver
		n++
	}
	b.ReportMetric(rolledOut.Seconds()/float64(n), "s/rollout")
	b.ReportMetric(rolledOver.Seconds()/float64(n), "s/rollover")
}
