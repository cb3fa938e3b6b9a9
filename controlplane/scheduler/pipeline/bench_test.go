package pipeline_test

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/controlplane/scheduler/pipeline"
	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// The benchmarks follow scheduler_perf's SchedulingBasic: nodes with 4 CPU,
// 32Gi and 110 pods (its node-default.yaml), spread over 3 zones, half of
// them with an observed usage sample; 10,000 pending pods created up front,
// owned by 100 ReplicaSets of 100 pods. Pods ask for 25m CPU and 128Mi, so
// that 10,000 of them fit even on 100 nodes (the pod limit, 110 a node, is
// what fills them); scheduler_perf's own shape (100m/500Mi) is the
// "perf-shape" case at 5,000 nodes. Each pod is parsed (NewPodInfo),
// scheduled and assumed into the snapshot, as the loop does; the reported
// metric is pods/s over the 10,000 pods.
func BenchmarkSchedule(b *testing.B) {
	small := podShape{cpu: "25m", mem: "128Mi"}
	for _, tc := range []struct {
		name  string
		nodes int
		shape podShape
	}{
		{"nodes=100", 100, small},
		{"nodes=1000", 1000, small},
		{"nodes=5000", 5000, small},
		{"nodes=5000/perf-shape", 5000, podShape{cpu: "100m", mem: "500Mi"}},
		{"nodes=5000/zone-spread", 5000, podShape{cpu: "25m", mem: "128Mi", spread: true}},
		{"nodes=5000/anti-affinity", 5000, podShape{cpu: "25m", mem: "128Mi", antiAffinity: true}},
	} {
		b.Run(tc.name+"/pods=10000", func(b *testing.B) {
			benchSchedule(b, tc.nodes, 10000, tc.shape)
		})
	}
}

type podShape struct {
	cpu, mem     string
	spread       bool // DoNotSchedule zone spread, maxSkew 1, per ReplicaSet
	antiAffinity bool // required hostname anti-affinity per ReplicaSet
}

func benchSchedule(b *testing.B, numNodes, numPods int, shape podShape) {
	pods := benchPods(numPods, shape)
	var elapsed time.Duration
	var failed int
	for range b.N {
		s := benchSnapshot(numNodes)
		p := pipeline.New(pipeline.Config{Weights: pipeline.DefaultWeights()})
		start := time.Now()
		for _, pod := range pods {
			pi, err := snapshot.NewPodInfo(pod)
			if err != nil {
				b.Fatal(err)
			}
			res, fe := p.Schedule(pi, s)
			if fe != nil {
				failed++
				continue
			}
			s.AddPod(pi, res.Node)
		}
		elapsed += time.Since(start)
	}
	if failed > 0 && !shape.antiAffinity {
		b.Fatalf("%d pods did not fit", failed/b.N)
	}
	b.ReportMetric(float64(numPods*b.N)/elapsed.Seconds(), "pods/s")
	b.ReportMetric(0, "ns/op")
}

func benchSnapshot(numNodes int) *snapshot.Snapshot {
	s := snapshot.New()
	for i := range numNodes {
		n := &v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i), Labels: map[string]string{
				v1.LabelHostname:     fmt.Sprintf("node-%d", i),
				v1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%3),
			}},
			Status: v1.NodeStatus{Allocatable: resources("4", "32Gi", "110")},
		}
		s.SetNode(n)
		if i%2 == 0 {
			s.SetUsage(n.Name, snapshot.Usage{MilliCPU: int64(i % 4000), Memory: int64(i%32) << 30})
		}
	}
	return s
}

func benchPods(numPods int, shape podShape) []*v1.Pod {
	pods := make([]*v1.Pod, numPods)
	for i := range pods {
		rs := i % 100
		app := map[string]string{"app": fmt.Sprintf("app-%d", rs)}
		pod := &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("pod-%d", i), Namespace: "default", UID: types.UID(fmt.Sprintf("uid-%d", i)),
				Labels: app,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("rs-%d", rs),
					UID: types.UID(fmt.Sprintf("rs-%d", rs)), Controller: ptr(true),
				}},
			},
			Spec: v1.PodSpec{Containers: []v1.Container{{
				Name: "c", Image: "registry.k8s.io/pause:3.10",
				Resources: v1.ResourceRequirements{Requests: resources(shape.cpu, shape.mem, "")},
			}}},
		}
		if shape.spread {
			pod.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: app},
			}}
		}
		if shape.antiAffinity {
			pod.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
					TopologyKey: v1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: app},
				}},
			}}
		}
		pods[i] = pod
	}
	return pods
}
