package lb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"skiff.dev/skiff/dataplane/internal/nsutil"
)

// DestroyUDPSockets destroys the connected UDP sockets that socket-LB
// translated to one of the removed backends. Such a socket would otherwise
// keep sending to a backend that is gone; destroyed, its next send or
// receive fails (ECONNABORTED) and clients like DNS resolvers open a new
// one. It returns how many sockets it destroyed.
//
// The sockets are found in the network namespaces of the processes that
// socket-LB saw connect them (sock_revnat records their pid); when one of
// those processes is gone (the socket may live on in a child), the
// namespaces of every process under cgroupRoot are searched too. In each
// namespace the bpf_sock_destroy iterator (Linux 6.5) destroys them; on
// older kernels, netlink SOCK_DESTROY.
func (lb *LB) DestroyUDPSockets(cgroupRoot string, removed []netip.AddrPort) (int, error) {
	if len(removed) == 0 {
		return 0, nil
	}
	gone := make(map[netip.AddrPort]bool, len(removed))
	for _, ap := range removed {
		gone[ap] = true
	}
	nets, err := lb.netnsOfSockets(gone, cgroupRoot)
	if err != nil {
		return 0, err
	}
	if len(nets) == 0 {
		return 0, nil
	}
	lb.destroyMu.Lock()
	defer lb.destroyMu.Unlock()
	destroy := func() (int, error) { return lb.destroyUDPHere(gone) }
	if lb.sockTerm != nil && len(removed) <= int(lb.sockTerm.objs.RemovedBackends.MaxEntries()) {
		if err := lb.sockTerm.setRemoved(removed); err != nil {
			return 0, err
		}
		defer lb.sockTerm.setRemoved(nil)
		destroy = lb.sockTerm.run
	}
	total := 0
	var errs []error
	for _, path := range nets {
		err := nsutil.Do(path, func() error {
			n, err := destroy()
			total += n
			return err
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// netnsOfSockets returns one /proc/<pid>/ns/net path per network namespace
// that may hold a socket translated to a removed backend.
func (lb *LB) netnsOfSockets(gone map[netip.AddrPort]bool, cgroupRoot string) ([]string, error) {
	pids := make(map[uint32]bool)
	err := dump(lb.objs.SockRevnat, func(k bpfSockKey, v bpfSockRev) {
		if gone[netip.AddrPortFrom(addr4(k.Addr), be16(k.Port))] {
			pids[v.Pid] = true
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read sock_revnat: %w", err)
	}
	seen := make(map[uint64]bool)
	var out []string
	add := func(pid int) bool {
		p := fmt.Sprintf("/proc/%d/ns/net", pid)
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			return false
		}
		if !seen[st.Ino] {
			seen[st.Ino] = true
			out = append(out, p)
		}
		return true
	}
	exited := false
	for pid := range pids {
		if !add(int(pid)) {
			exited = true
		}
	}
	if !exited {
		return out, nil
	}
	err = pidsOfCgroup(cgroupRoot, func(pid int) { add(pid) })
	return out, err
}

// destroyUDPHere destroys the sockets with netlink SOCK_DESTROY in the
// current network namespace, for kernels without bpf_sock_destroy.
func (lb *LB) destroyUDPHere(gone map[netip.AddrPort]bool) (int, error) {
	n := 0
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := netlink.SocketDiagUDP(family)
		if err != nil {
			return n, fmt.Errorf("list UDP sockets: %w", err)
		}
		for _, s := range socks {
			dst, ok := netip.AddrFromSlice(s.ID.Destination)
			if !ok {
				continue
			}
			peer := netip.AddrPortFrom(dst.Unmap(), s.ID.DestinationPort)
			if !gone[peer] {
				continue
			}
			cookie := uint64(s.ID.Cookie[0]) | uint64(s.ID.Cookie[1])<<32
			key := bpfSockKey{Cookie: cookie, Addr: be32(peer.Addr()), Port: be16(peer.Port())}
			var rev bpfSockRev
			if lb.objs.SockRevnat.Lookup(key, &rev) != nil {
				continue // not a socket the service translated
			}
			if err := destroySocket(family, s.ID); err != nil && !errors.Is(err, unix.ENOENT) {
				return n, fmt.Errorf("destroy UDP socket to %s: %w", peer, err)
			}
			n++
		}
	}
	return n, nil
}

// inetDiagReq is struct inet_diag_req_v2 for SOCK_DESTROY.
type inetDiagReq struct {
	family, protocol uint8
	id               netlink.SocketID
}

func (r *inetDiagReq) Len() int { return 56 }

func (r *inetDiagReq) Serialize() []byte {
	b := make([]byte, 56)
	b[0], b[1] = r.family, r.protocol
	binary.LittleEndian.PutUint32(b[4:], 0xfff) // all states
	binary.BigEndian.PutUint16(b[8:], r.id.SourcePort)
	binary.BigEndian.PutUint16(b[10:], r.id.DestinationPort)
	putAddr := func(off int, ip []byte) {
		if r.family == unix.AF_INET && len(ip) >= 4 {
			copy(b[off:off+4], ip[len(ip)-4:]) // idiag_src[0] holds an IPv4 address
			return
		}
		copy(b[off:off+16], ip)
	}
	putAddr(12, r.id.Source)
	putAddr(28, r.id.Destination)
	binary.LittleEndian.PutUint32(b[44:], r.id.Interface)
	binary.LittleEndian.PutUint32(b[48:], r.id.Cookie[0])
	binary.LittleEndian.PutUint32(b[52:], r.id.Cookie[1])
	return b
}

func destroySocket(family uint8, id netlink.SocketID) error {
	req := nl.NewNetlinkRequest(nl.SOCK_DESTROY, unix.NLM_F_ACK)
	req.AddData(&inetDiagReq{family: family, protocol: unix.IPPROTO_UDP, id: id})
	_, err := req.Execute(unix.NETLINK_INET_DIAG, 0)
	return err
}

// pidsOfCgroup calls fn for every process in the cgroup v2 subtree at
// root.
func pidsOfCgroup(root string, fn func(pid int)) error {
	return filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // a cgroup removed meanwhile
			}
			return err
		}
		if d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
				fn(pid)
			}
		}
		return nil
	})
}

