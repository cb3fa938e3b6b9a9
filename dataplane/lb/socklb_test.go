package lb

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/internal/nsutil"
	"skiff.dev/skiff/dataplane/model"
	"skiff.dev/skiff/internal/testenv"
)

func TestMain(m *testing.M) { nettest.Main(m) }

// sockEnv is a node namespace with backends in pod namespaces, a client
// pod namespace, and the socket programs on a test cgroup.
type sockEnv struct {
	lb       *LB
	node     *nettest.NS
	pod      *nettest.NS
	cgroup   string
	backends []*nettest.Server
}

const (
	testVIPRange = "10.96.0.0/16"
	vip          = "10.96.0.10"
)

func backendAddr(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("10.200.%d.2", i)) }

func newSockEnv(t *testing.T, nBackends int) *sockEnv {
	t.Helper()
	nettest.Require(t)
	env := &sockEnv{}
	env.node = nettest.NewNS(t, "node")
	// A translation the programs miss must not leave: it hits this route.
	env.node.IP(t, "route", "add", "unreachable", testVIPRange)
	env.node.Sysctl(t, "net.ipv4.ip_forward", "1")
	for i := 1; i <= nBackends; i++ {
		p := nettest.NewNS(t, "be")
		nettest.Link(t, env.node, fmt.Sprintf("vb%d", i), fmt.Sprintf("10.200.%d.1/24", i), p, "eth0", fmt.Sprintf("10.200.%d.2/24", i))
		p.IP(t, "route", "add", "default", "via", fmt.Sprintf("10.200.%d.1", i))
		env.backends = append(env.backends, nettest.Serve(t, p, backendAddr(i).String()+":8080", fmt.Sprintf("be%d", i)))
		env.backends = append(env.backends, nettest.Serve(t, p, backendAddr(i).String()+":5353", fmt.Sprintf("be%d", i)))
	}
	env.pod = nettest.NewNS(t, "pod")
	nettest.Link(t, env.node, "vc", "10.201.0.1/24", env.pod, "eth0", "10.201.0.2/24")
	env.pod.IP(t, "route", "add", "default", "via", "10.201.0.1")
	env.cgroup = nettest.Cgroup(t)

	cookie, err := nsutil.Cookie(env.node.Path)
	if err != nil {
		t.Fatal(err)
	}
	env.lb, err = Load(Config{HostNetNSCookie: cookie, Sizes: testSizes()})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { env.lb.Close() })
	if err := env.lb.AttachCgroup(env.cgroup); err != nil {
		t.Fatalf("attach: %v", err)
	}
	return env
}

// testSizes keeps test maps small.
func testSizes() MapSizes {
	return MapSizes{Services: 4096, Backends: 4096, Frontends: 1024, Conntrack: 4096, Affinity: 1024, SockRevNAT: 4096, MaglevTables: 64}
}

// endpoints returns ready endpoints 1..n with TCP port "http" 8080 and
// UDP port "dns" 5353.
func endpoints(idx ...int) []model.Endpoint {
	var out []model.Endpoint
	for _, i := range idx {
		out = append(out, model.Endpoint{
			Addr:  backendAddr(i),
			Ports: []model.EndpointPort{{Name: "http", Port: 8080}, {Name: "dns", Port: 5353}},
			Ready: true, Serving: true,
		})
	}
	return out
}

func testService(eps []model.Endpoint) model.Service {
	return model.Service{
		Name:      types.NamespacedName{Namespace: "default", Name: "web"},
		ClusterIP: netip.MustParseAddr(vip),
		Ports: []model.Port{
			{Name: "http", Protocol: model.TCP, Port: 80, NodePort: 30080},
			{Name: "dns", Protocol: model.UDP, Port: 53},
		},
		Endpoints: eps,
	}
}

func mustUpsert(t *testing.T, lb *LB, svc model.Service) {
	t.Helper()
	if err := lb.Update(context.Background(), []model.Service{svc}, nil); err != nil {
		t.Fatalf("upsert: %v", err)
	}
}

// spread connects n times and counts the answering backends.
func spread(t *testing.T, c *nettest.Client, op, addr string, n int) map[string]int {
	t.Helper()
	got := make(map[string]int)
	for range n {
		r := c.Do(nettest.Request{Op: op, Addr: addr, Msg: "hi"})
		if r.Err != "" {
			t.Fatalf("%s %s: %s", op, addr, r.Err)
		}
		got[r.Backend()]++
	}
	return got
}

