package dataplane

import (
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"skiff.dev/skiff/dataplane/internal/nettest"
)

// The CNI bridge appears with the first pod, after the dataplane started:
// the pod program is attached to it then, and again when it is re-created.
func TestPodDeviceAttachedWhenItAppears(t *testing.T) {
	nettest.Require(t)
	node := nettest.NewNS(t, "pd")
	peer := nettest.NewNS(t, "pdp")
	nettest.Link(t, node, "eth0", "10.50.0.11/24", peer, "eth0", "10.50.0.1/24")
	a := startAPI(t)
	c := &cluster{node1: node}
	cfg := c.config(ModeEBPF)
	cfg.CgroupRoot = nettest.Cgroup(t)
	cfg.Client = a
	startDataplane(t, c, cfg)
	programs := func() int {
		n := 0
		node.Do(t, func() error {
			l, err := net.InterfaceByName("skiff0")
			if err != nil {
				return nil // not there
			}
			res, err := link.QueryPrograms(link.QueryOptions{Target: l.Index, Attach: ebpf.AttachTCXIngress})
			if err != nil {
				return err
			}
			n = len(res.Programs)
			return nil
		})
		return n
	}
	for range 2 {
		node.IP(t, "link", "add", "skiff0", "type", "bridge")
		eventually(t, "the pod program on skiff0", func() bool { return programs() == 1 })
		node.IP(t, "link", "del", "skiff0")
	}
}
