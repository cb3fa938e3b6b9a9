package snapshot

import (
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Usage is a node's observed CPU and memory use, as the resource-metrics
// API reports it.
type Usage struct {
	MilliCPU int64
	Memory   int64
}

// NodeInfo is one node as the scheduler sees it: the Node object and the
// running totals of the pods placed on it. The pipeline only reads it; the
// Snapshot keeps it up to date.
type NodeInfo struct {
	// Node is the node object; nil while pods name a node the snapshot has
	// not seen (or no longer has).
	Node *v1.Node
	Name string

	Allocatable Resources
	AllowedPods int64
	// Requested is the sum of the placed pods' requests; NonZeroRequested
	// the same with the defaults for request-less containers (for scores).
	Requested        Resources
	NonZeroRequested Resources

	pods      []*PodInfo
	usedPorts []HostPort
	owners    map[types.UID]int32

	usage           *Usage
	nonZeroAtSample Resources
	index           int // position in Snapshot.nodes, -1 when not listed

	// zone is the node's topology.kubernetes.io/zone label, unschedulable
	// and taints its spec's, copied out of the Node so that filtering and
	// scoring thousands of nodes per pod do not chase it.
	zone          string
	hasZone       bool
	unschedulable bool
	taints        []v1.Taint
}

func newNodeInfo(name string) *NodeInfo {
	return &NodeInfo{Name: name, index: -1}
}

func (n *NodeInfo) setNode(node *v1.Node) {
	n.Node = node
	n.Allocatable = ResourcesFromList(node.Status.Allocatable)
	n.AllowedPods = node.Status.Allocatable.Pods().Value()
	n.zone, n.hasZone = node.Labels[v1.LabelTopologyZone]
	n.unschedulable = node.Spec.Unschedulable
	n.taints = node.Spec.Taints
}

// Taints returns the node's taints; the slice must not be changed.
func (n *NodeInfo) Taints() []v1.Taint {
	if n.Node == nil {
		return nil
	}
	return n.taints
}

// Unschedulable tells whether the node is cordoned (spec.unschedulable).
func (n *NodeInfo) Unschedulable() bool { return n.Node != nil && n.unschedulable }

// Index is the node's position in Snapshot.Nodes(), -1 when it is not
// listed; it is stable while the snapshot does not change.
func (n *NodeInfo) Index() int { return n.index }

// Pods returns the pods placed on the node; the slice must not be changed.
func (n *NodeInfo) Pods() []*PodInfo { return n.pods }

// NumPods is the number of pods placed on the node.
func (n *NodeInfo) NumPods() int { return len(n.pods) }

// Labels returns the node's labels (nil for a placeholder).
func (n *NodeInfo) Labels() map[string]string {
	if n.Node == nil {
		return nil
	}
	return n.Node.Labels
}

// Zone returns the node's topology.kubernetes.io/zone label, if it has one.
func (n *NodeInfo) Zone() (string, bool) {
	if n.Node == nil {
		return "", false
	}
	return n.zone, n.hasZone
}

// PortsConflict tells whether any of ports clashes with a host port already
// used on the node.
func (n *NodeInfo) PortsConflict(ports []HostPort) bool {
	for _, want := range ports {
		for _, used := range n.usedPorts {
			if want.Conflicts(used) {
				return true
			}
		}
	}
	return false
}

// OwnerCount is the number of pods of the controller owner on the node.
func (n *NodeInfo) OwnerCount(owner types.UID) int32 { return n.owners[owner] }

// ObservedUsage returns the node's last observed usage plus the non-zero
// requests of the pods placed since that sample (minus those removed), so
// that a burst of decisions between two samples does not pile onto the
// node that looked idle. ok is false when the node has no figures.
func (n *NodeInfo) ObservedUsage() (u Usage, ok bool) {
	if n.usage == nil {
		return Usage{}, false
	}
	u = *n.usage
	u.MilliCPU = max(0, u.MilliCPU+n.NonZeroRequested.MilliCPU-n.nonZeroAtSample.MilliCPU)
	u.Memory = max(0, u.Memory+n.NonZeroRequested.Memory-n.nonZeroAtSample.Memory)
	return u, true
}

// AddPod accounts pod to the node: requests, pod count, host ports, owner.
// The Snapshot calls it; preemption calls it on a Clone to simulate.
func (n *NodeInfo) AddPod(p *PodInfo) {
	n.pods = append(n.pods, p)
	n.Requested.Add(p.Requests)
	n.NonZeroRequested.Add(p.NonZero)
	n.usedPorts = append(n.usedPorts, p.HostPorts...)
	if p.Owner != "" {
		if n.owners == nil {
			n.owners = map[types.UID]int32{}
		}
		n.owners[p.Owner]++
	}
}

// RemovePod undoes AddPod for the pod with the given UID; it reports
// whether the pod was on the node.
func (n *NodeInfo) RemovePod(uid types.UID) bool {
	i := slices.IndexFunc(n.pods, func(p *PodInfo) bool { return p.Pod.UID == uid })
	if i < 0 {
		return false
	}
	p := n.pods[i]
	last := len(n.pods) - 1
	n.pods[i] = n.pods[last]
	n.pods[last] = nil
	n.pods = n.pods[:last]
	n.Requested.Sub(p.Requests)
	n.NonZeroRequested.Sub(p.NonZero)
	for _, hp := range p.HostPorts {
		if j := slices.Index(n.usedPorts, hp); j >= 0 {
			n.usedPorts = slices.Delete(n.usedPorts, j, j+1)
		}
	}
	if p.Owner != "" {
		if n.owners[p.Owner]--; n.owners[p.Owner] <= 0 {
			delete(n.owners, p.Owner)
		}
	}
	return true
}

// Clone returns a deep copy of the node's accounting (the Node and the
// PodInfos are shared: they are immutable), for what-if simulations.
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	c.Allocatable = n.Allocatable.Clone()
	c.Requested = n.Requested.Clone()
	c.NonZeroRequested = n.NonZeroRequested.Clone()
	c.pods = slices.Clone(n.pods)
	c.usedPorts = slices.Clone(n.usedPorts)
	if n.owners != nil {
		c.owners = make(map[types.UID]int32, len(n.owners))
		for k, v := range n.owners {
			c.owners[k] = v
		}
	}
	c.index = -1
	return &c
}
