package pipeline

import (
	"math"

	"k8s.io/apimachinery/pkg/labels"

	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// topologyPair is one topology domain: a node label key and value.
type topologyPair struct{ key, value string }

// pairCounts counts pods (or sums weights) per topology domain.
type pairCounts map[topologyPair]int64

func (m pairCounts) add(n *snapshot.NodeInfo, key string, v int64) {
	if value, ok := n.Labels()[key]; ok {
		m[topologyPair{key, value}] += v
	}
}

// matchesAll tells whether p is selected by every one of terms (true for
// none).
func matchesAll(p *snapshot.PodInfo, nsLabels labels.Set, terms []snapshot.AffinityTerm) bool {
	for i := range terms {
		if !terms[i].Matches(p, nsLabels) {
			return false
		}
	}
	return true
}

// inScope returns a namespace filter that accepts the namespaces the term
// can select pods from.
func inScope(t *snapshot.AffinityTerm) func(string, labels.Set) bool {
	return t.MatchesNamespace
}

func prepareInterPodAffinity(pod *snapshot.PodInfo, s *snapshot.Snapshot) nodeCheck {
	podNsLabels := s.NamespaceLabels(pod.Pod.Namespace)
	// Domains where an existing pod's required anti-affinity selects the
	// incoming pod.
	forbidden := pairCounts{}
	s.PodsWithAntiAffinityFor(pod.Pod.Labels, func(e *snapshot.PodInfo, n *snapshot.NodeInfo) {
		for i := range e.RequiredAntiAffinity {
			t := &e.RequiredAntiAffinity[i]
			if t.Matches(pod, podNsLabels) {
				forbidden.add(n, t.TopologyKey, 1)
			}
		}
	})
	aff, anti := pod.RequiredAffinity, pod.RequiredAntiAffinity
	if len(forbidden) == 0 && len(aff) == 0 && len(anti) == 0 {
		return nil
	}
	affCounts, antiCounts := pairCounts{}, pairCounts{}
	if len(aff) > 0 {
		// A pod counts only if it matches every term: walk the first
		// term's matches and check the rest.
		s.PodsMatching(inScope(&aff[0]), aff[0].Selector, func(p *snapshot.PodInfo, n *snapshot.NodeInfo) {
			if matchesAll(p, s.NamespaceLabels(p.Pod.Namespace), aff[1:]) {
				for i := range aff {
					affCounts.add(n, aff[i].TopologyKey, 1)
				}
			}
		})
	}
	for i := range anti {
		t := &anti[i]
		s.PodsMatching(inScope(t), t.Selector, func(_ *snapshot.PodInfo, n *snapshot.NodeInfo) {
			antiCounts.add(n, t.TopologyKey, 1)
		})
	}
	// The first pod of a group that has affinity to itself may go anywhere
	// its topology keys exist, or it would stay pending forever.
	selfStarter := len(aff) > 0 && len(affCounts) == 0 && matchesAll(pod, podNsLabels, aff)
	forbiddenByKey := map[string]map[string]bool{}
	for p := range forbidden {
		if forbiddenByKey[p.key] == nil {
			forbiddenByKey[p.key] = map[string]bool{}
		}
		forbiddenByKey[p.key][p.value] = true
	}
	stAff := newStatus(InterPodAffinity, true, ReasonAffinityRules)
	stAnti := newStatus(InterPodAffinity, false, ReasonAntiAffinityRules)
	stExisting := newStatus(InterPodAffinity, false, ReasonExistingAntiAffinity)
	return func(n *snapshot.NodeInfo) *Status {
		l := n.Node.Labels
		podsExist := true
		for i := range aff {
			v, ok := l[aff[i].TopologyKey]
			if !ok {
				return stAff
			}
			if affCounts[topologyPair{aff[i].TopologyKey, v}] <= 0 {
				podsExist = false
			}
		}
		if !podsExist && !selfStarter {
			return stAff
		}
		for i := range anti {
			if v, ok := l[anti[i].TopologyKey]; ok && antiCounts[topologyPair{anti[i].TopologyKey, v}] > 0 {
				return stAnti
			}
		}
		for key, values := range forbiddenByKey {
			if v, ok := l[key]; ok && values[v] {
				return stExisting
			}
		}
		return nil
	}
}

// hardAffinityWeight is the weight an existing pod's required affinity to
// the incoming pod carries in scoring (kube-scheduler's default).
const hardAffinityWeight = 1

// prepareInterPodScore sums, per topology domain, the weights of the
// preferred terms that place the incoming pod near (positive) or away from
// (negative) existing pods, in both directions, and scores each node by the
// sum over its domains, min-max normalised.
func prepareInterPodScore(pod *snapshot.PodInfo, s *snapshot.Snapshot) *scorer {
	sums := pairCounts{}
	podNsLabels := s.NamespaceLabels(pod.Pod.Namespace)
	pref, prefAnti := pod.PreferredAffinity, pod.PreferredAntiAffinity
	for _, ts := range []struct {
		terms []snapshot.WeightedAffinityTerm
		sign  int64
	}{{pref, 1}, {prefAnti, -1}} {
		for i := range ts.terms {
			t := &ts.terms[i]
			s.PodsMatching(inScope(&t.AffinityTerm), t.Selector, func(_ *snapshot.PodInfo, n *snapshot.NodeInfo) {
				sums.add(n, t.TopologyKey, ts.sign*int64(t.Weight))
			})
		}
	}
	s.PodsWithAffinityFor(pod.Pod.Labels, func(e *snapshot.PodInfo, n *snapshot.NodeInfo) {
		for i := range e.RequiredAffinity {
			if t := &e.RequiredAffinity[i]; t.Matches(pod, podNsLabels) {
				sums.add(n, t.TopologyKey, hardAffinityWeight)
			}
		}
		for _, t := range e.PreferredAffinity {
			if t.Matches(pod, podNsLabels) {
				sums.add(n, t.TopologyKey, int64(t.Weight))
			}
		}
		for _, t := range e.PreferredAntiAffinity {
			if t.Matches(pod, podNsLabels) {
				sums.add(n, t.TopologyKey, -int64(t.Weight))
			}
		}
	})
	if len(sums) == 0 {
		return nil
	}
	byKey := map[string]map[string]int64{}
	for p, v := range sums {
		if byKey[p.key] == nil {
			byKey[p.key] = map[string]int64{}
		}
		byKey[p.key][p.value] += v
	}
	return &scorer{
		score: func(n *snapshot.NodeInfo) int64 {
			var total int64
			for key, values := range byKey {
				if v, ok := n.Node.Labels[key]; ok {
					total += values[v]
				}
			}
			return total
		},
		normalize: normalizeMinMax,
	}
}

// normalizeMinMax maps the lowest score to 0 and the highest to MaxScore
// (all 0 when they are equal).
func normalizeMinMax(_ []*snapshot.NodeInfo, scores []int64) {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		lo, hi = min(lo, s), max(hi, s)
	}
	for i, s := range scores {
		if hi > lo {
			scores[i] = MaxScore * (s - lo) / (hi - lo)
		} else {
			scores[i] = 0
		}
	}
}
