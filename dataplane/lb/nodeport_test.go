package lb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/model"
)

// The tc programs run on crafted packets with BPF_PROG_TEST_RUN, inside a
// node namespace whose routes the programs' FIB lookups consult: local
// pods on vb1 (10.244.1.0/24), a remote node's pods behind 10.50.0.12.

const (
	tcRedirect = 7
	tcShot     = 2
	tcPass     = ^uint32(0) // TC_ACT_UNSPEC: continue
)

var (
	nodeIP   = netip.MustParseAddr("10.50.0.11")
	clientIP = netip.MustParseAddr("10.50.0.100")
	nodePort = netip.AddrPortFrom(nodeIP, 30080)
)

type npEnv struct {
	lb   *LB
	node *nettest.NS
}

func newNPEnv(t *testing.T, cfg Config) *npEnv {
	t.Helper()
	nettest.Require(t)
	env := &npEnv{node: nettest.NewNS(t, "np")}
	client := nettest.NewNS(t, "cl")
	nettest.Link(t, env.node, "ext", "10.50.0.11/24", client, "eth0", "10.50.0.100/24")
	pods := nettest.NewNS(t, "pods")
	nettest.Link(t, env.node, "vb1", "10.244.1.1/24", pods, "eth0", "10.244.1.2/24")
	env.node.IP(t, "route", "add", "10.244.2.0/24", "via", "10.50.0.12")
	env.node.Sysctl(t, "net.ipv4.ip_forward", "1")
	if cfg.Sizes == (MapSizes{}) {
		cfg.Sizes = testSizes()
	}
	var err error
	if env.lb, err = Load(cfg); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { env.lb.Close() })
	if err := env.lb.SetNodeAddrs([]netip.Addr{nodeIP}); err != nil {
		t.Fatal(err)
	}
	return env
}

// run runs a tc program on p inside the node namespace.
func (env *npEnv) run(t *testing.T, prog *ebpf.Program, p packet) (uint32, parsed) {
	t.Helper()
	in := p.frame()
	opts := &ebpf.RunOptions{Data: in, DataOut: make([]byte, len(in)+256)}
	var ret uint32
	env.node.Do(t, func() error {
		var err error
		ret, err = prog.Run(opts)
		return err
	})
	out, err := parseFrame(opts.DataOut)
	if err != nil {
		t.Fatalf("program output: %v", err)
	}
	return ret, out
}

func (env *npEnv) ingress(t *testing.T, p packet) (uint32, parsed) {
	t.Helper()
	return env.run(t, env.lb.objs.TcNodeportIngress, p)
}

func (env *npEnv) egress(t *testing.T, p packet) (uint32, parsed) {
	t.Helper()
	return env.run(t, env.lb.objs.TcNodeportEgress, p)
}

func (env *npEnv) drops(t *testing.T, reason int) uint64 {
	t.Helper()
	var per []uint64
	if err := env.lb.objs.Drops.Lookup(uint32(reason), &per); err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, n := range per {
		sum += n
	}
	return sum
}

type npBackend struct {
	addr  string
	local bool
	state model.State
}

