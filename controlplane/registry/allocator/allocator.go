// Package allocator hands out values from a range — service cluster IPs
// from the service CIDR and node ports from the node port range — backed by
// one etcd key per taken value. The keys are written in the same
// transaction as the object that holds them, so a value is never given
// twice, survives restarts, and is freed exactly when its holder goes.
// The allocator keeps a bitmap of taken values, fed by a watch on the keys,
// to pick a free value without reading them all.
package allocator

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrFull means every value of the range is taken.
var ErrFull = errors.New("range is full")

// reservationTTL is how long a value picked but not yet seen as taken stays
// off-limits to other picks.
const reservationTTL = 30 * time.Second

// Range allocates the values of one range.
type Range struct {
	client *clientv3.Client
	prefix string
	size   int
	// static is the size of the low band that dynamic picks avoid while the
	// rest has room, so that well-known static values stay free.
	static  int
	desc    string
	valueOf func(i int) string
	indexOf func(v string) (int, bool)

	mu       sync.Mutex
	taken    []bool
	used     int
	reserved map[int]time.Time

	readyOnce sync.Once
	ready     chan struct{}
	readyErr  error
}

// NewIPRange returns the allocator of the addresses of a CIDR, minus its
// network and broadcast addresses. Keys live under prefix.
func NewIPRange(client *clientv3.Client, prefix string, cidr netip.Prefix) (*Range, error) {
	if !cidr.Addr().Is4() {
		return nil, fmt.Errorf("service CIDR %s: only IPv4 is supported", cidr)
	}
	bits := 32 - cidr.Bits()
	if bits < 2 || bits > 24 {
		return nil, fmt.Errorf("service CIDR %s: prefix length must be between /8 and /30", cidr)
	}
	base := cidr.Masked().Addr()
	size := 1<<bits - 2
	baseInt := new(big.Int).SetBytes(base.AsSlice())
	r := newRange(client, prefix, size, min(max(16, size/16), 256))
	r.desc = cidr.Masked().String()
	r.valueOf = func(i int) string {
		b := new(big.Int).Add(baseInt, big.NewInt(int64(i+1))).FillBytes(make([]byte, 4))
		return netip.AddrFrom4([4]byte(b)).String()
	}
	r.indexOf = func(v string) (int, bool) {
		a, err := netip.ParseAddr(v)
		if err != nil || !cidr.Contains(a) {
			return 0, false
		}
		i := int(new(big.Int).Sub(new(big.Int).SetBytes(a.AsSlice()), baseInt).Int64()) - 1
		return i, i >= 0 && i < size
	}
	return r, nil
}

// NewPortRange returns the allocator of ports base..base+size-1.
func NewPortRange(client *clientv3.Client, prefix string, base, size int) (*Range, error) {
	if base < 1 || size < 1 || base+size-1 > 65535 {
		return nil, fmt.Errorf("port range %d-%d is invalid", base, base+size-1)
	}
	r := newRange(client, prefix, size, min(max(16, size/32), 128))
	r.desc = fmt.Sprintf("%d-%d", base, base+size-1)
	r.valueOf = func(i int) string { return strconv.Itoa(base + i) }
	r.indexOf = func(v string) (int, bool) {
		p, err := strconv.Atoi(v)
		return p - base, err == nil && p >= base && p < base+size
	}
	return r, nil
}

func newRange(client *clientv3.Client, prefix string, size, static int) *Range {
	if static > size/2 {
		// Too small a range to set values aside.
		static = 0
	}
	return &Range{
		client: client, prefix: prefix, size: size, static: static,
		taken: make([]bool, size), reserved: map[int]time.Time{}, ready: make(chan struct{}),
	}
}

// Key returns the claim key of a value.
func (r *Range) Key(value string) string { return r.prefix + value }

// Contains reports whether value lies in the range.
func (r *Range) Contains(value string) bool {
	_, ok := r.indexOf(value)
	return ok
}

// String describes the range: a CIDR or "first-last".
func (r *Range) String() string { return r.desc }

// Size is the number of values in the range.
func (r *Range) Size() int { return r.size }

// Start loads the taken values and follows changes until ctx is done. If
// the watch breaks (compaction, leader loss) it reloads and follows again.
func (r *Range) Start(ctx context.Context) error {
	for {
		rev, err := r.load(ctx)
		r.readyOnce.Do(func() {
			r.readyErr = err
			close(r.ready)
		})
		if err != nil {
			return err
		}
		wch := r.client.Watch(clientv3.WithRequireLeader(ctx), r.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wr := range wch {
			if wr.Err() != nil {
				break
			}
			r.mu.Lock()
			for _, ev := range wr.Events {
				r.setLocked(strings.TrimPrefix(string(ev.Kv.Key), r.prefix), ev.Type == clientv3.EventTypePut)
			}
			r.mu.Unlock()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// load rebuilds the bitmap from the keys and returns their revision.
func (r *Range) load(ctx context.Context) (int64, error) {
	resp, err := r.client.Get(ctx, r.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, fmt.Errorf("load %s: %w", r.prefix, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.taken = make([]bool, r.size)
	r.used = 0
	for _, kv := range resp.Kvs {
		r.setLocked(strings.TrimPrefix(string(kv.Key), r.prefix), true)
	}
	return resp.Header.Revision, nil
}

func (r *Range) setLocked(value string, taken bool) {
	i, ok := r.indexOf(value)
	if !ok || r.taken[i] == taken {
		return
	}
	r.taken[i] = taken
	if taken {
		r.used++
		delete(r.reserved, i)
	} else {
		r.used--
	}
}

// Next picks a free value and reserves it briefly; the caller claims its
// key in the transaction that stores the holder. Values of the static band
// are picked only when the rest is full.
func (r *Range) Next(ctx context.Context) (string, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if r.readyErr != nil {
		return "", r.readyErr
	}
	v, err := r.pick()
	if errors.Is(err, ErrFull) {
		// The watch may not have caught up with a release yet: read the
		// keys afresh before saying the range is full.
		if _, lerr := r.load(ctx); lerr != nil {
			return "", lerr
		}
		v, err = r.pick()
	}
	return v, err
}

// pick chooses a free value from the bitmap and reserves it.
func (r *Range) pick() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for i, t := range r.reserved {
		if now.Sub(t) > reservationTTL {
			delete(r.reserved, i)
		}
	}
	// Prefer the dynamic band, then the static one; as a last resort take
	// a value reserved by a pick whose write never came (the claim in the
	// write's transaction is what guarantees uniqueness).
	for _, pass := range []struct {
		lo, hi       int
		skipReserved bool
	}{{r.static, r.size, true}, {0, r.static, true}, {0, r.size, false}} {
		if i, ok := r.scan(pass.lo, pass.hi, pass.skipReserved); ok {
			r.reserved[i] = now
			return r.valueOf(i), nil
		}
	}
	return "", ErrFull
}

// scan looks for a free index in [lo, hi), starting at a random offset.
func (r *Range) scan(lo, hi int, skipReserved bool) (int, bool) {
	n := hi - lo
	if n <= 0 {
		return 0, false
	}
	start := rand.IntN(n)
	for k := range n {
		i := lo + (start+k)%n
		if _, res := r.reserved[i]; !r.taken[i] && (!res || !skipReserved) {
			return i, true
		}
	}
	return 0, false
}

// MarkTaken records that a value is held (its claim failed because another
// object has it), so that the next pick avoids it before the watch catches up.
func (r *Range) MarkTaken(value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.indexOf(value); ok {
		r.reserved[i] = time.Now()
	}
}

// Used returns how many values are taken, for metrics.
func (r *Range) Used() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used
}
