package scheduler

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/controlplane/scheduler/snapshot"
	"skiff.dev/skiff/test/simnode"
)

// The workload is scheduler_perf's SchedulingBasic: nodes of 4 CPU, 32Gi
// and 110 pods (its node-default.yaml) over 3 zones, and pods created up
// front. Pods are owned by ReplicaSets of 100 (as most pods are owned),
// so that the owner-spread score has work to do; half the nodes report
// an observed usage sample (the same in both modes).
const (
	nodeCPU, nodeMemory, nodePods = "4", "32Gi", "110"
	podsPerOwner                  = 100
	nodePrefix                    = "sim"
)

// nodeName is the name of node i, the same in both modes (simnode's).
func nodeName(i int) string { return simnode.NodeName(nodePrefix, i) }

// nodeUsage is node i's observed usage sample, if it has one.
func nodeUsage(i int) (snapshot.Usage, bool) {
	if i%2 != 0 {
		return snapshot.Usage{}, false
	}
	return snapshot.Usage{MilliCPU: int64(i*37) % 3000, Memory: int64(i%24) << 30}, true
}

// usageSource serves nodeUsage to the scheduler by node name, as the
// server's resource metrics store does.
type usageSource map[string]snapshot.Usage

func newUsageSource(nodes int) usageSource {
	u := usageSource{}
	for i := range nodes {
		if s, ok := nodeUsage(i); ok {
			u[nodeName(i)] = s
		}
	}
	return u
}

// NodeUsage implements the scheduler's UsageSource.
func (u usageSource) NodeUsage(node string) (cpuMilli, memBytes int64, ok bool) {
	s, ok := u[node]
	return s.MilliCPU, s.Memory, ok
}

// benchPod is pending pod i of namespace ns asking for cpu and mem.
func benchPod(ns string, i int, cpu, mem resource.Quantity) *v1.Pod {
	owner := i / podsPerOwner
	app := fmt.Sprintf("app-%d", owner)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("pod-%05d", i), Namespace: ns,
			Labels: map[string]string{"app": app},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app,
				UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", owner)), Controller: new(true),
			}},
		},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "c", Image: "registry.k8s.io/pause:3.10",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: cpu, v1.ResourceMemory: mem}},
		}}},
	}
}

// benchNode is node i as the pure pipeline sees it: the shape and labels
// simnode registers.
func benchNode(i int) *v1.Node {
	res := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(nodeCPU),
		v1.ResourceMemory: resource.MustParse(nodeMemory),
		v1.ResourcePods:   resource.MustParse(nodePods),
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName(i), Labels: map[string]string{
			v1.LabelHostname:     nodeName(i),
			v1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%3),
			v1.LabelOSStable:     "linux",
			v1.LabelArchStable:   "amd64",
		}},
		Status: v1.NodeStatus{Capacity: res, Allocatable: res.DeepCopy()},
	}
}
