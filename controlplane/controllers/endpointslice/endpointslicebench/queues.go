package endpointslicebench

import (
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// QueueLatency is a workqueue.MetricsProvider that keeps every sample of
// the queue latency (from a key's add until a worker gets it, what
// kube-controller-manager exports as workqueue_queue_duration_seconds)
// and of the work duration (a worker's sync of one key) of each named
// queue, and follows how many keys wait in it. Give it to a controller's Config.QueueMetrics, or to
// workqueue.SetProvider to see every queue of a process.
type QueueLatency struct {
	mu     sync.Mutex
	queues map[string]*QueueSamples
	// depth is the keys waiting in each queue (added, not yet taken);
	// keys added with a delay count once the delay has passed.
	depth map[string]int
	// stopped drops samples from then on.
	stopped bool
}

// QueueSamples are one queue's samples.
type QueueSamples struct {
	Latency []time.Duration
	Work    []time.Duration
}

var _ workqueue.MetricsProvider = (*QueueLatency)(nil)

// NewQueueLatency returns an empty recorder.
func NewQueueLatency() *QueueLatency {
	return &QueueLatency{queues: map[string]*QueueSamples{}, depth: map[string]int{}}
}

// Take returns the samples recorded since the last Take, by queue name,
// and starts afresh. Every queue created so far has an entry, empty if it
// saw no work.
func (q *QueueLatency) Take() map[string]QueueSamples {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[string]QueueSamples, len(q.queues))
	for name, s := range q.queues {
		out[name] = QueueSamples{Latency: slices.Clip(s.Latency), Work: slices.Clip(s.Work)}
		*s = QueueSamples{}
	}
	return out
}

// Stop ends the recording: samples are dropped from then on (a provider
// set with workqueue.SetProvider cannot be removed). Waiting still works.
func (q *QueueLatency) Stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	q.queues = map[string]*QueueSamples{}
}

// Waiting returns the queues with keys waiting for a worker, and how
// many.
func (q *QueueLatency) Waiting() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]int{}
	for name, n := range q.depth {
		if n > 0 {
			out[name] = n
		}
	}
	return out
}

// Seen reports whether a queue called name was created with q as its
// metrics provider.
func (q *QueueLatency) Seen(name string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.queues[name]
	return ok
}

func (q *QueueLatency) samples(name string) *QueueSamples {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.queues[name]
	if !ok {
		s = &QueueSamples{}
		q.queues[name] = s
	}
	return s
}

// histogram appends observations (seconds) to one queue's latency or work
// samples.
type histogram struct {
	q    *QueueLatency
	s    *QueueSamples
	work bool
}

func (h histogram) Observe(seconds float64) {
	d := time.Duration(seconds * float64(time.Second))
	h.q.mu.Lock()
	defer h.q.mu.Unlock()
	if h.q.stopped {
		return
	}
	if h.work {
		h.s.Work = append(h.s.Work, d)
	} else {
		h.s.Latency = append(h.s.Latency, d)
	}
}

// depth follows how many keys wait in one queue.
type depth struct {
	q    *QueueLatency
	name string
}

func (d depth) Inc() { d.add(1) }
func (d depth) Dec() { d.add(-1) }

func (d depth) add(n int) {
	d.q.mu.Lock()
	defer d.q.mu.Unlock()
	d.q.depth[d.name] += n
}

// noop is every metric QueueLatency does not keep.
type noop struct{}

func (noop) Inc()        {}
func (noop) Dec()        {}
func (noop) Set(float64) {}

// NewLatencyMetric implements workqueue.MetricsProvider.
func (q *QueueLatency) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return histogram{q: q, s: q.samples(name)}
}

// NewWorkDurationMetric implements workqueue.MetricsProvider.
func (q *QueueLatency) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return histogram{q: q, s: q.samples(name), work: true}
}

// NewDepthMetric implements workqueue.MetricsProvider.
func (q *QueueLatency) NewDepthMetric(name string) workqueue.GaugeMetric {
	q.samples(name)
	return depth{q: q, name: name}
}

// NewAddsMetric implements workqueue.MetricsProvider.
func (q *QueueLatency) NewAddsMetric(string) workqueue.CounterMetric { return noop{} }

// NewRetriesMetric implements workqueue.MetricsProvider.
func (q *QueueLatency) NewRetriesMetric(string) workqueue.CounterMetric { return noop{} }

// NewUnfinishedWorkSecondsMetric implements workqueue.MetricsProvider.
func (q *QueueLatency) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}

// NewLongestRunningProcessorSecondsMetric implements
// workqueue.MetricsProvider.
func (q *QueueLatency) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}
