package nodeipam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

var (
	errFull    = errors.New("no pod CIDR left")
	errOutside = errors.New("pod CIDR outside the cluster CIDR")
)

// maxCIDRs bounds the per-node CIDRs one cluster CIDR may split into.
const maxCIDRs = 1 << 20

// allocator hands out the node-sized subnets of a cluster CIDR, each to
// one node at a time. The search for a free one goes on from where the
// last one was found, so that a released CIDR is not handed out again at
// once (routes to it may linger).
type allocator struct {
	cluster netip.Prefix
	mask    int

	mu     sync.Mutex
	owners []owner        // by subnet index; zero when free
	byNode map[string]int // node name -> subnet index
	next   int            // where the next search starts
	count  int            // subnets in use
}

type owner struct {
	node string
	uid  types.UID
}

func newAllocator(cluster netip.Prefix, mask int) (*allocator, error) {
	cluster = cluster.Masked()
	if !cluster.Addr().Is4() {
		return nil, fmt.Errorf("cluster CIDR %s: only IPv4 is supported", cluster)
	}
	if mask < cluster.Bits() || mask > 32 {
		return nil, fmt.Errorf("node mask /%d does not fit in cluster CIDR %s", mask, cluster)
	}
	if mask-cluster.Bits() > 20 {
		return nil, fmt.Errorf("cluster CIDR %s splits into more than %d /%d subnets", cluster, maxCIDRs, mask)
	}
	return &allocator{cluster: cluster, mask: mask, owners: make([]owner, 1<<(mask-cluster.Bits())), byNode: map[string]int{}}, nil
}

func (a *allocator) size() int { return len(a.owners) }

func (a *allocator) used() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count
}

// subnet is the i-th node subnet.
func (a *allocator) subnet(i int) netip.Prefix {
	addr := addrValue(a.cluster.Addr()) + uint32(i)<<(32-a.mask)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], addr)
	return netip.PrefixFrom(netip.AddrFrom4(b), a.mask)
}

// index is p's subnet index.
func (a *allocator) index(p netip.Prefix) (int, error) {
	if !p.Addr().Is4() || p.Bits() != a.mask || !a.cluster.Contains(p.Addr()) || p.Masked() != p {
		return 0, fmt.Errorf("%w: %s is not a /%d of %s", errOutside, p, a.mask, a.cluster)
	}
	return int((addrValue(p.Addr()) - addrValue(a.cluster.Addr())) >> (32 - a.mask)), nil
}

func addrValue(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// occupy records that node uid has p and returns who owns p: the node
// itself, or another node that had it first.
func (a *allocator) occupy(p netip.Prefix, node string, uid types.UID) (string, error) {
	i, err := a.index(p)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if o := a.owners[i]; o.node != "" && o.node != node {
		return o.node, nil
	}
	if j, ok := a.byNode[node]; ok && j != i {
		a.freeLocked(j)
	}
	if a.owners[i].node == "" {
		a.count++
	}
	a.owners[i] = owner{node: node, uid: uid}
	a.byNode[node] = i
	return node, nil
}

// allocate returns the subnet of node uid: the one it was already given
// (fresh false) or a new one.
func (a *allocator) allocate(node string, uid types.UID) (p netip.Prefix, fresh bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.byNode[node]; ok {
		if a.owners[i].uid == uid {
			return a.subnet(i), false, nil
		}
		a.freeLocked(i) // an earlier node of the same name
	}
	for k := range len(a.owners) {
		i := (a.next + k) % len(a.owners)
		if a.owners[i].node == "" {
			a.owners[i] = owner{node: node, uid: uid}
			a.byNode[node] = i
			a.count++
			a.next = (i + 1) % len(a.owners)
			return a.subnet(i), true, nil
		}
	}
	return netip.Prefix{}, false, errFull
}

// release frees the subnet of node and returns it.
func (a *allocator) release(node string) (netip.Prefix, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := a.byNode[node]
	if !ok {
		return netip.Prefix{}, false
	}
	a.freeLocked(i)
	return a.subnet(i), true
}

// releaseIf frees the subnet of node if node uid holds it.
func (a *allocator) releaseIf(node string, uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.byNode[node]; ok && a.owners[i].uid == uid {
		a.freeLocked(i)
	}
}

func (a *allocator) freeLocked(i int) {
	delete(a.byNode, a.owners[i].node)
	a.owners[i] = owner{}
	a.count--
}