func npService(proto model.Protocol, extLocal bool, bes ...npBackend) model.Service {
	svc := model.Service{
		Name:          types.NamespacedName{Namespace: "default", Name: "np"},
		ClusterIP:     netip.MustParseAddr("10.96.0.20"),
		Ports:         []model.Port{{Name: "p", Protocol: proto, Port: 80, NodePort: 30080}},
		ExternalLocal: extLocal,
	}
	for _, b := range bes {
		e := model.Endpoint{Addr: netip.MustParseAddr(b.addr), Ports: []model.EndpointPort{{Name: "p", Port: 8080}}, Local: b.local}
		switch b.state {
		case model.Active:
			e.Ready, e.Serving = true, true
		case model.Terminating:
			e.Serving, e.Terminating = true, true
		}
		svc.Endpoints = append(svc.Endpoints, e)
	}
	return svc
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestNodePortLocalBackend(t *testing.T) {
	for _, proto := range []model.Protocol{model.TCP, model.UDP} {
		t.Run(proto.String(), func(t *testing.T) {
			env := newNPEnv(t, Config{})
			mustUpsert(t, env.lb, npService(proto, false, npBackend{addr: "10.244.1.2", local: true}))
			client := netip.AddrPortFrom(clientIP, 40000)
			req := packet{src: client, dst: nodePort, proto: uint8(proto), flags: tcpSYN, payload: []byte("hello")}
			ret, out := env.ingress(t, req)
			if ret != tcRedirect {
				t.Fatalf("ingress verdict %d, want redirect", ret)
			}
			if out.src != client || out.dst != ap("10.244.1.2:8080") {
				t.Fatalf("DNAT to a local backend: %s -> %s, want %s -> 10.244.1.2:8080", out.src, out.dst, client)
			}
			if out.ttl != 63 {
				t.Errorf("forwarded packet TTL %d, want 63", out.ttl)
			}
			// The reply leaves through the same device and is translated back.
			reply := packet{src: ap("10.244.1.2:8080"), dst: client, proto: uint8(proto), flags: tcpSYN | tcpACK, payload: []byte("world")}
			ret, out = env.egress(t, reply)
			if ret != tcPass {
				t.Fatalf("egress verdict %d, want continue", ret)
			}
			if out.src != nodePort || out.dst != client {
				t.Fatalf("reverse translation: %s -> %s, want %s -> %s", out.src, out.dst, nodePort, client)
			}
			if string(out.payload) != "world" {
				t.Fatalf("payload %q", out.payload)
			}
		})
	}
}

func TestNodePortRemoteBackendSNAT(t *testing.T) {
	for _, proto := range []model.Protocol{model.TCP, model.UDP} {
		t.Run(proto.String(), func(t *testing.T) {
			env := newNPEnv(t, Config{})
			mustUpsert(t, env.lb, npService(proto, false, npBackend{addr: "10.244.2.2"}))
			client := netip.AddrPortFrom(clientIP, 40000)
			ret, out := env.ingress(t, packet{src: client, dst: nodePort, proto: uint8(proto), flags: tcpSYN})
			if ret != tcRedirect {
				t.Fatalf("ingress verdict %d, want redirect", ret)
			}
			if out.src.Addr() != nodeIP || out.dst != ap("10.244.2.2:8080") {
				t.Fatalf("DNAT+SNAT to a remote backend: %s -> %s", out.src, out.dst)
			}
			snat := out.src
			// The remote backend answers the node address; the node sends it on.
			ret, out = env.ingress(t, packet{src: ap("10.244.2.2:8080"), dst: snat, proto: uint8(proto), flags: tcpSYN | tcpACK})
			if ret != tcRedirect {
				t.Fatalf("reply verdict %d, want redirect", ret)
			}
			if out.src != nodePort || out.dst != client {
				t.Fatalf("reply after reverse SNAT+DNAT: %s -> %s, want %s -> %s", out.src, out.dst, nodePort, client)
			}
			// A second client using the same source port gets another SNAT port.
			other := netip.AddrPortFrom(netip.MustParseAddr("10.50.0.101"), 40000)
			_, out2 := env.ingress(t, packet{src: other, dst: nodePort, proto: uint8(proto), flags: tcpSYN})
			if out2.src == snat {
				t.Fatalf("two flows share SNAT address %s", snat)
			}
		})
	}
}

func TestNodePortUDPZeroChecksum(t *testing.T) {
	env := newNPEnv(t, Config{})
	mustUpsert(t, env.lb, npService(model.UDP, false, npBackend{addr: "10.244.2.2"}))
	ret, out := env.ingress(t, packet{src: netip.AddrPortFrom(clientIP, 40000), dst: nodePort, proto: protoUDP, zeroCsum: true, payload: []byte("x")})
	if ret != tcRedirect || out.dst != ap("10.244.2.2:8080") {
		t.Fatalf("verdict %d, %s -> %s: not translated", ret, out.src, out.dst)
	}
	if !out.zeroCsum {
		t.Fatal("a UDP packet without checksum got one that the rewrite may have broken")
	}
}

func TestNodePortExternalTrafficLocal(t *testing.T) {
	env := newNPEnv(t, Config{})
	mustUpsert(t, env.lb, npService(model.TCP, true, npBackend{addr: "10.244.1.2", local: true}, npBackend{addr: "10.244.2.2"}))
	for port := uint16(40000); port < 40050; port++ {
		client := netip.AddrPortFrom(clientIP, port)
		_, out := env.ingress(t, packet{src: client, dst: nodePort, proto: protoTCP, flags: tcpSYN})
		if out.dst != ap("10.244.1.2:8080") || out.src != client {
			t.Fatalf("externalTrafficPolicy Local: %s -> %s, want client address kept and the local backend", out.src, out.dst)
		}
	}
}

func TestNodePortAffinity(t *testing.T) {
	env := newNPEnv(t, Config{})
	svc := npService(model.TCP, false, npBackend{addr: "10.244.1.2", local: true}, npBackend{addr: "10.244.1.3", local: true}, npBackend{addr: "10.244.1.4", local: true})
	svc.AffinityTimeout = time.Minute
	mustUpsert(t, env.lb, svc)
	for _, ip := range []string{"10.50.0.100", "10.50.0.101", "10.50.0.102", "10.50.0.103"} {
		seen := make(map[netip.AddrPort]int)
		for port := uint16(40000); port < 40020; port++ {
			_, out := env.ingress(t, packet{src: netip.AddrPortFrom(netip.MustParseAddr(ip), port), dst: nodePort, proto: protoTCP, flags: tcpSYN})
			seen[out.dst]++
		}
		if len(seen) != 1 {
			t.Fatalf("client %s with ClientIP affinity reached %v", ip, seen)
		}
	}
}

// maglevFlows sends one SYN per flow and returns the backend of each.
func maglevFlows(t *testing.T, env *npEnv, flows []netip.AddrPort) []netip.AddrPort {
	t.Helper()
	out := make([]netip.AddrPort, len(flows))
	for i, f := range flows {
		ret, p := env.ingress(t, packet{src: f, dst: nodePort, proto: protoTCP, flags: tcpSYN})
		if ret != tcRedirect {
			t.Fatalf("flow %s: verdict %d", f, ret)
		}
		out[i] = p.dst
	}
	return out
}

func (env *npEnv) clearConntrack(t *testing.T) {
	t.Helper()
	var keys []bpfCtKey
	var k bpfCtKey
	var v bpfCtEntry
	it := env.lb.objs.Conntrack.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	for _, k := range keys {
		env.lb.objs.Conntrack.Delete(k)
	}
}

func TestNodePortMaglev(t *testing.T) {
	env := newNPEnv(t, Config{Sizes: MapSizes{Conntrack: 65536}})
	const n = 10
	var bes []npBackend
	for i := range n {
		bes = append(bes, npBackend{addr: fmt.Sprintf("10.244.1.%d", 10+i), local: true})
	}
	mustUpsert(t, env.lb, npService(model.TCP, false, bes...))
	rng := rand.New(rand.NewPCG(7, 8))
	flows := make([]netip.AddrPort, 20000)
	for i := range flows {
		flows[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 50, byte(rng.IntN(200)), byte(1 + rng.IntN(250))}), uint16(1024+rng.IntN(60000)))
	}
	before := maglevFlows(t, env, flows)

	t.Run("spread", func(t *testing.T) {
		count := make(map[netip.AddrPort]int)
		for _, b := range before {
			count[b]++
		}
		share := float64(len(flows)) / n
		if len(count) != n {
			t.Fatalf("%d of %d backends used: %v", len(count), n, count)
		}
		for b, c := range count {
			if d := float64(c)/share - 1; d > 0.1 || d < -0.1 {
				t.Errorf("backend %s got %d flows, share %.0f", b, c, share)
			}
		}
	})

	removed := netip.MustParseAddrPort("10.244.1.14:8080")
	mustUpsert(t, env.lb, npService(model.TCP, false, append(append([]npBackend{}, bes[:4]...), bes[5:]...)...))

	t.Run("existing flows keep their backend, the removed one's move", func(t *testing.T) {
		after := maglevFlows(t, env, flows)
		for i := range flows {
			if after[i] == removed {
				t.Fatalf("flow %s still reaches removed backend", flows[i])
			}
			if before[i] != removed && after[i] != before[i] {
				t.Fatalf("flow %s moved from %s to %s although its backend stayed", flows[i], before[i], after[i])
			}
		}
	})

	t.Run("disruption of new flows is close to 1/N", func(t *testing.T) {
		env.clearConntrack(t)
		after := maglevFlows(t, env, flows)
		moved, movedSurvivor := 0, 0
		for i := range flows {
			if after[i] != before[i] {
				moved++
				if before[i] != removed {
					movedSurvivor++
				}
			}
		}
		frac := float64(moved) / float64(len(flows))
		if frac > 1.0/n+0.03 {
			t.Errorf("removing 1 of %d backends moved %.3f of new flows, want about %.3f", n, frac, 1.0/n)
		}
		if s := float64(movedSurvivor) / float64(len(flows)); s > 0.03 {
			t.Errorf("%.3f of flows moved between surviving backends", s)
		}
	})
}