// sockTerm is the bpf_sock_destroy iterator over UDP sockets.
type sockTerm struct {
	objs socktermObjects
	iter *link.Iter
}

// loadSockTerm loads the iterator, sharing the main object's sock_revnat.
func loadSockTerm(sockRevNAT *ebpf.Map) (*sockTerm, error) {
	spec, err := loadSockterm()
	if err != nil {
		return nil, err
	}
	spec.Maps[socktermMapSockRevnat].MaxEntries = sockRevNAT.MaxEntries()
	st := &sockTerm{}
	opts := &ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{socktermMapSockRevnat: sockRevNAT}}
	if err := spec.LoadAndAssign(&st.objs, opts); err != nil {
		return nil, err
	}
	if st.iter, err = link.AttachIter(link.IterOptions{Program: st.objs.SockDestroyUdp}); err != nil {
		st.objs.Close()
		return nil, err
	}
	return st, nil
}

// setRemoved makes the iterator destroy sockets to these backends (none:
// it destroys nothing).
func (st *sockTerm) setRemoved(removed []netip.AddrPort) error {
	m := st.objs.RemovedBackends
	var k socktermBackendAddr
	var v uint8
	var stale []socktermBackendAddr
	it := m.Iterate()
	for it.Next(&k, &v) {
		stale = append(stale, k)
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return &MapError{Map: "removed_backends", Err: err}
		}
	}
	for _, ap := range removed {
		k := socktermBackendAddr{Addr: be32(ap.Addr()), Port: be16(ap.Port())}
		if err := m.Update(k, uint8(1), ebpf.UpdateAny); err != nil {
			return &MapError{Map: "removed_backends", Err: err}
		}
	}
	return nil
}

// run walks the UDP sockets of the calling thread's network namespace and
// returns how many it destroyed (it writes one cookie per socket).
func (st *sockTerm) run() (int, error) {
	rd, err := st.iter.Open()
	if err != nil {
		return 0, fmt.Errorf("open socket iterator: %w", err)
	}
	defer rd.Close()
	out, err := io.ReadAll(rd)
	if err != nil {
		return 0, fmt.Errorf("run socket iterator: %w", err)
	}
	return len(out) / 8, nil
}

func (st *sockTerm) close() error {
	return errors.Join(st.iter.Close(), st.objs.Close())
}
