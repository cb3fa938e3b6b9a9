package pipeline

import (
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// spreadConstraint is a parsed topologySpreadConstraint.
type spreadConstraint struct {
	maxSkew       int32
	key           string
	selector      labels.Selector
	minDomains    int32
	honorAffinity bool // nodeAffinityPolicy, Honor by default
	honorTaints   bool // nodeTaintsPolicy, Ignore by default
}

func parseSpread(pod *v1.Pod, when v1.UnsatisfiableConstraintAction) ([]spreadConstraint, error) {
	var out []spreadConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != when {
			continue
		}
		sel, err := snapshot.SelectorWithLabelKeys(c.LabelSelector, pod.Labels, c.MatchLabelKeys, nil)
		if err != nil {
			return nil, fmt.Errorf("topology spread constraint %q: %w", c.TopologyKey, err)
		}
		sc := spreadConstraint{
			maxSkew:       c.MaxSkew,
			key:           c.TopologyKey,
			selector:      sel,
			minDomains:    1,
			honorAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor,
			honorTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor,
		}
		if c.MinDomains != nil {
			sc.minDomains = *c.MinDomains
		}
		out = append(out, sc)
	}
	return out, nil
}

// spreadCounts is, per constraint, the number of matching pods in each
// topology domain of the nodes the constraint counts (domains without
// pods may be missing), and the number of such domains.
type spreadCounts struct {
	counts  []map[string]int32
	domains []int
}

// countSpread counts, for each constraint, the pods of pod's namespace
// that its selector matches, by domain, over the nodes that carry every
// constraint's key and pass the constraint's inclusion policies. In the
// common case (one topology key, no node affinity or taint policy to
// honour) the domains come from the snapshot's index and no node is
// visited; only the matching pods are.
func countSpread(pod *snapshot.PodInfo, s *snapshot.Snapshot, cs []spreadConstraint) spreadCounts {
	sc := spreadCounts{counts: make([]map[string]int32, len(cs)), domains: make([]int, len(cs))}
	for i := range cs {
		sc.counts[i] = map[string]int32{}
	}
	var eligible func(n *snapshot.NodeInfo, i int) bool
	if key, ok := simpleSpread(pod, cs); ok {
		for i := range cs {
			sc.domains[i] = len(s.TopologyDomains(key))
		}
		eligible = func(n *snapshot.NodeInfo, _ int) bool {
			if n.Node == nil {
				return false
			}
			_, ok := n.Node.Labels[key]
			return ok
		}
	} else {
		masks := eligibleNodes(pod, s, cs, sc)
		eligible = func(n *snapshot.NodeInfo, i int) bool {
			return n.Index() >= 0 && masks[n.Index()]&(1<<uint(i)) != 0
		}
	}
	ns := pod.Pod.Namespace
	sameNamespace := func(n string, _ labels.Set) bool { return n == ns }
	for i, c := range cs {
		s.PodsMatching(sameNamespace, c.selector, func(p *snapshot.PodInfo, n *snapshot.NodeInfo) {
			if p.Pod.DeletionTimestamp == nil && eligible(n, i) {
				sc.counts[i][n.Node.Labels[c.key]]++
			}
		})
	}
	return sc
}

// simpleSpread tells whether every constraint uses the same key and counts
// every node that has it, and returns the key.
func simpleSpread(pod *snapshot.PodInfo, cs []spreadConstraint) (string, bool) {
	spec := &pod.Pod.Spec
	nodeAffinity := len(spec.NodeSelector) > 0 || (spec.Affinity != nil && spec.Affinity.NodeAffinity != nil &&
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil)
	for _, c := range cs {
		if c.key != cs[0].key || c.honorTaints || (c.honorAffinity && nodeAffinity) {
			return "", false
		}
	}
	return cs[0].key, true
}

// eligibleNodes walks the nodes: for each node (by Index) a bit per
// constraint that counts it; it records the domains in sc.
func eligibleNodes(pod *snapshot.PodInfo, s *snapshot.Snapshot, cs []spreadConstraint, sc spreadCounts) []uint64 {
	aff := nodeaffinity.GetRequiredNodeAffinity(pod.Pod)
	masks := make([]uint64, s.NumNodes())
	for _, n := range s.Nodes() {
		if !hasKeys(n, cs) {
			continue
		}
		for i, c := range cs {
			if c.honorAffinity {
				if ok, err := aff.Match(n.Node); !ok || err != nil {
					continue
				}
			}
			if c.honorTaints && untolerated(pod.Pod.Spec.Tolerations, n.Node.Spec.Taints) {
				continue
			}
			masks[n.Index()] |= 1 << uint(i)
			sc.counts[i][n.Node.Labels[c.key]] += 0
		}
	}
	for i := range cs {
		sc.domains[i] = len(sc.counts[i])
	}
	return masks
}

