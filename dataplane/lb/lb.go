package lb

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/model"
)

var _ model.Programmer = (*LB)(nil)

// Replace makes the maps hold exactly these services and writes only what
// differs from their current contents: after a restart with pinned maps,
// an unchanged cluster costs no writes.
func (lb *LB) Replace(ctx context.Context, services []model.Service) error {
	return lb.eng.sync(ctx, services, nil, true)
}

// Update programs the services in upsert and removes those in remove in
// one sync; only their changed entries are written, each map in one
// batch per phase.
func (lb *LB) Update(ctx context.Context, upsert []model.Service, remove []types.NamespacedName) error {
	return lb.eng.sync(ctx, upsert, remove, false)
}

// TakeRemovedUDPBackends returns the UDP backends removed since the last
// call, whose connected sockets should be destroyed.
func (lb *LB) TakeRemovedUDPBackends() []netip.AddrPort { return lb.eng.takeRemovedUDP() }

// SetNodeAddrs sets the node addresses that accept NodePort traffic.
func (lb *LB) SetNodeAddrs(addrs []netip.Addr) error {
	want := make(map[uint32]bool, len(addrs))
	for _, a := range addrs {
		if a.Is4() {
			want[be32(a)] = true
		}
	}
	m := lb.objs.NodeAddrs
	var stale []uint32
	var k uint32
	var v bpfNodeAddr
	it := m.Iterate()
	for it.Next(&k, &v) {
		if !want[k] {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read node addresses: %w", err)
	}
	for k := range want {
		if err := m.Update(k, bpfNodeAddr{}, ebpf.UpdateAny); err != nil {
			return &MapError{Map: "node_addrs", Err: err}
		}
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return &MapError{Map: "node_addrs", Err: err}
		}
	}
	return nil
}
