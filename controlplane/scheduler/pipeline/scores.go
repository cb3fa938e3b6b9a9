package pipeline

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// MaxScore is the best normalised score a scorer gives a node.
const MaxScore = 100

// scorer rates the feasible nodes for one pod. score gives a raw score;
// normalize, when set, maps the raw scores of all feasible nodes (nodes is
// parallel to scores) to 0..MaxScore; without it, score already is in that
// range.
type scorer struct {
	score     func(n *snapshot.NodeInfo) int64
	normalize func(nodes []*snapshot.NodeInfo, scores []int64)
}

// score is one named scoring plugin; prepare returns nil when it has
// nothing to say about the pod (every node would score the same).
type score struct {
	name    string
	weight  func(Weights) int64
	prepare func(pod *snapshot.PodInfo, s *snapshot.Snapshot) *scorer
}

var scores = []score{
	{NodeResourcesFit, func(w Weights) int64 { return w.LeastAllocated }, prepareLeastAllocated},
	{BalancedAllocation, func(w Weights) int64 { return w.BalancedAllocation }, prepareBalanced},
	{NodeAffinity, func(w Weights) int64 { return w.NodeAffinity }, prepareNodeAffinityScore},
	{TaintToleration, func(w Weights) int64 { return w.TaintToleration }, prepareTaintScore},
	{InterPodAffinity, func(w Weights) int64 { return w.InterPodAffinity }, prepareInterPodScore},
	{PodTopologySpread, func(w Weights) int64 { return w.TopologySpread }, prepareSpreadScore},
	{OwnerSpread, func(w Weights) int64 { return w.OwnerSpread }, prepareOwnerSpread},
	{ObservedUsage, func(w Weights) int64 { return w.ObservedUsage }, prepareObservedUsage},
}

// freeScore is MaxScore times the share of capacity left after placing
// want on top of used (0 when it does not fit or there is no capacity).
func freeScore(capacity, used, want int64) int64 {
	if capacity <= 0 || used+want > capacity {
		return 0
	}
	return (capacity - used - want) * MaxScore / capacity
}

// prepareLeastAllocated favours nodes with the most CPU and memory left
// unrequested once the pod is placed (kube-scheduler's LeastAllocated,
// equal weights).
func prepareLeastAllocated(pod *snapshot.PodInfo, _ *snapshot.Snapshot) *scorer {
	want := pod.NonZero
	return &scorer{score: func(n *snapshot.NodeInfo) int64 {
		return (freeScore(n.Allocatable.MilliCPU, n.NonZeroRequested.MilliCPU, want.MilliCPU) +
			freeScore(n.Allocatable.Memory, n.NonZeroRequested.Memory, want.Memory)) / 2
	}}
}

// prepareBalanced favours nodes whose CPU and memory would be requested in
// equal shares: MaxScore times one minus the standard deviation of the two
// fractions.
func prepareBalanced(pod *snapshot.PodInfo, _ *snapshot.Snapshot) *scorer {
	want := pod.NonZero
	return &scorer{score: func(n *snapshot.NodeInfo) int64 {
		c := fraction(n.NonZeroRequested.MilliCPU+want.MilliCPU, n.Allocatable.MilliCPU)
		m := fraction(n.NonZeroRequested.Memory+want.Memory, n.Allocatable.Memory)
		d := c - m
		if d < 0 {
			d = -d
		}
		return int64((1 - d/2) * MaxScore)
	}}
}

func fraction(used, capacity int64) float64 {
	if capacity <= 0 {
		return 1
	}
	return min(1, float64(used)/float64(capacity))
}

// prepareNodeAffinityScore sums the weights of the preferred node affinity
// terms a node matches, normalised to the best node.
func prepareNodeAffinityScore(pod *snapshot.PodInfo, _ *snapshot.Snapshot) *scorer {
	a := pod.Pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return nil
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return nil
	}
	return &scorer{
		score:     func(n *snapshot.NodeInfo) int64 { return terms.Score(n.Node) },
		normalize: normalizeToMax,
	}
}

