// Package resourcemetrics serves the resource metrics API
// (metrics.k8s.io/v1beta1: NodeMetrics and PodMetrics, what `kubectl top`,
// the HorizontalPodAutoscaler and the scheduler's observed-usage score
// read) from memory. Node agents report their figures to it; nothing is
// written to etcd per node per interval. Figures older than MaxAge are
// dropped, so a dead node's usage disappears with it.
//
// The write path is skiff's own (the Kubernetes API has none, since
// metrics-server scrapes kubelets): an agent PUTs its NodeMetrics to
// /apis/metrics.k8s.io/v1beta1/nodes/<node> and the PodMetricsList of the
// pods it runs to /apis/metrics.k8s.io/v1beta1/nodes/<node>/pods.
package resourcemetrics

import (
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// Store keeps the latest figures of each node and its pods.
type Store struct {
	maxAge time.Duration
	now    func() time.Time

	mu    sync.RWMutex
	nodes map[string]*nodeEntry
}

type nodeEntry struct {
	node   *metricsv1beta1.NodeMetrics
	nodeAt time.Time
	pods   map[types.NamespacedName]*metricsv1beta1.PodMetrics
	podsAt time.Time
}

// NewStore returns an empty store whose figures expire after maxAge.
func NewStore(maxAge time.Duration) *Store {
	return &Store{maxAge: maxAge, now: time.Now, nodes: map[string]*nodeEntry{}}
}

func (s *Store) entry(node string) *nodeEntry {
	e := s.nodes[node]
	if e == nil {
		e = &nodeEntry{}
		s.nodes[node] = e
	}
	return e
}

// PutNode records a node's figures.
func (s *Store) PutNode(m *metricsv1beta1.NodeMetrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(m.Name)
	e.node, e.nodeAt = m.DeepCopy(), s.now()
}

// PutPods replaces the figures of the pods running on a node.
func (s *Store) PutPods(node string, list *metricsv1beta1.PodMetricsList) {
	pods := make(map[types.NamespacedName]*metricsv1beta1.PodMetrics, len(list.Items))
	for i := range list.Items {
		p := list.Items[i].DeepCopy()
		pods[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(node)
	e.pods, e.podsAt = pods, s.now()
}

func (s *Store) fresh(at time.Time) bool { return s.now().Sub(at) <= s.maxAge }

// Node returns a node's figures, if fresh.
func (s *Store) Node(name string) (*metricsv1beta1.NodeMetrics, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.nodes[name]
	if e == nil || e.node == nil || !s.fresh(e.nodeAt) {
		return nil, false
	}
	return e.node.DeepCopy(), true
}

// Nodes returns the fresh figures of the nodes whose labels match, sorted
// by name.
func (s *Store) Nodes(sel labels.Selector) []metricsv1beta1.NodeMetrics {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []metricsv1beta1.NodeMetrics
	for _, e := range s.nodes {
		if e.node != nil && s.fresh(e.nodeAt) && sel.Matches(labels.Set(e.node.Labels)) {
			out = append(out, *e.node.DeepCopy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Pods returns the fresh figures of the pods of a namespace (all when ns
// is empty) whose labels match, sorted by namespace and name.
func (s *Store) Pods(ns string, sel labels.Selector) []metricsv1beta1.PodMetrics {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []metricsv1beta1.PodMetrics
	for _, e := range s.nodes {
		if !s.fresh(e.podsAt) {
			continue
		}
		for key, p := range e.pods {
			if (ns == "" || key.Namespace == ns) && sel.Matches(labels.Set(p.Labels)) {
				out = append(out, *p.DeepCopy())
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Pod returns one pod's figures, if fresh.
func (s *Store) Pod(ns, name string) (*metricsv1beta1.PodMetrics, bool) {
	key := types.NamespacedName{Namespace: ns, Name: name}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.nodes {
		if p, ok := e.pods[key]; ok && s.fresh(e.podsAt) {
			return p.DeepCopy(), true
		}
	}
	return nil, false
}

// NodeUsage implements the scheduler's UsageSource: a node's CPU in
// millicores and memory in bytes.
func (s *Store) NodeUsage(node string) (cpuMilli, memBytes int64, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.nodes[node]
	if e == nil || e.node == nil || !s.fresh(e.nodeAt) {
		return 0, 0, false
	}
	return e.node.Usage.Cpu().MilliValue(), e.node.Usage.Memory().Value(), true
}