func TestNodePortDraining(t *testing.T) {
	env := newNPEnv(t, Config{})
	a := npBackend{addr: "10.244.1.2", local: true}
	b := npBackend{addr: "10.244.1.3", local: true}
	mustUpsert(t, env.lb, npService(model.TCP, false, a, b))
	// Find a flow on each backend.
	flows := map[netip.AddrPort]netip.AddrPort{}
	for port := uint16(40000); len(flows) < 2; port++ {
		f := netip.AddrPortFrom(clientIP, port)
		_, out := env.ingress(t, packet{src: f, dst: nodePort, proto: protoTCP, flags: tcpSYN})
		if _, ok := flows[out.dst]; !ok {
			flows[out.dst] = f
		}
	}
	// a terminates: its flow keeps going to it, new flows go to b.
	a.state = model.Terminating
	mustUpsert(t, env.lb, npService(model.TCP, false, a, b))
	flowA := flows[ap("10.244.1.2:8080")]
	_, out := env.ingress(t, packet{src: flowA, dst: nodePort, proto: protoTCP, flags: tcpACK})
	if out.dst != ap("10.244.1.2:8080") {
		t.Fatalf("established flow to a terminating backend moved to %s", out.dst)
	}
	for port := uint16(50000); port < 50030; port++ {
		_, out := env.ingress(t, packet{src: netip.AddrPortFrom(clientIP, port), dst: nodePort, proto: protoTCP, flags: tcpSYN})
		if out.dst != ap("10.244.1.3:8080") {
			t.Fatalf("new flow went to terminating backend %s", out.dst)
		}
	}
	// a is removed: its flow moves to a live backend.
	mustUpsert(t, env.lb, npService(model.TCP, false, b))
	_, out = env.ingress(t, packet{src: flowA, dst: nodePort, proto: protoTCP, flags: tcpACK})
	if out.dst != ap("10.244.1.3:8080") {
		t.Fatalf("flow of a removed backend went to %s", out.dst)
	}
}

