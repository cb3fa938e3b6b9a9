package pipeline

import (
	"fmt"
	"math"
	"slices"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// Preemption is a plan to make room for a pod: evict Victims from Node,
// then schedule the pod there (it is nominated to the node meanwhile).
type Preemption struct {
	Node    string
	Victims []*snapshot.PodInfo
}

const minPreemptionCandidates = 100

var statusNoVictims = newStatus("DefaultPreemption", true, ReasonNoPreemptionVictims)

// Preempt looks, after Schedule failed with fe, for the node where evicting
// the fewest and least important pods of lower priority (pod.Spec.Priority)
// lets pod pass every filter. When there is none it sets fe.PostFilterMsg
// to kube-scheduler's "preemption: 0/N nodes are available: ..." verdict and
// returns nil.
//
// Only nodes that failed for reasons removing pods can fix (resources, host
// ports, anti-affinity, spreading) are tried. Pods the preemptor has a
// required affinity to are never victims. PodDisruptionBudgets are not
// consulted yet.
func (p *Pipeline) Preempt(pod *snapshot.PodInfo, s *snapshot.Snapshot, fe *FitError) *Preemption {
	if pp := pod.Pod.Spec.PreemptionPolicy; pp != nil && *pp == v1.PreemptNever {
		fe.PostFilterMsg = preemptionNotEligibleNever
		return nil
	}
	if terminatingVictimOnNominated(pod, s) {
		fe.PostFilterMsg = preemptionNotEligibleNominated
		return nil
	}
	checks := prepareChecks(pod, s)
	counts := map[string]int{}
	var best *Preemption
	var bestRank rank
	// Like kube-scheduler, stop once enough candidates were found (10% of
	// the nodes, at least 100): the best of them is good enough.
	enough, found := max(fe.NumAllNodes/10, minPreemptionCandidates), 0
	for _, f := range fe.Failures {
		if found >= enough {
			break
		}
		n := s.Node(f.Node)
		if f.Status.Unresolvable || n == nil {
			counts[ReasonPreemptionNotHelpful]++
			continue
		}
		victims, st := selectVictims(pod, n, checks, s)
		if st != nil {
			for _, r := range st.Reasons {
				counts[r]++
			}
			continue
		}
		found++
		if r := rankOf(victims); best == nil || r.less(bestRank) {
			best, bestRank = &Preemption{Node: n.Name, Victims: victims}, r
		}
	}
	if best == nil {
		fe.PostFilterMsg = fmt.Sprintf("preemption: 0/%d nodes are available: %s.", fe.NumAllNodes, histogram(counts))
	}
	return best
}

// terminatingVictimOnNominated tells whether the pod already preempted: its
// nominated node still has a lower-priority pod on its way out. Preempting
// again would evict more pods than needed.
func terminatingVictimOnNominated(pod *snapshot.PodInfo, s *snapshot.Snapshot) bool {
	n := s.Node(pod.Pod.Status.NominatedNodeName)
	if n == nil {
		return false
	}
	for _, p := range n.Pods() {
		if p.Pod.DeletionTimestamp != nil && p.Priority < pod.Priority {
			return true
		}
	}
	return false
}

// selectVictims removes every lower-priority pod from a copy of n; if pod
// then fits, it puts them back most important first while pod still fits,
// and the rest are the victims.
func selectVictims(pod *snapshot.PodInfo, n *snapshot.NodeInfo, checks []nodeCheck, s *snapshot.Snapshot) ([]*snapshot.PodInfo, *Status) {
	nsLabels := func(p *snapshot.PodInfo) map[string]string { return s.NamespaceLabels(p.Pod.Namespace) }
	var lower []*snapshot.PodInfo
	for _, p := range n.Pods() {
		if p.Priority < pod.Priority && !matchesAny(p, nsLabels(p), pod.RequiredAffinity) {
			lower = append(lower, p)
		}
	}
	if len(lower) == 0 {
		return nil, statusNoVictims
	}
	sim := n.Clone()
	for _, v := range lower {
		sim.RemovePod(v.Pod.UID)
	}
	if st := runChecks(checks, sim); st != nil {
		return nil, st
	}
	slices.SortStableFunc(lower, func(a, b *snapshot.PodInfo) int {
		if a.Priority != b.Priority {
			return int(b.Priority) - int(a.Priority)
		}
		return a.Pod.CreationTimestamp.Compare(b.Pod.CreationTimestamp.Time)
	})
	var victims []*snapshot.PodInfo
	for _, v := range lower {
		sim.AddPod(v)
		if runChecks(checks, sim) != nil {
			sim.RemovePod(v.Pod.UID)
			victims = append(victims, v)
		}
	}
	return victims, nil
}

func matchesAny(p *snapshot.PodInfo, nsLabels map[string]string, terms []snapshot.AffinityTerm) bool {
	for i := range terms {
		if terms[i].Matches(p, nsLabels) {
			return true
		}
	}
	return false
}

// rank orders preemption candidates as kube-scheduler does (without
// PodDisruptionBudgets): lowest highest victim priority, then lowest sum of
// priorities, then fewest victims.
type rank struct {
	highest int32
	sum     int64
	count   int
}

func rankOf(victims []*snapshot.PodInfo) rank {
	r := rank{highest: math.MinInt32, count: len(victims)}
	for _, v := range victims {
		r.highest = max(r.highest, v.Priority)
		// Shifted so that negative priorities still add up to more victims
		// costing more.
		r.sum += int64(v.Priority) + math.MaxInt32 + 1
	}
	return r
}

func (r rank) less(o rank) bool {
	if r.highest != o.highest {
		return r.highest < o.highest
	}
	if r.sum != o.sum {
		return r.sum < o.sum
	}
	return r.count < o.count
}
