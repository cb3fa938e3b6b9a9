package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"skiff.dev/skiff/dataplane/internal/nsutil"
)

// routeProtocol marks the routes skiff installs, so Cleanup finds them.
const routeProtocol = netlink.RouteProtocol(0x53)

// installUnreachable adds an unreachable route for each prefix in the
// node's namespace. More specific routes (pod routes) still win.
func installUnreachable(netnsPath string, prefixes []netip.Prefix) error {
	return nsutil.Do(netnsPath, func() error {
		for _, p := range prefixes {
			if !p.Addr().Is4() {
				continue
			}
			r := &netlink.Route{
				Dst:      prefixNet(p),
				Type:     unix.RTN_UNREACHABLE,
				Protocol: routeProtocol,
			}
			if err := netlink.RouteReplace(r); err != nil {
				return fmt.Errorf("unreachable route %s: %w", p, err)
			}
		}
		return nil
	})
}

// removeRoutes deletes every route skiff installed in the namespace.
func removeRoutes(netnsPath string) error {
	return nsutil.Do(netnsPath, func() error {
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProtocol, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		if err != nil {
			return fmt.Errorf("list routes: %w", err)
		}
		var errs []error
		for _, r := range routes {
			errs = append(errs, netlink.RouteDel(&r))
		}
		return errors.Join(errs...)
	})
}

func prefixNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// defaultRouteDevice returns the device of the IPv4 default route.
func defaultRouteDevice(netnsPath string) (string, error) {
	var dev string
	err := nsutil.Do(netnsPath, func() error {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask) {
				l, err := netlink.LinkByIndex(r.LinkIndex)
				if err != nil {
					return err
				}
				dev = l.Attrs().Name
				return nil
			}
		}
		return errors.New("no default route")
	})
	if err != nil {
		return "", fmt.Errorf("find NodePort device: %w", err)
	}
	return dev, nil
}

func isZeroMask(m net.IPMask) bool {
	ones, _ := m.Size()
	return ones == 0
}

// deviceAddrs returns the IPv4 addresses of the devices that fall within
// one of the allowed prefixes (all, when allowed is empty).
func deviceAddrs(netnsPath string, devices []string, allowed []netip.Prefix) ([]netip.Addr, error) {
	var out []netip.Addr
	err := nsutil.Do(netnsPath, func() error {
		for _, name := range devices {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return fmt.Errorf("device %s: %w", name, err)
			}
			addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
			if err != nil {
				return fmt.Errorf("addresses of %s: %w", name, err)
			}
			for _, a := range addrs {
				ip, ok := netip.AddrFromSlice(a.IP)
				if !ok {
					continue
				}
				ip = ip.Unmap()
				if inAny(ip, allowed) {
					out = append(out, ip)
				}
			}
		}
		return nil
	})
	return out, err
}

func inAny(ip netip.Addr, prefixes []netip.Prefix) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// bpffsRoot is where the BPF filesystem is mounted in production.
const bpffsRoot = "/sys/fs/bpf"

// ensureBPFFS makes sure dir can hold pins: it must lie on a BPF
// filesystem. When it is under /sys/fs/bpf and nothing is mounted there
// yet, the BPF filesystem is mounted, as the kernel's tools expect.
func ensureBPFFS(dir string) error {
	for p := dir; ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		err := unix.Statfs(p, &st)
		if errors.Is(err, unix.ENOENT) && p != "/" {
			continue
		}
		if err != nil {
			return fmt.Errorf("statfs %s: %w", p, err)
		}
		if st.Type == unix.BPF_FS_MAGIC {
			return nil
		}
		if p == bpffsRoot {
			if err := unix.Mount("bpf", bpffsRoot, "bpf", 0, "mode=0700"); err != nil {
				return fmt.Errorf("mount bpffs at %s: %w", bpffsRoot, err)
			}
			return nil
		}
		return fmt.Errorf("pin directory %s is not on a BPF filesystem", dir)
	}
}
