// Package snapshot holds the scheduler's picture of the cluster: nodes with
// the running totals of the pods placed on them, and indexes that let the
// pipeline count pods by namespace, owner and affinity without walking the
// whole cluster. Every change (a pod or node added, updated, removed, a usage
// sample) is applied in time proportional to what changed.
//
// A Snapshot is not safe for concurrent use: the scheduler loop guards it
// with a lock, and the pipeline only reads it.
package snapshot

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Snapshot is the set of nodes and placed pods the pipeline schedules over.
// The zero value is not usable; call New.
type Snapshot struct {
	nodes  []*NodeInfo // real nodes, in no particular order
	byName map[string]*NodeInfo
	pods   map[types.UID]*placed

	byNamespace keyedSets[string]
	byLabel     keyedSets[nsLabel]
	// antiIndex files pods by the labels their required anti-affinity
	// terms select; scoreIndex by those of the terms scoring reads (required
	// affinity, preferred affinity and anti-affinity).
	antiIndex       termIndex
	scoreIndex      termIndex
	ownerNodes      map[types.UID]map[*NodeInfo]int32
	namespaceLabels map[string]labels.Set
	// domains counts the listed nodes per topology label value.
	domains map[string]map[string]int
}

// nsLabel is one label of pods of one namespace.
type nsLabel struct{ ns, key, value string }

// placed is a pod and the node it is placed on.
type placed struct {
	pod  *PodInfo
	node *NodeInfo
}

// New returns an empty Snapshot.
func New() *Snapshot {
	return &Snapshot{
		byName:          map[string]*NodeInfo{},
		pods:            map[types.UID]*placed{},
		byNamespace:     keyedSets[string]{},
		byLabel:         keyedSets[nsLabel]{},
		antiIndex:       newTermIndex(),
		scoreIndex:      newTermIndex(),
		ownerNodes:      map[types.UID]map[*NodeInfo]int32{},
		namespaceLabels: map[string]labels.Set{},
		domains:         map[string]map[string]int{},
	}
}

// Nodes returns the schedulable view: every node the snapshot has a Node
// object for. The slice is shared and must not be changed.
func (s *Snapshot) Nodes() []*NodeInfo { return s.nodes }

// NumNodes is len(Nodes()).
func (s *Snapshot) NumNodes() int { return len(s.nodes) }

// Node returns the node called name, or nil if the snapshot has no Node
// object for it.
func (s *Snapshot) Node(name string) *NodeInfo {
	if n := s.byName[name]; n != nil && n.Node != nil {
		return n
	}
	return nil
}

// NumPods is the number of placed pods.
func (s *Snapshot) NumPods() int { return len(s.pods) }

// Pod returns the placed pod with the given UID and the name of its node.
func (s *Snapshot) Pod(uid types.UID) (pod *PodInfo, node string, ok bool) {
	p := s.pods[uid]
	if p == nil {
		return nil, "", false
	}
	return p.pod, p.node.Name, true
}

// NamespaceLabels returns the labels of namespace ns (nil if unknown).
func (s *Snapshot) NamespaceLabels(ns string) labels.Set { return s.namespaceLabels[ns] }

// PodsMatching calls fn for every placed pod that sel selects in the
// namespaces inNamespace accepts (asked once per namespace). It walks only
// the pods carrying the label of sel's most selective key=value or key in
// (values) requirement, when sel has one.
func (s *Snapshot) PodsMatching(inNamespace func(ns string, nsLabels labels.Set) bool, sel labels.Selector, fn func(*PodInfo, *NodeInfo)) {
	if _, ok := sel.Requirements(); !ok {
		return // selects nothing
	}
	r, indexed := indexable(sel)
	for ns, set := range s.byNamespace {
		if !inNamespace(ns, s.namespaceLabels[ns]) {
			continue
		}
		if !indexed {
			matchEach(set, sel, fn)
			continue
		}
		for v := range r.Values() {
			if set := s.byLabel[nsLabel{ns, r.Key(), v}]; set != nil {
				matchEach(set, sel, fn)
			}
		}
	}
}

func matchEach(set *placedSet, sel labels.Selector, fn func(*PodInfo, *NodeInfo)) {
	for _, p := range set.items {
		if sel.Matches(labels.Set(p.pod.Pod.Labels)) {
			fn(p.pod, p.node)
		}
	}
}

// PodsWithAntiAffinityFor calls fn once for every placed pod with required
// anti-affinity terms that may select a pod labelled podLabels (the caller
// checks the terms).
func (s *Snapshot) PodsWithAntiAffinityFor(podLabels map[string]string, fn func(*PodInfo, *NodeInfo)) {
	s.antiIndex.candidates(podLabels, fn)
}

// PodsWithAffinityFor calls fn once for every placed pod with required
// affinity or preferred (anti-)affinity terms that may select a pod
// labelled podLabels (the caller checks the terms).
func (s *Snapshot) PodsWithAffinityFor(podLabels map[string]string, fn func(*PodInfo, *NodeInfo)) {
	s.scoreIndex.candidates(podLabels, fn)
}

// TopologyDomains returns, for a node label key, the number of listed
// nodes per value. The map is shared and must not be changed.
func (s *Snapshot) TopologyDomains(key string) map[string]int { return s.domains[key] }

