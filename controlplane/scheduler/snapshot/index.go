package snapshot

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// placedSet is a set with O(1) insert, delete and dense iteration.
type placedSet struct {
	items []*placed
	pos   map[*placed]int
}

func (s *placedSet) add(p *placed) {
	if s.pos == nil {
		s.pos = map[*placed]int{}
	}
	if _, ok := s.pos[p]; ok {
		return
	}
	s.pos[p] = len(s.items)
	s.items = append(s.items, p)
}

func (s *placedSet) remove(p *placed) {
	i, ok := s.pos[p]
	if !ok {
		return
	}
	last := len(s.items) - 1
	s.items[i] = s.items[last]
	s.pos[s.items[i]] = i
	s.items[last] = nil
	s.items = s.items[:last]
	delete(s.pos, p)
}

// labelPair is one label, key and value.
type labelPair struct{ key, value string }

// keyedSets maps a key to the placed pods filed under it, dropping empty
// sets.
type keyedSets[K comparable] map[K]*placedSet

func (m keyedSets[K]) add(k K, p *placed) {
	s := m[k]
	if s == nil {
		s = &placedSet{}
		m[k] = s
	}
	s.add(p)
}

func (m keyedSets[K]) remove(k K, p *placed) {
	if s := m[k]; s != nil {
		s.remove(p)
		if len(s.items) == 0 {
			delete(m, k)
		}
	}
}

// indexable returns the requirement of sel that names the fewest label
// values (key = value, or key in (values)), or false when it has none.
func indexable(sel labels.Selector) (labels.Requirement, bool) {
	reqs, ok := sel.Requirements()
	if !ok {
		return labels.Requirement{}, false
	}
	var best labels.Requirement
	found := false
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			if !found || r.Values().Len() < best.Values().Len() {
				best, found = r, true
			}
		}
	}
	return best, found
}

// termIndex files the pods whose affinity terms may select other pods by
// the label those terms require, so that finding the existing pods whose
// terms select an incoming pod costs time in proportion to the candidates,
// not to every pod with terms.
type termIndex struct {
	byLabel keyedSets[labelPair]
	// other holds the pods with a term that requires no single label.
	other placedSet
}

func newTermIndex() termIndex { return termIndex{byLabel: keyedSets[labelPair]{}} }

func (x *termIndex) update(p *placed, terms []AffinityTerm, add bool) {
	for i := range terms {
		r, ok := indexable(terms[i].Selector)
		if !ok {
			if add {
				x.other.add(p)
			} else {
				x.other.remove(p)
			}
			continue
		}
		for v := range r.Values() {
			k := labelPair{r.Key(), v}
			if add {
				x.byLabel.add(k, p)
			} else {
				x.byLabel.remove(k, p)
			}
		}
	}
}

// candidates calls fn once for every pod filed under one of the labels, or
// under other.
func (x *termIndex) candidates(podLabels map[string]string, fn func(*PodInfo, *NodeInfo)) {
	var seen map[*placed]struct{}
	visit := func(p *placed) {
		if seen == nil {
			seen = map[*placed]struct{}{}
		}
		if _, dup := seen[p]; dup {
			return
		}
		seen[p] = struct{}{}
		fn(p.pod, p.node)
	}
	for k, v := range podLabels {
		if set := x.byLabel[labelPair{k, v}]; set != nil {
			for _, p := range set.items {
				visit(p)
			}
		}
	}
	for _, p := range x.other.items {
		visit(p)
	}
}