// A NodePort without backends answers with ICMP port unreachable at
// once (kube-proxy's REJECT); with externalTrafficPolicy Local it drops,
// leaving the choice of another node to the health check.
func TestNodePortNoBackend(t *testing.T) {
	for _, proto := range []model.Protocol{model.TCP, model.UDP} {
		t.Run(proto.String(), func(t *testing.T) {
			env := newNPEnv(t, Config{})
			mustUpsert(t, env.lb, npService(proto, false))
			client := netip.AddrPortFrom(clientIP, 40000)
			sent := packet{src: client, dst: nodePort, proto: uint8(proto), flags: tcpSYN, payload: []byte("hello")}
			ret, out := env.ingress(t, sent)
			if ret != tcRedirect {
				t.Fatalf("verdict %d for a NodePort without backends, want the reply sent back", ret)
			}
			if out.proto != protoICMP || out.payload[0] != 3 || out.payload[1] != 3 {
				t.Fatalf("reply proto %d payload % x, want ICMP port unreachable", out.proto, out.payload[:2])
			}
			if out.src.Addr() != nodeIP || out.dst.Addr() != clientIP {
				t.Fatalf("reply %s -> %s, want %s -> %s", out.src.Addr(), out.dst.Addr(), nodeIP, clientIP)
			}
			if out.inner == nil || out.inner.src != client || out.inner.dst != nodePort {
				t.Fatalf("quoted packet %+v, want the client's", out.inner)
			}
			if env.drops(t, 1) != 1 {
				t.Fatal("the refusal was not counted as no_backend")
			}
		})
	}
	t.Run("externalTrafficPolicy Local", func(t *testing.T) {
		env := newNPEnv(t, Config{})
		mustUpsert(t, env.lb, npService(model.TCP, true, npBackend{addr: "10.244.2.2"}))
		ret, _ := env.ingress(t, packet{src: netip.AddrPortFrom(clientIP, 40000), dst: nodePort, proto: protoTCP, flags: tcpSYN})
		if ret != tcShot {
			t.Fatalf("verdict %d without local backends, want drop", ret)
		}
	})
}

