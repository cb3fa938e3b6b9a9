package storage

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// LeaseManager hands out etcd leases for objects with a TTL (events), reusing
// one lease for all writes within a window instead of granting a lease per
// object. An object may therefore live up to the window longer than its TTL.
type LeaseManager struct {
	client *clientv3.Client
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	id     clientv3.LeaseID
	expiry time.Time
}

// NewLeaseManager returns a LeaseManager that reuses a lease for writes
// whose expiry falls within window of it.
func NewLeaseManager(client *clientv3.Client, window time.Duration) *LeaseManager {
	return &LeaseManager{client: client, window: window, now: time.Now}
}

// Lease returns a lease that expires between ttl and ttl+window seconds from
// now.
func (l *LeaseManager) Lease(ctx context.Context, ttl int64) (clientv3.LeaseID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	want := l.now().Add(time.Duration(ttl) * time.Second)
	if l.id != 0 && !l.expiry.Before(want) && l.expiry.Sub(want) <= l.window {
		return l.id, nil
	}
	grant := ttl + int64(l.window/time.Second)
	resp, err := l.client.Grant(ctx, grant)
	if err != nil {
		return 0, fmt.Errorf("grant lease of %ds: %w", grant, mapErr(err))
	}
	l.id = resp.ID
	l.expiry = l.now().Add(time.Duration(grant) * time.Second)
	return l.id, nil
}
