package dataplane

import (
	"log/slog"
	"net/netip"
	"sync"

	"skiff.dev/skiff/dataplane/lb"
)

// udpReaper destroys the connected UDP sockets of removed backends off the
// sync path: a removed backend takes no new traffic once the maps are
// written, and finding its sockets (a walk of sock_revnat, then of each
// owner's network namespace) must not delay the next sync.
type udpReaper struct {
	lb         *lb.LB
	cgroupRoot string
	log        *slog.Logger

	mu      sync.Mutex
	pending []netip.AddrPort
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func startUDPReaper(l *lb.LB, cgroupRoot string, log *slog.Logger) *udpReaper {
	r := &udpReaper{
		lb: l, cgroupRoot: cgroupRoot, log: log,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go r.run()
	return r
}

// add queues removed backends.
func (r *udpReaper) add(removed []netip.AddrPort) {
	if len(removed) == 0 {
		return
	}
	r.mu.Lock()
	r.pending = append(r.pending, removed...)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *udpReaper) run() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-r.wake:
		}
		r.mu.Lock()
		removed := r.pending
		r.pending = nil
		r.mu.Unlock()
		n, err := r.lb.DestroyUDPSockets(r.cgroupRoot, removed)
		if err != nil {
			r.log.Warn("destroy UDP sockets of removed backends", "err", err)
		}
		if n > 0 {
			r.log.Info("destroyed connected UDP sockets of removed backends", "sockets", n, "backends", removed)
		}
	}
}

// close stops the reaper and waits for a destruction in progress.
func (r *udpReaper) close() {
	close(r.stop)
	<-r.done
}