func TestNodePortSNATPortsExhausted(t *testing.T) {
	env := newNPEnv(t, Config{SNATPortMin: 50000, SNATPortMax: 50000})
	mustUpsert(t, env.lb, npService(model.TCP, false, npBackend{addr: "10.244.2.2"}))
	var rets []uint32
	for _, ip := range []string{"10.50.0.100", "10.50.0.101", "10.50.0.102"} {
		ret, _ := env.ingress(t, packet{src: netip.AddrPortFrom(netip.MustParseAddr(ip), 40000), dst: nodePort, proto: protoTCP, flags: tcpSYN})
		rets = append(rets, ret)
	}
	// Port 40000 and the one port of the range serve two flows; the third is dropped and counted.
	if rets[0] != tcRedirect || rets[1] != tcRedirect || rets[2] != tcShot {
		t.Fatalf("verdicts %v, want redirect, redirect, drop", rets)
	}
	if env.drops(t, 3) != 1 {
		t.Fatal("SNAT exhaustion was not counted")
	}
}

func TestNodePortICMPError(t *testing.T) {
	env := newNPEnv(t, Config{})
	mustUpsert(t, env.lb, npService(model.UDP, false, npBackend{addr: "10.244.2.2"}, npBackend{addr: "10.244.1.2", local: true}))
	// Find one SNATed (remote) and one local flow.
	var remoteFlow, localFlow netip.AddrPort
	var snat netip.AddrPort
	for port := uint16(40000); !remoteFlow.IsValid() || !localFlow.IsValid(); port++ {
		f := netip.AddrPortFrom(clientIP, port)
		_, out := env.ingress(t, packet{src: f, dst: nodePort, proto: protoUDP, payload: []byte("q")})
		if out.dst.Addr() == netip.MustParseAddr("10.244.2.2") && !remoteFlow.IsValid() {
			remoteFlow, snat = f, out.src
		} else if out.dst.Addr() == netip.MustParseAddr("10.244.1.2") && !localFlow.IsValid() {
			localFlow = f
		}
	}
	check := func(t *testing.T, ret, wantRet uint32, out parsed, flow netip.AddrPort) {
		t.Helper()
		if ret != wantRet {
			t.Fatalf("verdict %d, want %d", ret, wantRet)
		}
		if out.src.Addr() != nodeIP || out.dst.Addr() != clientIP {
			t.Fatalf("outer %s -> %s, want %s -> %s", out.src.Addr(), out.dst.Addr(), nodeIP, clientIP)
		}
		if out.inner == nil || out.inner.src != flow || out.inner.dst != nodePort {
			t.Fatalf("quoted packet %+v, want %s -> %s", out.inner, flow, nodePort)
		}
	}
	t.Run("from a remote backend to the SNAT address", func(t *testing.T) {
		sent := packet{src: snat, dst: ap("10.244.2.2:8080"), proto: protoUDP, payload: []byte("q")}
		ret, out := env.ingress(t, icmpError(netip.MustParseAddr("10.244.2.2"), snat.Addr(), sent))
		check(t, ret, tcRedirect, out, remoteFlow)
	})
	t.Run("from a local backend to the client", func(t *testing.T) {
		sent := packet{src: localFlow, dst: ap("10.244.1.2:8080"), proto: protoUDP, payload: []byte("q")}
		ret, out := env.egress(t, icmpError(netip.MustParseAddr("10.244.1.2"), clientIP, sent))
		check(t, ret, tcPass, out, localFlow)
	})
}

func TestNodePortIgnoresOtherTraffic(t *testing.T) {
	env := newNPEnv(t, Config{})
	mustUpsert(t, env.lb, npService(model.TCP, false, npBackend{addr: "10.244.1.2", local: true}))
	for _, p := range []packet{
		{src: netip.AddrPortFrom(clientIP, 40000), dst: netip.AddrPortFrom(nodeIP, 22), proto: protoTCP, flags: tcpSYN},
		{src: netip.AddrPortFrom(clientIP, 40000), dst: ap("10.50.0.99:30080"), proto: protoTCP, flags: tcpSYN},
		{src: netip.AddrPortFrom(clientIP, 40000), dst: nodePort, proto: protoUDP},
	} {
		ret, out := env.ingress(t, p)
		if ret != tcPass || out.src != p.src || out.dst != p.dst {
			t.Errorf("%s -> %s proto %d: verdict %d, out %s -> %s; want it untouched", p.src, p.dst, p.proto, ret, out.src, out.dst)
		}
	}
}

