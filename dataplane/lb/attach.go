package lb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"skiff.dev/skiff/dataplane/internal/nsutil"
)

// TCMode chooses how tc programs attach to a device.
type TCMode string

// The tc attach modes.
const (
	// TCAuto uses TCX where the kernel has it, else clsact via netlink.
	TCAuto TCMode = ""
	// TCX attaches with a TCX bpf_link (Linux 6.6+).
	TCX TCMode = "tcx"
	// TCNetlink adds a direct-action bpf filter to a clsact qdisc.
	TCNetlink TCMode = "netlink"
)

// Program names in this package's links directory.
const linksDir = "links"

type cgroupProg struct {
	name   string
	attach ebpf.AttachType
	prog   func(*bpfObjects) *ebpf.Program
}

var cgroupProgs = []cgroupProg{
	{"connect4", ebpf.AttachCGroupInet4Connect, func(o *bpfObjects) *ebpf.Program { return o.Sock4Connect }},
	{"sendmsg4", ebpf.AttachCGroupUDP4Sendmsg, func(o *bpfObjects) *ebpf.Program { return o.Sock4Sendmsg }},
	{"recvmsg4", ebpf.AttachCGroupUDP4Recvmsg, func(o *bpfObjects) *ebpf.Program { return o.Sock4Recvmsg }},
	{"getpeername4", ebpf.AttachCgroupInet4GetPeername, func(o *bpfObjects) *ebpf.Program { return o.Sock4Getpeername }},
	{"bind4", ebpf.AttachCGroupInet4Bind, func(o *bpfObjects) *ebpf.Program { return o.Sock4Bind }},
	{"connect6", ebpf.AttachCGroupInet6Connect, func(o *bpfObjects) *ebpf.Program { return o.Sock6Connect }},
	{"sendmsg6", ebpf.AttachCGroupUDP6Sendmsg, func(o *bpfObjects) *ebpf.Program { return o.Sock6Sendmsg }},
	{"recvmsg6", ebpf.AttachCGroupUDP6Recvmsg, func(o *bpfObjects) *ebpf.Program { return o.Sock6Recvmsg }},
	{"getpeername6", ebpf.AttachCgroupInet6GetPeername, func(o *bpfObjects) *ebpf.Program { return o.Sock6Getpeername }},
	{"bind6", ebpf.AttachCGroupInet6Bind, func(o *bpfObjects) *ebpf.Program { return o.Sock6Bind }},
}

// AttachCgroup attaches the socket programs to a cgroup v2 directory:
// every process below it gets socket-level load balancing. With a PinDir
// the links are pinned and outlive the process; links pinned by an earlier
// process are switched to the new programs atomically instead.
func (lb *LB) AttachCgroup(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("cgroup %s: %w", path, err)
	}
	for _, cp := range cgroupProgs {
		prog := cp.prog(&lb.objs)
		matches := func(info *link.Info) bool {
			ci := info.Cgroup()
			return ci != nil && ci.CgroupId == st.Ino
		}
		create := func() (link.Link, error) {
			return link.AttachCgroup(link.CgroupOptions{Path: path, Attach: cp.attach, Program: prog})
		}
		if err := lb.attach("cgroup_"+cp.name, prog, matches, create); err != nil {
			return fmt.Errorf("attach %s to %s: %w", cp.name, path, err)
		}
		lb.noteHook(prog, cp.name)
	}
	return nil
}

// tcHook is a tc program and the hook it attaches to.
type tcHook struct {
	name   string // pin and clsact filter name part
	attach ebpf.AttachType
	prog   *ebpf.Program
	parent uint32
}

// AttachDevice attaches the NodePort programs to a device's ingress and
// egress. netnsPath is the namespace the device lives in ("" = current).
func (lb *LB) AttachDevice(netnsPath, dev string, mode TCMode) error {
	return lb.attachTC(netnsPath, dev, mode, []tcHook{
		{"ingress", ebpf.AttachTCXIngress, lb.objs.TcNodeportIngress, netlink.HANDLE_MIN_INGRESS},
		{"egress", ebpf.AttachTCXEgress, lb.objs.TcNodeportEgress, netlink.HANDLE_MIN_EGRESS},
	})
}

