package lb

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"skiff.dev/skiff/dataplane/model"
)

// ServiceEntry is one frontend as the BPF maps hold it, with its backends:
// what `skiff dataplane services` prints.
type ServiceEntry struct {
	ID       uint32
	Kind     model.Kind
	Addr     netip.Addr // zero for a NodePort
	Port     uint16
	Protocol model.Protocol
	// ExternalLocal, InternalLocal: the traffic policies.
	ExternalLocal, InternalLocal bool
	// Maglev reports a Maglev table (NodePorts with backends).
	Maglev          bool
	AffinityTimeout time.Duration
	// Active is the number of backends that take new connections.
	Active   int
	Backends []BackendEntry
}

// String renders the frontend, e.g. "10.96.0.10:80/TCP" or "NodePort :30080/TCP".
func (s ServiceEntry) String() string {
	if s.Kind == model.NodePort {
		return fmt.Sprintf("NodePort :%d/%s", s.Port, s.Protocol)
	}
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(s.Addr, s.Port), s.Protocol)
}

// BackendEntry is one backend of a frontend.
type BackendEntry struct {
	ID    uint32
	Addr  netip.AddrPort
	State model.State
	Local bool
	// Slot is the backend's slot (1..Active) when it takes new connections.
	Slot int
}

// ConntrackEntry is one NodePort conntrack entry.
type ConntrackEntry struct {
	Protocol model.Protocol
	// Reply is false for the client->frontend entry, true for the reply
	// direction (backend -> client or SNAT address).
	Reply bool
	// Src and Dst are the tuple as seen on the wire.
	Src, Dst netip.AddrPort
	Client   netip.AddrPort
	Frontend netip.AddrPort
	Backend  netip.AddrPort
	// SNAT is the node address and port the flow uses toward a remote
	// backend; invalid without SNAT.
	SNAT      netip.AddrPort
	Closing   bool
	SeenReply bool
	// Expires is the time left before the entry expires.
	Expires   time.Duration
	ServiceID uint32
	BackendID uint32
}

// ListServices reads the frontends from the maps pinned under pinDir.
func ListServices(pinDir string) ([]ServiceEntry, error) {
	svc, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "services"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open services map: %w", err)
	}
	defer svc.Close()
	be, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "backends"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open backends map: %w", err)
	}
	defer be.Close()
	mag, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "maglev"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open maglev map: %w", err)
	}
	defer mag.Close()
	return listServices(svc, be, mag)
}

// Services reads the frontends from this LB's maps.
func (lb *LB) Services() ([]ServiceEntry, error) {
	return listServices(lb.objs.Services, lb.objs.Backends, lb.objs.Maglev)
}

func listServices(svcMap, beMap, magMap *ebpf.Map) ([]ServiceEntry, error) {
	byKey := make(map[feKey]*ServiceEntry)
	slots := make(map[feKey]map[uint32]int)
	err := dump(svcMap, func(k bpfSvcKey, v bpfSvcValue) {
		key := feKey{addr: k.Addr, port: k.Port, proto: k.Proto}
		if k.Slot != 0 {
			if slots[key] == nil {
				slots[key] = make(map[uint32]int)
			}
			slots[key][v.Id] = int(k.Slot)
			return
		}
		e := &ServiceEntry{
			ID:              v.Id,
			Addr:            addr4(k.Addr),
			Port:            be16(k.Port),
			Protocol:        model.Protocol(k.Proto),
			ExternalLocal:   v.Flags&svcFlagExtLocal != 0,
			InternalLocal:   v.Flags&svcFlagIntLocal != 0,
			AffinityTimeout: time.Duration(v.AffinityTimeout) * time.Second,
			Active:          int(v.Count),
		}
		if v.Flags&svcFlagNodePort != 0 {
			e.Kind, e.Addr = model.NodePort, netip.Addr{}
		}
		var inner uint32
		e.Maglev = magMap.Lookup(v.Id, &inner) == nil
		byKey[key] = e
	})
	if err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	byID := make(map[uint32]*ServiceEntry, len(byKey))
	keyOf := make(map[uint32]feKey, len(byKey))
	for k, e := range byKey {
		byID[e.ID] = e
		keyOf[e.ID] = k
	}
	err = dump(beMap, func(id uint32, v bpfBackend) {
		e := byID[v.SvcId]
		if e == nil {
			return
		}
		b := BackendEntry{ID: id, Addr: netip.AddrPortFrom(addr4(v.Addr), be16(v.Port)), Local: v.Flags&beFlagLocal != 0}
		switch {
		case v.Flags&beFlagActive != 0:
			b.State = model.Active
		case v.Flags&beFlagTerminating != 0:
			b.State = model.Terminating
		default:
			b.State = model.NotReady
		}
		if s, ok := slots[keyOf[e.ID]][id]; ok && s <= e.Active {
			b.Slot = s
		}
		e.Backends = append(e.Backends, b)
	})
	if err != nil {
		return nil, fmt.Errorf("read backends: %w", err)
	}
	out := make([]ServiceEntry, 0, len(byKey))
	for _, e := range byKey {
		slices.SortFunc(e.Backends, func(a, b BackendEntry) int { return a.Addr.Compare(b.Addr) })
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b ServiceEntry) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
	})
	return out, nil
}

