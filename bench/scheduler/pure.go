package scheduler

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/bench/stats"
	"skiff.dev/skiff/controlplane/scheduler/pipeline"
	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// measurePure schedules opts.Pods pods on a snapshot of nodes nodes with
// the pipeline alone, as the scheduler's loop does minus the API: each
// pod is parsed, scheduled and assumed into the snapshot. A pod's latency
// is that work; pods/s counts the whole batch.
func measurePure(ctx context.Context, opts Options, nodes, round int) (Run, error) {
	s := snapshot.New()
	for i := range nodes {
		s.SetNode(benchNode(i))
		if u, ok := nodeUsage(i); ok {
			s.SetUsage(nodeName(i), u)
		}
	}
	pods := make([]*v1.Pod, opts.Pods)
	for i := range pods {
		pods[i] = benchPod("bench", i, opts.cpu, opts.mem)
		pods[i].UID = types.UID(fmt.Sprintf("pod-%d", i))
	}
	p := pipeline.New(pipeline.Config{Weights: pipeline.DefaultWeights()})
	lat := make([]time.Duration, 0, opts.Pods)
	run := Run{Mode: modePure, Nodes: nodes, Pods: opts.Pods, Round: round}
	start := time.Now()
	for i, pod := range pods {
		if i%1000 == 0 && ctx.Err() != nil {
			return run, ctx.Err()
		}
		t0 := time.Now()
		pi, err := snapshot.NewPodInfo(pod)
		if err != nil {
			return run, fmt.Errorf("pod %s: %w", pod.Name, err)
		}
		res, fe := p.Schedule(pi, s)
		if fe == nil {
			s.AddPod(pi, res.Node)
			run.Bound++
		}
		lat = append(lat, time.Since(t0))
	}
	run.Elapsed = time.Since(start)
	run.Latency = stats.Summarize(lat)
	run.PodsPerSec = float64(run.Bound) / run.Elapsed.Seconds()
	return run, nil
}
