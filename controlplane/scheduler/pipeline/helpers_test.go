package pipeline_test

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/controlplane/scheduler/pipeline"
	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

func ptr[T any](v T) *T { return &v }

// resources builds a ResourceList; empty strings are left out.
func resources(cpu, mem, pods string) v1.ResourceList {
	rl := v1.ResourceList{}
	if cpu != "" {
		rl[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		rl[v1.ResourceMemory] = resource.MustParse(mem)
	}
	if pods != "" {
		rl[v1.ResourcePods] = resource.MustParse(pods)
	}
	return rl
}

// node is a 4 CPU, 8Gi, 110-pod node called name with the hostname label;
// opts change it.
func node(name string, opts ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}},
		Status:     v1.NodeStatus{Allocatable: resources("4", "8Gi", "110")},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func withLabels(kv ...string) func(*v1.Node) {
	return func(n *v1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key, value string, effect v1.TaintEffect) func(*v1.Node) {
	return func(n *v1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func withAllocatable(cpu, mem, pods string) func(*v1.Node) {
	return func(n *v1.Node) { n.Status.Allocatable = resources(cpu, mem, pods) }
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func unschedulable(n *v1.Node) { n.Spec.Unschedulable = true }

// pod is a pod in namespace "default" asking for cpu and memory; opts
// change it.
func pod(name, cpu, mem string, opts ...func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{}},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "c", Image: "img",
			Resources: v1.ResourceRequirements{Requests: resources(cpu, mem, "")},
		}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withPodLabels(kv ...string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withOwner(uid string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: uid, UID: types.UID(uid), Controller: ptr(true)}}
	}
}

func withPriority(prio int32) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Spec.Priority = &prio }
}

func withHostPort(port int32) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, v1.ContainerPort{ContainerPort: 8080, HostPort: port})
	}
}

func withAffinity(a *v1.Affinity) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Spec.Affinity = a }
}

// podTerm is a required pod (anti-)affinity term selecting app=value.
func podTerm(app, topologyKey string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		TopologyKey:   topologyKey,
	}
}

func info(t testing.TB, p *v1.Pod) *snapshot.PodInfo {
	t.Helper()
	pi, err := snapshot.NewPodInfo(p)
	if err != nil {
		t.Fatalf("NewPodInfo(%s): %v", p.Name, err)
	}
	return pi
}

// cluster builds a snapshot of nodes with pods placed: placed maps a node
// name to its pods.
func cluster(t testing.TB, nodes []*v1.Node, placed map[string][]*v1.Pod) *snapshot.Snapshot {
	t.Helper()
	s := snapshot.New()
	for _, n := range nodes {
		s.SetNode(n)
	}
	for name, pods := range placed {
		for _, p := range pods {
			s.AddPod(info(t, p), name)
		}
	}
	return s
}

// everyNode is a pipeline that always looks at all nodes and runs on one
// goroutine, so tests see the whole picture.
func everyNode(w pipeline.Weights) *pipeline.Pipeline {
	return pipeline.New(pipeline.Config{Weights: w, PercentageOfNodesToScore: 100, Parallelism: 1})
}

// schedule runs pod through a full-view pipeline with default weights and
// returns the chosen node, or the FitError message.
func schedule(t testing.TB, s *snapshot.Snapshot, p *v1.Pod) (node, fitErr string) {
	t.Helper()
	return scheduleWith(t, everyNode(pipeline.DefaultWeights()), s, p)
}

func scheduleWith(t testing.TB, pl *pipeline.Pipeline, s *snapshot.Snapshot, p *v1.Pod) (node, fitErr string) {
	t.Helper()
	res, fe := pl.Schedule(info(t, p), s)
	if fe != nil {
		return "", fe.Error()
	}
	return res.Node, ""
}
