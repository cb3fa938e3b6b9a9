// Package pipeline decides where a pod goes: pure functions over a
// read-only snapshot.Snapshot, in kube-scheduler's shape. Filters drop the
// nodes the pod cannot run on, scorers rate the rest 0..MaxScore, and the
// weighted sum picks the node; when no node is left, a FitError says why,
// node by node, and Preempt may find lower-priority pods to evict. Nothing
// here talks to the API or keeps state between pods beyond a rotating start
// position: the scheduler loop (package scheduler) owns the queue, the
// cache and binding. See README.md beside the scheduler package.
package pipeline

import (
	"runtime"
	"sync"
	"sync/atomic"

	"skiff.dev/skiff/controlplane/scheduler/snapshot"
)

// Weights weighs each scorer in the final sum; 0 turns a scorer off.
type Weights struct {
	// LeastAllocated favours nodes with the most unrequested CPU and memory.
	LeastAllocated int64
	// BalancedAllocation favours nodes whose CPU and memory fill evenly.
	BalancedAllocation int64
	// NodeAffinity honours preferred node affinity terms.
	NodeAffinity int64
	// TaintToleration avoids PreferNoSchedule taints the pod does not
	// tolerate.
	TaintToleration int64
	// InterPodAffinity honours preferred pod (anti-)affinity terms.
	InterPodAffinity int64
	// TopologySpread honours ScheduleAnyway topology spread constraints.
	TopologySpread int64
	// OwnerSpread spreads the pods of one controller over nodes and zones.
	OwnerSpread int64
	// ObservedUsage favours nodes whose real CPU and memory use is low.
	ObservedUsage int64
}

// DefaultWeights returns kube-scheduler's default weights for the scorers
// it shares, and 2 for observed usage, so that what nodes really use counts
// twice as much as what pods requested.
func DefaultWeights() Weights {
	return Weights{
		LeastAllocated:     1,
		BalancedAllocation: 1,
		NodeAffinity:       2,
		TaintToleration:    3,
		InterPodAffinity:   2,
		TopologySpread:     2,
		OwnerSpread:        2,
		ObservedUsage:      2,
	}
}

// Config configures a Pipeline.
type Config struct {
	Weights Weights
	// Parallelism bounds the goroutines that filter and score one pod;
	// 0 means GOMAXPROCS.
	Parallelism int
	// PercentageOfNodesToScore stops the search once this share of the
	// nodes were found feasible (at least 100 nodes), as kube-scheduler
	// does; 0 picks it from the cluster size (50% minus 1% per 125 nodes,
	// at least 5%), 100 always looks at every node. It never makes a filter
	// less strict: every node scored passed every filter.
	PercentageOfNodesToScore int32
}

// Result is where a pod goes.
type Result struct {
	Node string
	// Evaluated is the number of nodes run through the filters, Feasible
	// the number that passed and were scored.
	Evaluated int
	Feasible  int
}

// Pipeline runs filters and scorers. It is safe for concurrent use.
type Pipeline struct {
	cfg     Config
	next    atomic.Int64 // where the next search starts, so nodes take turns
	buffers sync.Pool
}

// New returns a Pipeline for cfg.
func New(cfg Config) *Pipeline {
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = runtime.GOMAXPROCS(0)
	}
	return &Pipeline{cfg: cfg}
}

// buffers are per-call scratch slices, pooled to spare the garbage
// collector at thousands of pods per second.
type buffers struct {
	statuses []*Status
	feasible []*snapshot.NodeInfo
	scores   []int64
}

func (p *Pipeline) getBuffers(nodes int) *buffers {
	b, _ := p.buffers.Get().(*buffers)
	if b == nil {
		b = &buffers{}
	}
	if cap(b.statuses) < nodes {
		b.statuses = make([]*Status, nodes)
	}
	b.statuses = b.statuses[:nodes]
	b.feasible = b.feasible[:0]
	return b
}

// Schedule picks a node for pod. It reads s and nothing else; the caller
// must keep s unchanged during the call.
func (p *Pipeline) Schedule(pod *snapshot.PodInfo, s *snapshot.Snapshot) (Result, *FitError) {
	n := s.NumNodes()
	if n == 0 {
		return Result{}, &FitError{}
	}
	checks := prepareChecks(pod, s)
	if name := pod.Pod.Status.NominatedNodeName; name != "" {
		if ni := s.Node(name); ni != nil && runChecks(checks, ni) == nil {
			return Result{Node: name, Evaluated: 1, Feasible: 1}, nil
		}
	}
	b := p.getBuffers(n)
	defer p.buffers.Put(b)
	evaluated, fe := p.findFeasible(checks, s.Nodes(), numFeasibleToFind(p.cfg.PercentageOfNodesToScore, n), b)
	if fe != nil {
		return Result{Evaluated: evaluated}, fe
	}
	best := p.pickBest(pod, s, b)
	return Result{Node: best.Name, Evaluated: evaluated, Feasible: len(b.feasible)}, nil
}

