package simnode

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// heartbeater renews the Leases and statuses of all simulated nodes: one
// loop finds the nodes that are due, a fixed pool of workers makes the API
// calls, so that 5,000 nodes cost a handful of goroutines and their
// renewals spread over the interval.
type heartbeater struct {
	n    *Nodes
	tick time.Duration
	jobs chan *simNode
}

func newHeartbeater(n *Nodes) *heartbeater {
	tick := min(n.cfg.LeaseInterval, n.cfg.StatusInterval) / 20
	tick = max(min(tick, time.Second), 10*time.Millisecond)
	return &heartbeater{n: n, tick: tick, jobs: make(chan *simNode, 1024)}
}

func (h *heartbeater) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range h.n.cfg.Workers {
		wg.Go(func() {
			for s := range h.jobs {
				h.beat(ctx, s)
			}
		})
	}
	defer wg.Wait()
	defer close(h.jobs)
	t := time.NewTicker(h.tick)
	defer t.Stop()
	var due []*simNode
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		due = h.due(due[:0], time.Now())
		for _, s := range due {
			select {
			case h.jobs <- s:
			case <-ctx.Done():
				return
			}
		}
	}
}

// due collects the live nodes whose Lease or status is due and marks them
// busy until their beat is done.
func (h *heartbeater) due(out []*simNode, now time.Time) []*simNode {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	for _, s := range h.n.nodes {
		if s.dead || s.busy || (now.Before(s.leaseDue) && now.Before(s.statusDue)) {
			continue
		}
		s.busy = true
		out = append(out, s)
	}
	return out
}

// beat renews what is due of one node's Lease and status.
func (h *heartbeater) beat(ctx context.Context, s *simNode) {
	n := h.n
	n.mu.Lock()
	now := time.Now()
	lease, status := !now.Before(s.leaseDue), !now.Before(s.statusDue)
	n.mu.Unlock()
	var gone bool
	if lease {
		err := n.renewLease(ctx, s, now)
		if apierrors.IsNotFound(err) {
			// Lease gone: recreate it, unless the node is gone too.
			if _, err = n.cs.CoreV1().Nodes().Get(ctx, s.name, metav1.GetOptions{}); err == nil {
				err = n.createLease(ctx, s)
			}
			gone = apierrors.IsNotFound(err)
		}
		if err != nil && ctx.Err() == nil {
			n.log.Warn("heartbeat", "node", s.name, "err", err)
		}
	}
	if status && !gone {
		if err := n.patchStatus(ctx, s, now); err != nil && ctx.Err() == nil {
			gone = apierrors.IsNotFound(err)
			n.log.Warn("heartbeat", "node", s.name, "err", err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s.busy = false
	if gone {
		// Deleted behind our back: the node is no more.
		if n.nodes[s.name] == s {
			delete(n.nodes, s.name)
		}
		return
	}
	if lease {
		s.leaseDue = now.Add(n.cfg.LeaseInterval)
	}
	if status && !gone {
		s.statusDue = now.Add(n.cfg.StatusInterval)
	}
}