func TestSocketLB(t *testing.T) {
	env := newSockEnv(t, 3)
	mustUpsert(t, env.lb, testService(endpoints(1, 2, 3)))
	hostClient := nettest.StartClient(t, env.cgroup, env.node)
	podClient := nettest.StartClient(t, env.cgroup, env.pod)

	cases := []struct {
		name, op, addr string
		client         *nettest.Client
	}{
		{"tcp from node", "tcp", vip + ":80", hostClient},
		{"tcp from pod", "tcp", vip + ":80", podClient},
		{"tcp v4-mapped", "tcp6", vip + ":80", podClient},
		{"udp connected", "udp-connected", vip + ":53", podClient},
		{"udp unconnected", "udp", vip + ":53", podClient},
		{"udp v4-mapped", "udp6", vip + ":53", podClient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.client.Do(nettest.Request{Op: tc.op, Addr: tc.addr, Msg: "hi"})
			if r.Err != "" {
				t.Fatalf("%s: %s", tc.op, r.Err)
			}
			if r.Backend() == "" {
				t.Fatalf("no backend answered: %+v", r)
			}
			if r.Peer != tc.addr {
				t.Errorf("application sees peer %s, want the service address %s", r.Peer, tc.addr)
			}
		})
	}

	t.Run("random spread", func(t *testing.T) {
		got := spread(t, podClient, "tcp", vip+":80", 90)
		for _, be := range []string{"be1", "be2", "be3"} {
			if got[be] < 10 {
				t.Errorf("backend %s got %d of 90 connections: %v", be, got[be], got)
			}
		}
	})

	t.Run("unknown address hits the unreachable route", func(t *testing.T) {
		r := podClient.Do(nettest.Request{Op: "tcp", Addr: "10.96.0.99:80", Msg: "hi"})
		if r.Errno != "EHOSTUNREACH" && r.Errno != "ENETUNREACH" {
			t.Fatalf("connect to a non-service VIP: %+v, want unreachable", r)
		}
	})
}

func TestSocketLBNoBackendFailsFast(t *testing.T) {
	env := newSockEnv(t, 1)
	mustUpsert(t, env.lb, testService(nil))
	c := nettest.StartClient(t, env.cgroup, env.pod)
	for _, op := range []struct{ op, addr string }{{"tcp", vip + ":80"}, {"udp", vip + ":53"}, {"udp-connected", vip + ":53"}, {"tcp6", vip + ":80"}} {
		start := time.Now()
		r := c.Do(nettest.Request{Op: op.op, Addr: op.addr, Msg: "hi"})
		if r.Errno != "ECONNREFUSED" {
			t.Errorf("%s to a service without endpoints: %+v (after %v), want ECONNREFUSED", op.op, r, time.Since(start))
		}
	}
}

func TestSocketLBEndpointChanges(t *testing.T) {
	env := newSockEnv(t, 3)
	svc := testService(endpoints(1, 2, 3))
	mustUpsert(t, env.lb, svc)
	c := nettest.StartClient(t, env.cgroup, env.pod)

	// A connection held open to whichever backend it reached.
	held := c.Do(nettest.Request{Op: "hold", ID: "h", Addr: vip + ":80", Msg: "hi"})
	if held.Err != "" {
		t.Fatal(held.Err)
	}

	t.Run("removed backend gets no new connections", func(t *testing.T) {
		mustUpsert(t, env.lb, testService(endpoints(1, 2)))
		if got := spread(t, c, "tcp", vip+":80", 40); got["be3"] != 0 {
			t.Fatalf("removed backend be3 got connections: %v", got)
		}
	})
	t.Run("not ready backend gets no new connections", func(t *testing.T) {
		eps := endpoints(1, 2, 3)
		eps[1].Ready, eps[1].Serving = false, false
		mustUpsert(t, env.lb, testService(eps))
		got := spread(t, c, "tcp", vip+":80", 40)
		if got["be2"] != 0 || got["be1"] == 0 || got["be3"] == 0 {
			t.Fatalf("with be2 not ready: %v", got)
		}
	})
	t.Run("terminating endpoints serve when no endpoint is ready", func(t *testing.T) {
		eps := endpoints(1, 2, 3)
		for i := range eps {
			eps[i].Ready, eps[i].Terminating = false, true
		}
		eps[2].Serving = false // be3 is terminating and no longer serving
		mustUpsert(t, env.lb, testService(eps))
		got := spread(t, c, "tcp", vip+":80", 40)
		if got["be3"] != 0 || got["be1"] == 0 || got["be2"] == 0 {
			t.Fatalf("with only serving terminating endpoints: %v", got)
		}
	})
	t.Run("terminating endpoints get no new connections while others are ready", func(t *testing.T) {
		eps := endpoints(1, 2, 3)
		eps[0].Ready, eps[0].Terminating = false, true
		mustUpsert(t, env.lb, testService(eps))
		if got := spread(t, c, "tcp", vip+":80", 40); got["be1"] != 0 {
			t.Fatalf("terminating be1 got new connections: %v", got)
		}
	})
	t.Run("an open connection survives its backend terminating", func(t *testing.T) {
		r := c.Do(nettest.Request{Op: "send", ID: "h", Msg: "again"})
		if r.Err != "" || r.Backend() != held.Backend() {
			t.Fatalf("held connection to %s: %+v", held.Backend(), r)
		}
	})
}

