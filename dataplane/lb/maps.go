package lb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Flags of the services map's master entries and of backends, as in bpf/skiff.h.
const (
	svcFlagNodePort    = 1 << 0
	svcFlagExtLocal    = 1 << 1
	svcFlagIntLocal    = 1 << 2
	svcFlagMaglev      = 1 << 3
	beFlagLocal        = 1 << 0
	beFlagActive       = 1 << 1
	beFlagTerminating  = 1 << 2
	ctFlagSNAT         = 1 << 0
	ctFlagClosing      = 1 << 1
	ctFlagSeenReply    = 1 << 2
	ctDirReply         = 1
	batchChunk         = 8192
	maglevBatch        = 512 // inner maps open at once while their tables are swapped in
	maxSlotsPerService = 1<<16 - 1
)

// ErrMapFull reports a BPF map that has no room for another entry.
var ErrMapFull = errors.New("bpf map full")

// MapError is a failed map write; it matches ErrMapFull when the map was
// full.
type MapError struct {
	Map string
	Err error
}

// Error names the map and the kernel's error.
func (e *MapError) Error() string { return fmt.Sprintf("map %s: %v", e.Map, e.Err) }

// Unwrap returns the kernel's error.
func (e *MapError) Unwrap() error { return e.Err }

// Is matches ErrMapFull for E2BIG and ENOSPC, the kernel's "full" errors.
func (e *MapError) Is(target error) bool {
	return target == ErrMapFull && (errors.Is(e.Err, unix.E2BIG) || errors.Is(e.Err, unix.ENOSPC))
}

// be32 returns an IPv4 address as the uint32 whose little-endian encoding
// is the address in network order: how bpf2go types a __be32 field.
func be32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return binary.LittleEndian.Uint32(b[:])
}

// addr4 is the inverse of be32.
func addr4(v uint32) netip.Addr {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// be16 swaps a port to and from network order as stored in a __be16.
func be16(p uint16) uint16 { return p<<8 | p>>8 }

// tableSum fingerprints a Maglev table's contents.
func tableSum(ids []uint32) uint64 {
	h := fnv.New64a()
	buf := make([]byte, 4*len(ids))
	for i, id := range ids {
		binary.LittleEndian.PutUint32(buf[4*i:], id)
	}
	h.Write(buf)
	return h.Sum64()
}

// puts is a list of map writes applied in one batch; done[i] runs once the
// kernel accepted entry i.
type puts[K, V any] struct {
	keys []K
	vals []V
	done []func()
}

func (p *puts[K, V]) add(k K, v V, done func()) {
	p.keys = append(p.keys, k)
	p.vals = append(p.vals, v)
	p.done = append(p.done, done)
}

func (p *puts[K, V]) apply(m kmap, name string) error {
	for start := 0; start < len(p.keys); start += batchChunk {
		end := min(start+batchChunk, len(p.keys))
		n, err := m.BatchUpdate(p.keys[start:end], p.vals[start:end], nil)
		for i := start; i < start+n; i++ {
			p.done[i]()
		}
		if err != nil {
			return &MapError{Map: name, Err: err}
		}
	}
	return nil
}

// dels is a list of map deletions applied in one batch. A key that is
// already gone counts as deleted.
type dels[K any] struct {
	keys []K
	done []func()
}

func (d *dels[K]) add(k K, done func()) {
	d.keys = append(d.keys, k)
	d.done = append(d.done, done)
}

func (d *dels[K]) apply(m kmap, name string) error {
	for i := 0; i < len(d.keys); {
		end := min(i+batchChunk, len(d.keys))
		n, err := m.BatchDelete(d.keys[i:end], nil)
		for j := i; j < i+n; j++ {
			d.done[j]()
		}
		i += n
		if err == nil {
			continue
		}
		if !errors.Is(err, ebpf.ErrKeyNotExist) {
			return &MapError{Map: name, Err: err}
		}
		// The batch stopped at a missing key: delete that one alone.
		if err := m.Delete(d.keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return &MapError{Map: name, Err: err}
		}
		d.done[i]()
		i++
	}
	return nil
}

// dump calls fn for every entry of a hash map, in batches.
func dump[K, V any](m *ebpf.Map, fn func(K, V)) error {
	var cursor ebpf.MapBatchCursor
	keys := make([]K, 4096)
	vals := make([]V, 4096)
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			fn(keys[i], vals[i])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
