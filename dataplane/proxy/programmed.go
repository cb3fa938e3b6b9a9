package proxy

import (
	"context"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// tombstoneTTL is how long the record of a removed EndpointSlice is kept,
// so that a waiter for an older resourceVersion of it still returns.
const tombstoneTTL = time.Minute

// programmed records which resourceVersion of every EndpointSlice the
// Programmer holds, and when it got there, so that callers can wait for
// a write to reach the dataplane.
type programmed struct {
	mu      sync.Mutex
	slices  map[types.NamespacedName]sliceRecord
	bySvc   map[types.NamespacedName]map[string]struct{} // service -> slice names
	changed chan struct{}                                // closed and replaced on every record
	started time.Time                                    // trigger times before this are not observed
	lastGC  time.Time
}

type sliceRecord struct {
	svc     types.NamespacedName // the service that carries it
	rv      string
	at      time.Time // when the sync that programmed this state returned
	gone    bool      // removed from the dataplane
	trigger time.Time // the last change-trigger time observed for this slice
}

func newProgrammed(now time.Time) *programmed {
	return &programmed{
		slices:  make(map[types.NamespacedName]sliceRecord),
		bySvc:   make(map[types.NamespacedName]map[string]struct{}),
		changed: make(chan struct{}),
		started: now,
		lastGC:  now,
	}
}

// record notes that the service svc is programmed, at time at, from
// exactly these slices (none: the service is gone). It returns the
// change-trigger times not observed before, for the network programming
// latency metric.
func (p *programmed) record(svc types.NamespacedName, slices []*discoveryv1.EndpointSlice, at time.Time) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var triggers []time.Time
	names := make(map[string]struct{}, len(slices))
	for _, s := range slices {
		key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
		names[s.Name] = struct{}{}
		old := p.slices[key]
		rec := sliceRecord{svc: svc, rv: s.ResourceVersion, at: at, trigger: old.trigger}
		if !old.gone && old.rv == s.ResourceVersion {
			rec.at = old.at // unchanged: programmed earlier
		}
		if t := triggerTime(s); !t.IsZero() && t.After(p.started) && !t.Equal(old.trigger) {
			triggers = append(triggers, t)
			rec.trigger = t
		}
		p.slices[key] = rec
	}
	for name := range p.bySvc[svc] {
		if _, ok := names[name]; !ok {
			key := types.NamespacedName{Namespace: svc.Namespace, Name: name}
			if old := p.slices[key]; old.svc == svc { // not moved to another service
				p.slices[key] = sliceRecord{svc: svc, rv: old.rv, at: at, gone: true}
			}
		}
	}
	if len(names) == 0 {
		delete(p.bySvc, svc)
	} else {
		p.bySvc[svc] = names
	}
	p.gc(at)
	close(p.changed)
	p.changed = make(chan struct{})
	return triggers
}

// gc forgets tombstones older than tombstoneTTL, at most once per TTL.
func (p *programmed) gc(now time.Time) {
	if now.Sub(p.lastGC) < tombstoneTTL {
		return
	}
	p.lastGC = now
	for k, r := range p.slices {
		if r.gone && now.Sub(r.at) > tombstoneTTL {
			delete(p.slices, k)
		}
	}
}

// wait blocks until done reports true for the slice's record (ok is false
// when there is none) and returns the time done returned.
func (p *programmed) wait(ctx context.Context, key types.NamespacedName, done func(rec sliceRecord, ok bool) (time.Time, bool)) (time.Time, error) {
	for {
		p.mu.Lock()
		rec, ok := p.slices[key]
		at, finished := done(rec, ok)
		ch := p.changed
		p.mu.Unlock()
		if finished {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-ch:
		}
	}
}

// atLeast reports whether resourceVersion have is rv or later. skiff's
// resourceVersions are etcd revisions, which grow; other servers' opaque
// versions only compare equal.
func atLeast(have, rv string) bool {
	if have == rv {
		return true
	}
	h, err1 := strconv.ParseUint(have, 10, 64)
	w, err2 := strconv.ParseUint(rv, 10, 64)
	return err1 == nil && err2 == nil && h >= w
}

// triggerTime reads the endpoints.kubernetes.io/last-change-trigger-time
// annotation that the EndpointSlice controller sets to the time of the
// change (a Pod or Service update) that caused the slice's write.
func triggerTime(s *discoveryv1.EndpointSlice) time.Time {
	v, ok := s.Annotations[corev1.EndpointsLastChangeTriggerTime]
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t
}

// EndpointSliceProgrammed blocks until the dataplane carries the
// EndpointSlice namespace/name at resourceVersion or a later version (or
// has removed it since), and returns the time at which the sync that
// programmed it finished: the last map write (or iptables-restore) had
// returned, so from then on new connections see the slice's endpoints as
// written. The time is taken by the dataplane, so the caller's wake-up
// delay is not in it; it may precede the moment the caller's write was
// acknowledged, because the watch can deliver a change before the write's
// response arrives.
//
// A slice is carried once its Service exists; a slice without the
// kubernetes.io/service-name label is never carried, and the wait lasts
// until ctx ends. Pass the resourceVersion of the object returned by the
// Create or Update call.
func (p *Proxy) EndpointSliceProgrammed(ctx context.Context, namespace, name, resourceVersion string) (time.Time, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	return p.programmed.wait(ctx, key, func(rec sliceRecord, ok bool) (time.Time, bool) {
		return rec.at, ok && (rec.gone || atLeast(rec.rv, resourceVersion))
	})
}

// EndpointSliceRemoved blocks until nothing of the EndpointSlice
// namespace/name is left in the dataplane (it was deleted, lost its
// service label, or its Service is gone) and returns when that sync
// finished. A slice the dataplane never carried returns at once with the
// current time.
func (p *Proxy) EndpointSliceRemoved(ctx context.Context, namespace, name string) (time.Time, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	return p.programmed.wait(ctx, key, func(rec sliceRecord, ok bool) (time.Time, bool) {
		if !ok {
			return time.Now(), true
		}
		return rec.at, rec.gone
	})
}