// ListConntrack reads the NodePort conntrack entries pinned under pinDir.
func ListConntrack(pinDir string) ([]ConntrackEntry, error) {
	ct, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "conntrack"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open conntrack map: %w", err)
	}
	defer ct.Close()
	return listConntrack(ct)
}

// Conntrack reads this LB's conntrack entries.
func (lb *LB) Conntrack() ([]ConntrackEntry, error) { return listConntrack(lb.objs.Conntrack) }

func listConntrack(m *ebpf.Map) ([]ConntrackEntry, error) {
	now, err := monotonicNow()
	if err != nil {
		return nil, err
	}
	var out []ConntrackEntry
	err = dump(m, func(k bpfCtKey, v bpfCtEntry) {
		e := ConntrackEntry{
			Protocol:  model.Protocol(k.Proto),
			Reply:     k.Dir == ctDirReply,
			Src:       netip.AddrPortFrom(addr4(k.Saddr), be16(k.Sport)),
			Dst:       netip.AddrPortFrom(addr4(k.Daddr), be16(k.Dport)),
			Client:    netip.AddrPortFrom(addr4(v.ClientAddr), be16(v.ClientPort)),
			Frontend:  netip.AddrPortFrom(addr4(v.FrontendAddr), be16(v.FrontendPort)),
			Backend:   netip.AddrPortFrom(addr4(v.BackendAddr), be16(v.BackendPort)),
			Closing:   v.Flags&ctFlagClosing != 0,
			SeenReply: v.Flags&ctFlagSeenReply != 0,
			Expires:   time.Duration(int64(v.Expires) - now),
			ServiceID: v.SvcId,
			BackendID: v.BackendId,
		}
		if v.Flags&ctFlagSNAT != 0 {
			e.SNAT = netip.AddrPortFrom(addr4(v.SnatAddr), be16(v.SnatPort))
		}
		out = append(out, e)
	})
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, fmt.Errorf("read conntrack: %w", err)
	}
	slices.SortFunc(out, func(a, b ConntrackEntry) int {
		return cmp.Or(a.Client.Compare(b.Client), a.Src.Compare(b.Src), cmp.Compare(btoi(a.Reply), btoi(b.Reply)))
	})
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// monotonicNow is bpf_ktime_get_ns's clock, in nanoseconds.
func monotonicNow() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return ts.Nano(), nil
}

// GCConntrack deletes expired conntrack entries and returns how many. The
// LRU map bounds memory by itself; collecting keeps listings and fill
// levels meaningful.
func (lb *LB) GCConntrack() (int, error) {
	now, err := monotonicNow()
	if err != nil {
		return 0, err
	}
	var expired []bpfCtKey
	err = dump(lb.objs.Conntrack, func(k bpfCtKey, v bpfCtEntry) {
		if int64(v.Expires) < now {
			expired = append(expired, k)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("read conntrack: %w", err)
	}
	n := 0
	for _, k := range expired {
		if err := lb.objs.Conntrack.Delete(k); err == nil {
			n++
		}
	}
	return n, nil
}