// prepareTaintScore counts the PreferNoSchedule taints the pod does not
// tolerate; fewer is better.
func prepareTaintScore(pod *snapshot.PodInfo, _ *snapshot.Snapshot) *scorer {
	var tolerations []v1.Toleration
	for _, t := range pod.Pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			tolerations = append(tolerations, t)
		}
	}
	return &scorer{
		score: func(n *snapshot.NodeInfo) int64 {
			var c int64
			taints := n.Taints()
			for i := range taints {
				t := &taints[i]
				if t.Effect == v1.TaintEffectPreferNoSchedule && !tolerates(tolerations, t) {
					c++
				}
			}
			return c
		},
		normalize: normalizeToMaxReverse,
	}
}

// normalizeToMax scales scores so the highest is MaxScore, kube-scheduler's
// DefaultNormalizeScore.
func normalizeToMax(_ []*snapshot.NodeInfo, scores []int64) { scaleToMax(scores, false) }

// normalizeToMaxReverse is normalizeToMax for scores where lower is better.
func normalizeToMaxReverse(_ []*snapshot.NodeInfo, scores []int64) { scaleToMax(scores, true) }

func scaleToMax(scores []int64, reverse bool) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s)
	}
	for i, s := range scores {
		switch {
		case hi == 0 && reverse:
			scores[i] = MaxScore
		case hi == 0:
			scores[i] = 0
		case reverse:
			scores[i] = MaxScore - s*MaxScore/hi
		default:
			scores[i] = s * MaxScore / hi
		}
	}
}

// prepareOwnerSpread spreads the pods of one controller (ReplicaSet,
// StatefulSet, Job...) over nodes and zones (topology.kubernetes.io/zone,
// NodeInfo.Zone), as kube-scheduler's former SelectorSpread did: a third
// for the node, two thirds for the zone.
func prepareOwnerSpread(pod *snapshot.PodInfo, s *snapshot.Snapshot) *scorer {
	owner := pod.Owner
	if owner == "" {
		return nil
	}
	zones := map[string]int64{}
	// counts holds the nodes with pods of the owner (a few, of thousands
	// scored): a lookup by pointer is cheaper than in each node's map by
	// UID.
	counts := s.OwnerCounts(owner)
	for n, c := range counts {
		if z, ok := n.Zone(); ok {
			zones[z] += int64(c)
		}
	}
	return &scorer{
		score: func(n *snapshot.NodeInfo) int64 { return int64(counts[n]) },
		normalize: func(nodes []*snapshot.NodeInfo, scores []int64) {
			// zoneCount[i] is the owner's pods in node i's zone, -1 when
			// the node has no zone: one map lookup per node.
			zoneCount := make([]int64, len(nodes))
			var maxNode, maxZone int64
			haveZones := false
			for i, n := range nodes {
				maxNode = max(maxNode, scores[i])
				zoneCount[i] = -1
				if z, ok := n.Zone(); ok {
					haveZones = true
					zoneCount[i] = zones[z]
					maxZone = max(maxZone, zoneCount[i])
				}
			}
			for i := range nodes {
				f := float64(MaxScore)
				if maxNode > 0 {
					f = float64(MaxScore) * float64(maxNode-scores[i]) / float64(maxNode)
				}
				if haveZones {
					zs := float64(MaxScore)
					if zoneCount[i] >= 0 && maxZone > 0 {
						zs = float64(MaxScore) * float64(maxZone-zoneCount[i]) / float64(maxZone)
					}
					f = f/3 + zs*2/3
				}
				scores[i] = int64(f)
			}
		},
	}
}

// prepareObservedUsage favours nodes with the most CPU and memory left
// after the pod, by what the node really uses (its last usage sample plus
// what was placed since); a node without figures is judged by its
// requests.
func prepareObservedUsage(pod *snapshot.PodInfo, _ *snapshot.Snapshot) *scorer {
	want := pod.NonZero
	return &scorer{score: func(n *snapshot.NodeInfo) int64 {
		u, ok := n.ObservedUsage()
		if !ok {
			u = snapshot.Usage{MilliCPU: n.NonZeroRequested.MilliCPU, Memory: n.NonZeroRequested.Memory}
		}
		return (freeScore(n.Allocatable.MilliCPU, u.MilliCPU, want.MilliCPU) +
			freeScore(n.Allocatable.Memory, u.Memory, want.Memory)) / 2
	}}
}