// AttachPodDevice attaches the pod program to the ingress of a device that
// carries the local pods' traffic into the node (the CNI bridge, or a pod's
// host-side veth): replies of local NodePort backends are translated there
// and sent on, whatever device the route to the client leaves by.
func (lb *LB) AttachPodDevice(netnsPath, dev string, mode TCMode) error {
	return lb.attachTC(netnsPath, dev, mode, []tcHook{
		{"pod_ingress", ebpf.AttachTCXIngress, lb.objs.TcPodIngress, netlink.HANDLE_MIN_INGRESS},
	})
}

func (lb *LB) attachTC(netnsPath, dev string, mode TCMode, hooks []tcHook) error {
	return nsutil.Do(netnsPath, func() error {
		l, err := netlink.LinkByName(dev)
		if err != nil {
			return fmt.Errorf("device %s: %w", dev, err)
		}
		ifindex := l.Attrs().Index
		for _, h := range hooks {
			var err error
			if mode != TCNetlink {
				matches := func(info *link.Info) bool {
					ti := info.TCX()
					return ti != nil && int(ti.Ifindex) == ifindex
				}
				create := func() (link.Link, error) {
					return link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: h.prog, Attach: h.attach})
				}
				err = lb.attach(fmt.Sprintf("tc_%s_%s", dev, h.name), h.prog, matches, create)
				if mode == TCAuto && errors.Is(err, link.ErrNotSupported) {
					lb.log.Warn("TCX is not supported by this kernel; attaching with clsact via netlink", "device", dev)
					mode = TCNetlink
				}
			}
			if mode == TCNetlink {
				err = lb.attachClsact(netnsPath, l, h.parent, h.prog, "skiff_"+h.name)
			}
			if err != nil {
				return fmt.Errorf("attach %s to %s: %w", h.name, dev, err)
			}
			dir := "ingress"
			if h.attach == ebpf.AttachTCXEgress {
				dir = "egress"
			}
			lb.noteHook(h.prog, dev+" "+dir)
		}
		return nil
	})
}

// attach creates a link, or, with a PinDir, takes over the link pinned
// under name when it still targets the same hook and points it at prog.
func (lb *LB) attach(name string, prog *ebpf.Program, matches func(*link.Info) bool, create func() (link.Link, error)) error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.cfg.PinDir == "" {
		l, err := create()
		if err != nil {
			return err
		}
		lb.links = append(lb.links, l)
		return nil
	}
	path := filepath.Join(lb.cfg.PinDir, linksDir, name)
	if old, err := link.LoadPinnedLink(path, nil); err == nil {
		info, ierr := old.Info()
		if ierr == nil && matches(info) && old.Update(prog) == nil {
			lb.links = append(lb.links, old)
			return nil
		}
		// Stale: another cgroup or a device that is gone.
		lb.log.Info("replacing stale pinned link", "link", name)
		old.Unpin()
		old.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("open pinned link %s: %w", name, err)
	}
	l, err := create()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		l.Close()
		return err
	}
	if err := l.Pin(path); err != nil {
		l.Close()
		return fmt.Errorf("pin link %s: %w", name, err)
	}
	lb.links = append(lb.links, l)
	return nil
}

// attachClsact adds (or atomically replaces) a direct-action bpf filter on
// a clsact qdisc, for kernels without TCX. The filter holds its program,
// so it stays attached without the process.
func (lb *LB) attachClsact(netnsPath string, l netlink.Link, parent uint32, prog *ebpf.Program, name string) error {
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscReplace(qdisc); err != nil {
		return fmt.Errorf("clsact qdisc: %w", err)
	}
	filter := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: l.Attrs().Index,
			Parent:    parent,
			Handle:    1,
			Priority:  1,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           prog.FD(),
		Name:         name,
		DirectAction: true,
	}
	if err := netlink.FilterReplace(filter); err != nil {
		return fmt.Errorf("bpf filter: %w", err)
	}
	if lb.cfg.PinDir == "" {
		// Unpinned: the filter goes away with this LB, like a link would.
		lb.mu.Lock()
		lb.closers = append(lb.closers, func() error {
			return nsutil.Do(netnsPath, func() error { return netlink.FilterDel(filter) })
		})
		lb.mu.Unlock()
	}
	return nil
}
