package dataplane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/dataplane/lb"
)

// Mode selects the service dataplane.
type Mode string

// The modes.
const (
	// ModeAuto uses eBPF when the kernel has the hooks and loads the
	// programs, and falls back to iptables otherwise (logged loudly).
	ModeAuto Mode = ""
	// ModeEBPF is socket-level ClusterIP and tc NodePort load balancing.
	ModeEBPF Mode = "ebpf"
	// ModeIPTables is kube-proxy's iptables rule shape: the reference the
	// benchmarks measure against, and the fallback.
	ModeIPTables Mode = "iptables"
)

// Config configures a Dataplane. The zero value of each field has a
// production default, except NodeName.
type Config struct {
	// NodeName is this node's name: endpoints with this nodeName are local.
	NodeName string
	Mode     Mode
	// CgroupRoot is the cgroup v2 directory whose processes get
	// socket-level load balancing (--cgroup-root). Default: the root of the
	// cgroup v2 hierarchy. Tests pass a subtree.
	CgroupRoot string
	// PinDir is the bpffs directory for pinned maps and links. Default
	// (production): DefaultPinDir(NodeName). Set Unpinned for tests that
	// must leave nothing behind.
	PinDir   string
	Unpinned bool
	// NetNS is the path of the node's network namespace (devices, routes,
	// iptables, health checks); "" is the current one.
	NetNS string
	// NodePortDevices carry NodePort traffic (--nodeport-devices). Default:
	// the device of the default route.
	NodePortDevices []string
	// PodDevices carry the local pods' traffic into the node: the CNI
	// bridge (skiff0), or the pods' host-side veths. A local NodePort
	// backend's reply is translated back on their ingress, so it is right
	// whatever device the route to the client leaves by; without them it
	// is translated on the NodePort devices' egress only, and a reply
	// routed out of another device leaves with the pod's address. A pod
	// device that does not exist yet (the bridge comes with the first pod)
	// is attached when it appears, while Start runs.
	PodDevices []string
	// NodePortAddresses limits the node addresses that accept NodePort
	// traffic (--nodeport-addresses). Default: every IPv4 address of the
	// NodePort devices.
	NodePortAddresses []netip.Prefix
	// ServiceCIDRs and ClusterCIDRs get unreachable routes, so that a
	// packet to a service or pod address that no translation or pod route
	// claims never leaves the node.
	ServiceCIDRs []netip.Prefix
	ClusterCIDRs []netip.Prefix
	// MapSizes and MaglevTableSize size the BPF maps; zero fields take
	// lb.DefaultMapSizes() and maglev.DefaultSize.
	MapSizes        lb.MapSizes
	MaglevTableSize int
	// TCAttach chooses TCX or clsact via netlink; default TCX when the
	// kernel has it.
	TCAttach lb.TCMode
	// IPTablesBackend is "legacy" or "nft" (default) in iptables mode.
	IPTablesBackend string
	// MinSyncPeriod is the least time between two syncs once two ran back
	// to back (--min-sync-period, kube-proxy's --iptables-min-sync-period);
	// changes that arrive meanwhile are programmed together by the next
	// sync. 0: the mode's default, DefaultIPTablesMinSyncPeriod in
	// iptables mode (whose every sync rewrites all rules), none in eBPF
	// mode (whose syncs write only what changed); negative: none.
	MinSyncPeriod time.Duration
	// Client is needed by Start, which follows Services, EndpointSlices
	// and this Node through it.
	Client kubernetes.Interface
	// Recorder, when set, receives Warning events: on a Service whose sync
	// failed, and on the Node when the programs failed to load.
	Recorder record.EventRecorder
	Logger   *slog.Logger

	// editSpec changes the BPF programs before they load: tests make the
	// verifier reject them to check how a failed load is reported.
	editSpec func(*ebpf.CollectionSpec) error
}

// DefaultIPTablesMinSyncPeriod is the iptables mode's MinSyncPeriod,
// kube-proxy's default.
const DefaultIPTablesMinSyncPeriod = time.Second

// minSyncPeriod is MinSyncPeriod with the mode's default.
func (c Config) minSyncPeriod(mode Mode) time.Duration {
	switch {
	case c.MinSyncPeriod < 0:
		return 0
	case c.MinSyncPeriod > 0:
		return c.MinSyncPeriod
	case mode == ModeIPTables:
		return DefaultIPTablesMinSyncPeriod
	}
	return 0
}

// DefaultPinDir is where a node's BPF state is pinned in production.
func DefaultPinDir(node string) string { return filepath.Join("/sys/fs/bpf/skiff", node) }

func (c Config) withDefaults() (Config, error) {
	if c.NodeName == "" {
		return c, errors.New("dataplane: NodeName is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.CgroupRoot == "" {
		root, err := cgroup2Mount()
		if err != nil {
			return c, err
		}
		c.CgroupRoot = root
	}
	if c.PinDir == "" && !c.Unpinned {
		c.PinDir = DefaultPinDir(c.NodeName)
	}
	if c.Unpinned {
		c.PinDir = ""
	}
	return c, nil
}

// cgroup2Mount finds the cgroup v2 hierarchy in /proc/self/mountinfo.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		fields := strings.Fields(pre)
		if len(fields) >= 5 {
			return fields[4], nil
		}
	}
	return "", fmt.Errorf("no cgroup v2 hierarchy mounted")
}