// OwnerCounts returns the number of pods of the controller owner on each
// node that holds some. The map is shared and must not be changed.
func (s *Snapshot) OwnerCounts(owner types.UID) map[*NodeInfo]int32 { return s.ownerNodes[owner] }

// SetNode adds the node or replaces its object; pods already placed on it
// stay.
func (s *Snapshot) SetNode(node *v1.Node) {
	n := s.byName[node.Name]
	if n == nil {
		n = newNodeInfo(node.Name)
		s.byName[node.Name] = n
	}
	if n.Node != nil {
		s.countDomains(n.Node, -1)
	}
	n.setNode(node)
	s.countDomains(node, 1)
	if n.index < 0 {
		n.index = len(s.nodes)
		s.nodes = append(s.nodes, n)
	}
}

// RemoveNode removes the node from the schedulable view. Pods still placed
// on it keep being counted (for affinity and spreading) until they are
// removed.
func (s *Snapshot) RemoveNode(name string) {
	n := s.byName[name]
	if n == nil {
		return
	}
	if n.index >= 0 {
		last := len(s.nodes) - 1
		s.nodes[n.index] = s.nodes[last]
		s.nodes[n.index].index = n.index
		s.nodes[last] = nil
		s.nodes = s.nodes[:last]
		n.index = -1
	}
	if n.Node != nil {
		s.countDomains(n.Node, -1)
	}
	n.Node = nil
	if len(n.pods) == 0 {
		delete(s.byName, name)
	}
}

func (s *Snapshot) countDomains(node *v1.Node, d int) {
	for k, v := range node.Labels {
		m := s.domains[k]
		if m == nil {
			m = map[string]int{}
			s.domains[k] = m
		}
		if m[v] += d; m[v] <= 0 {
			delete(m, v)
			if len(m) == 0 {
				delete(s.domains, k)
			}
		}
	}
}

// AddPod places pod on the node called nodeName. A pod already placed (same
// UID) is moved and updated: the snapshot never counts a pod twice.
func (s *Snapshot) AddPod(pod *PodInfo, nodeName string) {
	s.RemovePod(pod.Pod.UID)
	n := s.byName[nodeName]
	if n == nil {
		n = newNodeInfo(nodeName)
		s.byName[nodeName] = n
	}
	p := &placed{pod: pod, node: n}
	s.pods[pod.Pod.UID] = p
	n.AddPod(pod)
	s.index(p, true)
	if pod.Owner != "" {
		m := s.ownerNodes[pod.Owner]
		if m == nil {
			m = map[*NodeInfo]int32{}
			s.ownerNodes[pod.Owner] = m
		}
		m[n]++
	}
}

// RemovePod removes the placed pod with the given UID; it reports whether
// there was one.
func (s *Snapshot) RemovePod(uid types.UID) bool {
	p := s.pods[uid]
	if p == nil {
		return false
	}
	delete(s.pods, uid)
	n := p.node
	n.RemovePod(uid)
	s.index(p, false)
	if o := p.pod.Owner; o != "" {
		m := s.ownerNodes[o]
		if m[n]--; m[n] <= 0 {
			delete(m, n)
			if len(m) == 0 {
				delete(s.ownerNodes, o)
			}
		}
	}
	if n.Node == nil && len(n.pods) == 0 {
		delete(s.byName, n.Name)
	}
	return true
}

// index files p in (add) or out of the pod indexes.
func (s *Snapshot) index(p *placed, add bool) {
	pod := p.pod.Pod
	update := s.byLabel.remove
	if add {
		update = s.byLabel.add
	}
	for k, v := range pod.Labels {
		update(nsLabel{pod.Namespace, k, v}, p)
	}
	if add {
		s.byNamespace.add(pod.Namespace, p)
	} else {
		s.byNamespace.remove(pod.Namespace, p)
	}
	s.antiIndex.update(p, p.pod.RequiredAntiAffinity, add)
	for _, terms := range [][]AffinityTerm{p.pod.RequiredAffinity, weighted(p.pod.PreferredAffinity), weighted(p.pod.PreferredAntiAffinity)} {
		s.scoreIndex.update(p, terms, add)
	}
}

func weighted(ts []WeightedAffinityTerm) []AffinityTerm {
	out := make([]AffinityTerm, len(ts))
	for i := range ts {
		out[i] = ts[i].AffinityTerm
	}
	return out
}

// SetNamespace records a namespace's labels, for affinity terms with a
// namespace selector.
func (s *Snapshot) SetNamespace(name string, l map[string]string) {
	s.namespaceLabels[name] = labels.Set(l)
}

// RemoveNamespace forgets a namespace's labels.
func (s *Snapshot) RemoveNamespace(name string) { delete(s.namespaceLabels, name) }

// SetUsage records an observed usage sample for a node; requests placed
// after it are added on top until the next sample (NodeInfo.ObservedUsage).
func (s *Snapshot) SetUsage(node string, u Usage) {
	if n := s.byName[node]; n != nil {
		n.usage = &u
		n.nonZeroAtSample = n.NonZeroRequested.Clone()
	}
}

// ClearUsage forgets a node's usage figures; scores fall back to requests.
func (s *Snapshot) ClearUsage(node string) {
	if n := s.byName[node]; n != nil {
		n.usage = nil
	}
}