func TestSocketLBAffinity(t *testing.T) {
	env := newSockEnv(t, 3)
	svc := testService(endpoints(1, 2, 3))
	svc.AffinityTimeout = time.Minute
	mustUpsert(t, env.lb, svc)
	c := nettest.StartClient(t, env.cgroup, env.pod)
	got := spread(t, c, "tcp", vip+":80", 20)
	if len(got) != 1 {
		t.Fatalf("with ClientIP affinity one client reached %v", got)
	}
	// Another client (another namespace) may land elsewhere, but sticks too.
	other := nettest.StartClient(t, env.cgroup, env.node)
	if got := spread(t, other, "tcp", vip+":80", 20); len(got) != 1 {
		t.Fatalf("second client reached %v", got)
	}
}

func TestSocketLBBindNodePort(t *testing.T) {
	env := newSockEnv(t, 1)
	mustUpsert(t, env.lb, testService(endpoints(1)))
	pod := nettest.StartClient(t, env.cgroup, env.pod)
	if r := pod.Do(nettest.Request{Op: "bind", Addr: "0.0.0.0:30080"}); r.Errno != "EADDRINUSE" {
		t.Errorf("pod bind to NodePort 30080: %+v, want EADDRINUSE", r)
	}
	if r := pod.Do(nettest.Request{Op: "bind", Addr: "0.0.0.0:30081"}); r.Err != "" {
		t.Errorf("pod bind to a free port: %+v", r)
	}
	host := nettest.StartClient(t, env.cgroup, env.node)
	if r := host.Do(nettest.Request{Op: "bind", Addr: "0.0.0.0:30080"}); r.Err != "" {
		t.Errorf("node bind to its NodePort: %+v", r)
	}
}

func TestSocketLBNodePortFromNode(t *testing.T) {
	env := newSockEnv(t, 2)
	mustUpsert(t, env.lb, testService(endpoints(1, 2)))
	if err := env.lb.SetNodeAddrs([]netip.Addr{netip.MustParseAddr("10.201.0.1")}); err != nil {
		t.Fatal(err)
	}
	c := nettest.StartClient(t, env.cgroup, env.node)
	r := c.Do(nettest.Request{Op: "tcp", Addr: "10.201.0.1:30080", Msg: "hi"})
	if r.Err != "" || r.Backend() == "" {
		t.Fatalf("NodePort on the node's address: %+v", r)
	}
}