func TestMapFullIsReported(t *testing.T) {
	nettest.Require(t)
	lb, err := Load(Config{Sizes: MapSizes{Services: 4, Backends: 4, Frontends: 16, Conntrack: 16, Affinity: 16, SockRevNAT: 16, MaglevTables: 4}})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	svc := npService(model.TCP, false, npBackend{addr: "10.244.1.2"}, npBackend{addr: "10.244.1.3"}, npBackend{addr: "10.244.1.4"})
	err = lb.Update(context.Background(), []model.Service{svc}, nil)
	if !errors.Is(err, ErrMapFull) {
		t.Fatalf("upsert beyond the map sizes: %v, want ErrMapFull", err)
	}
}

func TestConntrackGC(t *testing.T) {
	env := newNPEnv(t, Config{})
	mustUpsert(t, env.lb, npService(model.UDP, false, npBackend{addr: "10.244.1.2", local: true}))
	env.ingress(t, packet{src: netip.AddrPortFrom(clientIP, 40000), dst: nodePort, proto: protoUDP})
	if n, err := env.lb.GCConntrack(); err != nil || n != 0 {
		t.Fatalf("GC of fresh entries removed %d (%v)", n, err)
	}
	// Age the flow past its deadline.
	var k bpfCtKey
	var v bpfCtEntry
	var keys []bpfCtKey
	var vals []bpfCtEntry
	it := env.lb.objs.Conntrack.Iterate()
	for it.Next(&k, &v) {
		v.Expires = 1
		keys, vals = append(keys, k), append(vals, v)
	}
	for i := range keys {
		if err := env.lb.objs.Conntrack.Put(keys[i], vals[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := env.lb.GCConntrack(); err != nil || n != 2 {
		t.Fatalf("GC removed %d expired entries (%v), want both directions of the flow", n, err)
	}
}

// A local backend's reply is translated back where it enters the node from
// the pods, and sent on by the FIB, so that it is right whatever device the
// route to the client leaves by; the NodePort device's egress then leaves
// it alone.
func TestNodePortLocalReplyFromPodDevice(t *testing.T) {
	env := newNPEnv(t, Config{})
	mustUpsert(t, env.lb, npService(model.UDP, false, npBackend{addr: "10.244.1.2", local: true}))
	client := netip.AddrPortFrom(clientIP, 40000)
	if ret, _ := env.ingress(t, packet{src: client, dst: nodePort, proto: protoUDP, payload: []byte("q")}); ret != tcRedirect {
		t.Fatalf("request verdict %d, want redirect", ret)
	}
	backend := ap("10.244.1.2:8080")
	ret, out := env.run(t, env.lb.objs.TcPodIngress, packet{src: backend, dst: client, proto: protoUDP, payload: []byte("a")})
	if ret != tcRedirect {
		t.Fatalf("reply verdict %d on the pod device, want redirect (its source is now a node address)", ret)
	}
	if out.src != nodePort || out.dst != client || out.ttl != 63 {
		t.Fatalf("reply %s -> %s ttl %d, want %s -> %s ttl 63", out.src, out.dst, out.ttl, nodePort, client)
	}
	if ret, again := env.egress(t, out.packet); ret != tcPass || again.src != nodePort {
		t.Fatalf("egress of the translated reply: verdict %d, %s -> %s: translated twice", ret, again.src, again.dst)
	}
	t.Run("ICMP errors", func(t *testing.T) {
		sent := packet{src: client, dst: backend, proto: protoUDP, payload: []byte("q")}
		ret, out := env.run(t, env.lb.objs.TcPodIngress, icmpError(backend.Addr(), clientIP, sent))
		if ret != tcRedirect || out.src.Addr() != nodeIP || out.dst.Addr() != clientIP {
			t.Fatalf("ICMP error from the backend: verdict %d, %s -> %s", ret, out.src, out.dst)
		}
		if out.inner == nil || out.inner.src != client || out.inner.dst != nodePort {
			t.Fatalf("quoted packet %+v, want %s -> %s", out.inner, client, nodePort)
		}
	})
	t.Run("other pod traffic", func(t *testing.T) {
		p := packet{src: backend, dst: ap("10.244.2.2:53"), proto: protoUDP, payload: []byte("x")}
		if ret, out := env.run(t, env.lb.objs.TcPodIngress, p); ret != tcPass || out.src != p.src || out.dst != p.dst {
			t.Fatalf("verdict %d, %s -> %s; want it untouched", ret, out.src, out.dst)
		}
	})
}
