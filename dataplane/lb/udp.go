package lb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"skiff.dev/skiff/dataplane/internal/nsutil"
)

// DestroyUDPSockets destroys the connected UDP sockets that socket-LB
// translated to one of the removed backends, in every network namespace
// of the processes under cgroupRoot. Such a socket would otherwise keep
// sending to a backend that is gone; destroyed, its next send or receive
// fails and clients like DNS resolvers open a new one. It returns how
// many sockets it destroyed.
func (lb *LB) DestroyUDPSockets(cgroupRoot string, removed []netip.AddrPort) (int, error) {
	if len(removed) == 0 {
		return 0, nil
	}
	gone := make(map[netip.AddrPort]bool, len(removed))
	for _, ap := range removed {
		gone[ap] = true
	}
	nets, err := netnsOfCgroup(cgroupRoot)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, path := range nets {
		err := nsutil.Do(path, func() error {
			n, err := lb.destroyUDPHere(gone)
			total += n
			return err
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// destroyUDPHere works in the current network namespace.
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

// netnsOfCgroup returns one /proc/<pid>/ns/net path per distinct network
// namespace of the processes in the cgroup v2 subtree at root.
func netnsOfCgroup(root string) ([]string, error) {
	seen := make(map[uint64]bool)
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
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
			pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
			if err != nil {
				continue
			}
			p := fmt.Sprintf("/proc/%d/ns/net", pid)
			var st unix.Stat_t
			if unix.Stat(p, &st) != nil || seen[st.Ino] {
				continue
			}
			seen[st.Ino] = true
			out = append(out, p)
		}
		return nil
	})
	return out, err
}