func hasKeys(n *snapshot.NodeInfo, cs []spreadConstraint) bool {
	for _, c := range cs {
		if _, ok := n.Node.Labels[c.key]; !ok {
			return false
		}
	}
	return true
}

func untolerated(tolerations []v1.Toleration, taints []v1.Taint) bool {
	for i := range taints {
		t := &taints[i]
		if (t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute) && !tolerates(tolerations, t) {
			return true
		}
	}
	return false
}

func prepareSpreadFilter(pod *snapshot.PodInfo, s *snapshot.Snapshot) nodeCheck {
	cs, err := parseSpread(pod.Pod, v1.DoNotSchedule)
	if err != nil {
		return invalidPod(PodTopologySpread, err)
	}
	if len(cs) == 0 {
		return nil
	}
	sc := countSpread(pod, s, cs)
	minMatch := make([]int32, len(cs))
	self := make([]int32, len(cs))
	for i, c := range cs {
		minMatch[i] = minCount(sc.counts[i], sc.domains[i], c.minDomains)
		if c.selector.Matches(labels.Set(pod.Pod.Labels)) {
			self[i] = 1
		}
	}
	missing := newStatus(PodTopologySpread, true, ReasonSpreadMissingLabel)
	skewed := newStatus(PodTopologySpread, false, ReasonSpread)
	return func(n *snapshot.NodeInfo) *Status {
		for i, c := range cs {
			v, ok := n.Node.Labels[c.key]
			if !ok {
				return missing
			}
			if sc.counts[i][v]+self[i]-minMatch[i] > c.maxSkew {
				return skewed
			}
		}
		return nil
	}
}

// minCount is the smallest count over the domains: 0 when a domain has no
// entry (no matching pod) or there are fewer domains than minDomains (the
// missing ones count as empty).
func minCount(counts map[string]int32, domains int, minDomains int32) int32 {
	if int32(domains) < minDomains || len(counts) < domains {
		return 0
	}
	m := int32(math.MaxInt32)
	for _, c := range counts {
		m = min(m, c)
	}
	if m == math.MaxInt32 {
		return 0
	}
	return m
}

// invalidPod is the check for a pod whose spec the filter cannot parse:
// it fits no node, and says why.
func invalidPod(plugin string, err error) nodeCheck {
	st := newStatus(plugin, true, err.Error())
	return func(*snapshot.NodeInfo) *Status { return st }
}

// prepareSpreadScore scores ScheduleAnyway constraints as kube-scheduler
// does: the fewer matching pods in a node's domains (weighted by the log
// of the number of domains), the higher; nodes lacking a key score 0.
func prepareSpreadScore(pod *snapshot.PodInfo, s *snapshot.Snapshot) *scorer {
	cs, err := parseSpread(pod.Pod, v1.ScheduleAnyway)
	if err != nil || len(cs) == 0 {
		return nil
	}
	sc := countSpread(pod, s, cs)
	weights := make([]float64, len(cs))
	for i := range cs {
		weights[i] = math.Log(float64(sc.domains[i] + 2))
	}
	return &scorer{
		score: func(n *snapshot.NodeInfo) int64 {
			if !hasKeys(n, cs) {
				return ignoredScore
			}
			var f float64
			for i, c := range cs {
				f += float64(sc.counts[i][n.Node.Labels[c.key]])*weights[i] + float64(c.maxSkew-1)
			}
			return int64(math.Round(f))
		},
		normalize: normalizeSpread,
	}
}

// ignoredScore marks a node a scorer has no opinion on; it ends at 0.
const ignoredScore = -1

func normalizeSpread(_ []*snapshot.NodeInfo, scores []int64) {
	minS, maxS := int64(math.MaxInt64), int64(0)
	for _, s := range scores {
		if s == ignoredScore {
			continue
		}
		minS, maxS = min(minS, s), max(maxS, s)
	}
	for i, s := range scores {
		switch {
		case s == ignoredScore:
			scores[i] = 0
		case maxS == 0:
			scores[i] = MaxScore
		default:
			scores[i] = MaxScore * (maxS + minS - s) / maxS
		}
	}
}
