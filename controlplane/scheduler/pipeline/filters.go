package pipeline

import (
	"fmt"
	"sort"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// nodeCheck decides one node for the pod it was prepared for: nil when the
// node passes, else why not. It must only read the node and the snapshot.
type nodeCheck func(n *snapshot.NodeInfo) *Status

// filter is one feasibility check. prepare does the per-pod work once
// (parsing, counting pods by topology domain) and returns the per-node
// check, or nil when the filter cannot reject this pod.
type filter struct {
	name    string
	prepare func(pod *snapshot.PodInfo, s *snapshot.Snapshot) nodeCheck
}

// filters run in kube-scheduler's order; a node's reasons come from the
// first filter it fails, as there.
var filters = []filter{
	{NodeUnschedulable, prepareUnschedulable},
	{TaintToleration, prepareTaints},
	{NodeAffinity, prepareNodeAffinity},
	{NodePorts, preparePorts},
	{NodeResourcesFit, prepareResources},
	{PodTopologySpread, prepareSpreadFilter},
	{InterPodAffinity, prepareInterPodAffinity},
}

// noLog is the logger the toleration helpers want; the pipeline does not log.
var noLog = logr.Discard()

var (
	statusUnschedulable = newStatus(NodeUnschedulable, true, ReasonUnschedulable)
	statusNodeAffinity  = newStatus(NodeAffinity, true, ReasonNodeAffinity)
	statusNodePorts     = newStatus(NodePorts, false, ReasonNodePorts)
)

func prepareUnschedulable(pod *snapshot.PodInfo, _ *snapshot.Snapshot) nodeCheck {
	t := v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}
	if tolerates(pod.Pod.Spec.Tolerations, &t) {
		return nil
	}
	return func(n *snapshot.NodeInfo) *Status {
		if n.Unschedulable() {
			return statusUnschedulable
		}
		return nil
	}
}

func tolerates(tolerations []v1.Toleration, t *v1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(noLog, t, false) {
			return true
		}
	}
	return false
}

func prepareTaints(pod *snapshot.PodInfo, _ *snapshot.Snapshot) nodeCheck {
	tolerations := pod.Pod.Spec.Tolerations
	return func(n *snapshot.NodeInfo) *Status {
		taints := n.Taints()
		for i := range taints {
			t := &taints[i]
			if t.Effect != v1.TaintEffectNoSchedule && t.Effect != v1.TaintEffectNoExecute {
				continue
			}
			if !tolerates(tolerations, t) {
				return newStatus(TaintToleration, true, fmt.Sprintf(reasonUntoleratedTaintFmt, t.Key, t.Value))
			}
		}
		return nil
	}
}

func prepareNodeAffinity(pod *snapshot.PodInfo, _ *snapshot.Snapshot) nodeCheck {
	spec := &pod.Pod.Spec
	if len(spec.NodeSelector) == 0 && (spec.Affinity == nil || spec.Affinity.NodeAffinity == nil ||
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil) {
		return nil
	}
	req := nodeaffinity.GetRequiredNodeAffinity(pod.Pod)
	return func(n *snapshot.NodeInfo) *Status {
		if ok, err := req.Match(n.Node); !ok || err != nil {
			return statusNodeAffinity
		}
		return nil
	}
}

func preparePorts(pod *snapshot.PodInfo, _ *snapshot.Snapshot) nodeCheck {
	if len(pod.HostPorts) == 0 {
		return nil
	}
	return func(n *snapshot.NodeInfo) *Status {
		if n.PortsConflict(pod.HostPorts) {
			return statusNodePorts
		}
		return nil
	}
}

func prepareResources(pod *snapshot.PodInfo, _ *snapshot.Snapshot) nodeCheck {
	req := pod.Requests
	noRequests := req.MilliCPU == 0 && req.Memory == 0 && req.EphemeralStorage == 0 && len(req.Scalar) == 0
	return func(n *snapshot.NodeInfo) *Status {
		var reasons []string
		if int64(n.NumPods())+1 > n.AllowedPods {
			reasons = append(reasons, ReasonTooManyPods)
		}
		if noRequests {
			return resourceStatus(reasons)
		}
		if req.MilliCPU > 0 && req.MilliCPU > n.Allocatable.MilliCPU-n.Requested.MilliCPU {
			reasons = append(reasons, fmt.Sprintf(reasonInsufficientFmt, v1.ResourceCPU))
		}
		if req.Memory > 0 && req.Memory > n.Allocatable.Memory-n.Requested.Memory {
			reasons = append(reasons, fmt.Sprintf(reasonInsufficientFmt, v1.ResourceMemory))
		}
		if req.EphemeralStorage > 0 && req.EphemeralStorage > n.Allocatable.EphemeralStorage-n.Requested.EphemeralStorage {
			reasons = append(reasons, fmt.Sprintf(reasonInsufficientFmt, v1.ResourceEphemeralStorage))
		}
		if len(req.Scalar) > 0 {
			var short []string
			for name, q := range req.Scalar {
				if q > n.Allocatable.Scalar[name]-n.Requested.Scalar[name] {
					short = append(short, fmt.Sprintf(reasonInsufficientFmt, name))
				}
			}
			sort.Strings(short)
			reasons = append(reasons, short...)
		}
		return resourceStatus(reasons)
	}
}

func resourceStatus(reasons []string) *Status {
	if len(reasons) == 0 {
		return nil
	}
	return newStatus(NodeResourcesFit, false, reasons...)
}