// A connected UDP socket whose backend is removed is destroyed, so the
// client notices and reconnects (to a live backend): with the
// bpf_sock_destroy iterator, with netlink SOCK_DESTROY (older kernels), and
// when the process that connected is gone, so its network namespace is
// found through the cgroup.
func TestSocketLBDestroysConnectedUDPToRemovedBackend(t *testing.T) {
	for _, tc := range []struct {
		name             string
		iterator, exited bool
	}{
		{"bpf_sock_destroy", true, false},
		{"netlink SOCK_DESTROY", false, false},
		{"connecting process gone", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newSockEnv(t, 2)
			testenv.Require(t, env.lb.sockTerm != nil, "bpf_sock_destroy (Linux 6.5+)")
			if !tc.iterator {
				env.lb.sockTerm.close()
				env.lb.sockTerm = nil
			}
			mustUpsert(t, env.lb, testService(endpoints(1, 2)))
			c := nettest.StartClient(t, env.cgroup, env.pod)
			// Hold connected UDP sockets until both backends have one.
			byBackend := map[string]string{}
			toBe2 := 0
			for i := 0; len(byBackend) < 2 && i < 50; i++ {
				id := fmt.Sprint("u", i)
				r := c.Do(nettest.Request{Op: "hold-udp", ID: id, Addr: vip + ":53", Msg: "q"})
				if r.Err != "" {
					t.Fatal(r.Err)
				}
				byBackend[r.Backend()] = id
				if r.Backend() == "be2" {
					toBe2++
				}
			}
			// Socket-LB recorded who connected them.
			var k bpfSockKey
			var v bpfSockRev
			var keys []bpfSockKey
			for it := env.lb.objs.SockRevnat.Iterate(); it.Next(&k, &v); {
				if int(v.Pid) != c.Pid() {
					t.Fatalf("sock_revnat entry %+v: pid %d, the client is %d", k, v.Pid, c.Pid())
				}
				keys = append(keys, k)
			}
			if tc.exited {
				// Pretend another process, since exited, connected them.
				for _, k := range keys {
					if err := env.lb.objs.SockRevnat.Lookup(k, &v); err != nil {
						t.Fatal(err)
					}
					v.Pid = 1<<31 - 1 // beyond any pid_max
					if err := env.lb.objs.SockRevnat.Update(k, v, 0); err != nil {
						t.Fatal(err)
					}
				}
			}
			mustUpsert(t, env.lb, testService(endpoints(1)))
			removed := env.lb.TakeRemovedUDPBackends()
			if len(removed) != 1 || removed[0] != netip.MustParseAddrPort("10.200.2.2:5353") {
				t.Fatalf("removed UDP backends %v, want 10.200.2.2:5353", removed)
			}
			n, err := env.lb.DestroyUDPSockets(env.cgroup, removed)
			if err != nil || n != toBe2 {
				t.Fatalf("destroyed %d sockets (%v), want the %d connected to be2", n, err, toBe2)
			}
			if r := c.Do(nettest.Request{Op: "send", ID: byBackend["be2"], Msg: "q"}); r.Err == "" {
				t.Fatalf("socket to the removed backend still works: %+v", r)
			}
			if r := c.Do(nettest.Request{Op: "send", ID: byBackend["be1"], Msg: "q"}); r.Err != "" || r.Backend() != "be1" {
				t.Fatalf("socket to the remaining backend: %+v", r)
			}
		})
	}
}

// internalTrafficPolicy: Local sends ClusterIP traffic only to endpoints
// on this node, and fails fast when there is none.
func TestSocketLBInternalTrafficLocal(t *testing.T) {
	env := newSockEnv(t, 3)
	eps := endpoints(1, 2, 3)
	eps[1].Local = true
	svc := testService(eps)
	svc.InternalLocal = true
	mustUpsert(t, env.lb, svc)
	c := nettest.StartClient(t, env.cgroup, env.pod)
	if got := spread(t, c, "tcp", vip+":80", 20); got["be2"] != 20 {
		t.Fatalf("internalTrafficPolicy Local reached %v, want only the local be2", got)
	}
	eps[1].Local = false
	svc = testService(eps)
	svc.InternalLocal = true
	mustUpsert(t, env.lb, svc)
	if r := c.Do(nettest.Request{Op: "tcp", Addr: vip + ":80", Msg: "hi"}); r.Errno != "ECONNREFUSED" {
		t.Fatalf("without local endpoints: %+v, want ECONNREFUSED", r)
	}
}

// Stats counts the runs of the attached programs, per program, naming
// where each is attached.
func TestSocketLBStats(t *testing.T) {
	env := newSockEnv(t, 1)
	mustUpsert(t, env.lb, testService(endpoints(1)))
	stats, err := EnableStats()
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	connects := func() ProgramStats {
		t.Helper()
		all, err := env.lb.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(cgroupProgs) {
			t.Fatalf("%d programs, want the %d attached: %+v", len(all), len(cgroupProgs), all)
		}
		for _, s := range all {
			if s.Program == "sock4_connect" {
				if fmt.Sprint(s.Hooks) != "[connect4]" {
					t.Fatalf("sock4_connect hooks %v", s.Hooks)
				}
				return s
			}
		}
		t.Fatalf("no sock4_connect in %+v", all)
		return ProgramStats{}
	}
	before := connects()
	spread(t, nettest.StartClient(t, env.cgroup, env.pod), "tcp", vip+":80", 5)
	after := connects()
	if runs := after.Runs - before.Runs; runs < 5 || after.RunTime <= before.RunTime {
		t.Fatalf("5 connects ran connect4 %d times in %v", runs, after.RunTime-before.RunTime)
	}
}