func prepareChecks(pod *snapshot.PodInfo, s *snapshot.Snapshot) []nodeCheck {
	checks := make([]nodeCheck, 0, len(filters))
	for _, f := range filters {
		if c := f.prepare(pod, s); c != nil {
			checks = append(checks, c)
		}
	}
	return checks
}

func runChecks(checks []nodeCheck, n *snapshot.NodeInfo) *Status {
	for _, c := range checks {
		if st := c(n); st != nil {
			return st
		}
	}
	return nil
}

// Thresholds of the adaptive search, kube-scheduler's.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

func numFeasibleToFind(pct int32, all int) int {
	if all < minFeasibleNodesToFind || pct >= 100 {
		return all
	}
	if pct <= 0 {
		pct = max(50-int32(all/125), minFeasibleNodesPercentageToFind)
	}
	return max(all*int(pct)/100, minFeasibleNodesToFind)
}

// findFeasible runs the checks over the nodes, starting where the last
// search stopped, until want nodes passed or every node was seen. Work is
// split in chunks taken in order by up to Parallelism goroutines, so the
// nodes seen always form a prefix of the rotation and the outcome does not
// depend on timing. It fills b.feasible, or returns a FitError listing every
// node when none passed.
func (p *Pipeline) findFeasible(checks []nodeCheck, nodes []*snapshot.NodeInfo, want int, b *buffers) (int, *FitError) {
	n := len(nodes)
	start := int(p.next.Load() % int64(n))
	var found atomic.Int64
	seen := p.parallel(n, chunkSize(want, p.cfg.Parallelism), func() bool { return found.Load() >= int64(want) }, func(lo, hi int) {
		var ok int64
		for i := lo; i < hi; i++ {
			st := runChecks(checks, nodes[(start+i)%n])
			b.statuses[i] = st
			if st == nil {
				ok++
			}
		}
		found.Add(ok)
	})
	last := seen
	for i := 0; i < seen; i++ {
		if b.statuses[i] == nil {
			b.feasible = append(b.feasible, nodes[(start+i)%n])
			if len(b.feasible) == want {
				last = i + 1
				break
			}
		}
	}
	p.next.Store(int64((start + last) % n))
	if len(b.feasible) > 0 {
		return last, nil
	}
	fe := &FitError{NumAllNodes: n, Failures: make([]NodeFailure, seen)}
	for i := range seen {
		fe.Failures[i] = NodeFailure{Node: nodes[(start+i)%n].Name, Status: b.statuses[i]}
	}
	return seen, fe
}

// chunkSize keeps chunks small enough that the search does not overshoot
// want by much, and large enough to amortise taking one.
func chunkSize(want, workers int) int {
	return min(max(want/(4*workers), 8), 256)
}

// parallel calls fn on consecutive chunks [lo, hi) of [0, n), taken in
// order by up to Parallelism goroutines (the caller's included), until
// stop reports true or the chunks run out. It returns how far it got: every
// index below it was processed, none at or above it.
func (p *Pipeline) parallel(n, chunk int, stop func() bool, fn func(lo, hi int)) int {
	var next atomic.Int64
	work := func() {
		for !stop() {
			lo := int(next.Add(1)-1) * chunk
			if lo >= n {
				return
			}
			fn(lo, min(lo+chunk, n))
		}
	}
	workers := min(p.cfg.Parallelism, (n+chunk-1)/chunk)
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return min(int(next.Load())*chunk, n)
}

func never() bool { return false }

// pickBest scores b.feasible and returns the node with the highest
// weighted sum; ties go to the first in search order, which rotates.
func (p *Pipeline) pickBest(pod *snapshot.PodInfo, s *snapshot.Snapshot, b *buffers) *snapshot.NodeInfo {
	nodes := b.feasible
	if len(nodes) == 1 {
		return nodes[0]
	}
	var active []*scorer
	var weights []int64
	for _, sc := range scores {
		w := sc.weight(p.cfg.Weights)
		if w <= 0 {
			continue
		}
		if x := sc.prepare(pod, s); x != nil {
			active = append(active, x)
			weights = append(weights, w)
		}
	}
	if len(active) == 0 {
		return nodes[0]
	}
	f := len(nodes)
	if cap(b.scores) < f*len(active) {
		b.scores = make([]int64, f*len(active))
	}
	raw := b.scores[:f*len(active)]
	p.parallel(f, chunkSize(f, p.cfg.Parallelism), never, func(lo, hi int) {
		for j, sc := range active {
			row := raw[j*f : (j+1)*f]
			for i := lo; i < hi; i++ {
				row[i] = sc.score(nodes[i])
			}
		}
	})
	for j, sc := range active {
		if sc.normalize != nil {
			sc.normalize(nodes, raw[j*f:(j+1)*f])
		}
	}
	best, bestScore := 0, int64(-1)
	for i := range f {
		var total int64
		for j, w := range weights {
			total += w * raw[j*f+i]
		}
		if total > bestScore {
			best, bestScore = i, total
		}
	}
	return nodes[best]
}
