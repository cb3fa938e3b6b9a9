package dataplane

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/dataplane/internal/k8stest"
	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/lb"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	nettest.Main(m)
}

// cluster is two nodes on a LAN with an external client, a backend pod on
// each node and a client pod on node1:
//
//	client 10.50.0.100 --+
//	node1  10.50.0.11  --+-- br0 (lan)
//	node2  10.50.0.12  --+
//	node1: b1 10.244.1.2, pod 10.244.3.2   node2: b2 10.244.2.2
type cluster struct {
	client, node1, node2, pod *nettest.NS
	b1, b2                    *nettest.Server
	cgroup                    string // node1's pods
	outside                   string // a cgroup without programs, for the external client
}

const (
	svcVIP  = "10.96.0.10"
	node1IP = "10.50.0.11"
)

func newCluster(t *testing.T) *cluster {
	t.Helper()
	nettest.Require(t)
	c := &cluster{}
	lan := nettest.NewNS(t, "lan")
	lan.IP(t, "link", "add", "br0", "type", "bridge")
	lan.IP(t, "link", "set", "br0", "up")
	c.client = nettest.NewNS(t, "client")
	c.node1 = nettest.NewNS(t, "node1")
	c.node2 = nettest.NewNS(t, "node2")
	for _, n := range []struct {
		ns   *nettest.NS
		port string
		addr string
	}{{c.client, "c", "10.50.0.100/24"}, {c.node1, "n1", "10.50.0.11/24"}, {c.node2, "n2", "10.50.0.12/24"}} {
		nettest.Link(t, lan, n.port, "", n.ns, "eth0", n.addr)
		lan.IP(t, "link", "set", n.port, "master", "br0")
	}
	b1 := nettest.NewNS(t, "b1")
	b2 := nettest.NewNS(t, "b2")
	c.pod = nettest.NewNS(t, "pod")
	nettest.Link(t, c.node1, "vb1", "10.244.1.1/24", b1, "eth0", "10.244.1.2/24")
	nettest.Link(t, c.node1, "vp1", "10.244.3.1/24", c.pod, "eth0", "10.244.3.2/24")
	nettest.Link(t, c.node2, "vb2", "10.244.2.1/24", b2, "eth0", "10.244.2.2/24")
	b1.IP(t, "route", "add", "default", "via", "10.244.1.1")
	c.pod.IP(t, "route", "add", "default", "via", "10.244.3.1")
	b2.IP(t, "route", "add", "default", "via", "10.244.2.1")
	c.node1.IP(t, "route", "add", "10.244.2.0/24", "via", "10.50.0.12")
	// Like a real node, node1 has a default route (to a LAN address that
	// does not exist: this LAN is made of the test's namespaces only).
	c.node1.IP(t, "route", "add", "default", "via", "10.50.0.1")
	c.node2.IP(t, "route", "add", "10.244.1.0/24", "via", "10.50.0.11")
	c.node2.IP(t, "route", "add", "10.244.3.0/24", "via", "10.50.0.11")
	for _, n := range []*nettest.NS{c.node1, c.node2} {
		n.Sysctl(t, "net.ipv4.ip_forward", "1")
	}
	c.b1 = nettest.Serve(t, b1, "10.244.1.2:8080", "b1")
	c.b2 = nettest.Serve(t, b2, "10.244.2.2:8080", "b2")
	c.cgroup = nettest.Cgroup(t)
	c.outside = nettest.Cgroup(t)
	return c
}

// config is node1's dataplane configuration.
func (c *cluster) config(mode Mode) Config {
	return Config{
		NodeName:        "node1",
		Mode:            mode,
		CgroupRoot:      c.cgroup,
		Unpinned:        true,
		NetNS:           c.node1.Path,
		NodePortDevices: []string{"eth0"},
		ServiceCIDRs:    []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")},
		MapSizes:        lb.MapSizes{Services: 1024, Backends: 1024, Frontends: 256, Conntrack: 4096, Affinity: 256, SockRevNAT: 1024, MaglevTables: 16},
		MaglevTableSize: 251,
		IPTablesBackend: "nft",
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func webService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeNodePort,
			ClusterIP: svcVIP,
			Ports:     []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30080}},
		},
	}
}

type endpoint struct {
	addr, node  string
	terminating bool
}

func webSlice(eps ...endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{e.addr},
			NodeName:  ptr.To(e.node),
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.To(!e.terminating), Serving: ptr.To(true), Terminating: ptr.To(e.terminating),
			},
		})
	}
	return s
}

var (
	b1 = endpoint{addr: "10.244.1.2", node: "node1"}
	b2 = endpoint{addr: "10.244.2.2", node: "node2"}
)

// backends connects n times and counts answering backends and the client
// addresses they saw.
func backends(t *testing.T, c *nettest.Client, addr string, n int) (map[string]int, map[string]bool) {
	t.Helper()
	got, seen := map[string]int{}, map[string]bool{}
	for range n {
		r := c.Do(nettest.Request{Op: "tcp", Addr: addr, Msg: "hi"})
		if r.Err != "" {
			t.Fatalf("tcp %s: %+v", addr, r)
		}
		got[r.Backend()]++
		host, _, _ := strings.Cut(r.ClientAddr(), ":")
		seen[r.Backend()+" sees "+host] = true
	}
	return got, seen
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEnd runs the same scenarios on both dataplanes, driven through
// client-go informers (a fake clientset until the apiserver is ready).
func TestEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode Mode
		tc   lb.TCMode
	}{{"ebpf", ModeEBPF, lb.TCX}, {"ebpf-clsact", ModeEBPF, lb.TCNetlink}, {"iptables", ModeIPTables, ""}} {
		mode := tc.mode
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			client := k8stest.NewClientset(webService(), webSlice(b1, b2))
			cfg := c.config(mode)
			cfg.Client = client
			cfg.TCAttach = tc.tc
			dp, err := New(cfg)
			if err != nil {
				t.Fatalf("new: %v", err)
			}
			t.Cleanup(func() { Cleanup(CleanupConfig{NetNS: c.node1.Path}) })
			t.Cleanup(func() { dp.Close() })
			if dp.Mode() != mode {
				t.Fatalf("mode %s, want %s", dp.Mode(), mode)
			}
			if tc.tc == lb.TCNetlink {
				if out := c.node1.Exec(t, "tc", "filter", "show", "dev", "eth0", "ingress"); !strings.Contains(out, "skiff_ingress") {
					t.Fatalf("no clsact bpf filter on eth0:\n%s", out)
				}
			}
			done := make(chan error, 1)
			go func() { done <- dp.Start(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			<-dp.Synced()
			client.WaitWatched(t, "services", "endpointslices")

			pod := nettest.StartClient(t, c.cgroup, c.pod)
			ext := nettest.StartClient(t, c.outside, c.client)
			nodePort := node1IP + ":30080"

			t.Run("ClusterIP from a pod reaches local and remote backends", func(t *testing.T) {
				if got, _ := backends(t, pod, svcVIP+":80", 30); got["b1"] == 0 || got["b2"] == 0 {
					t.Fatalf("spread %v", got)
				}
			})
			t.Run("NodePort reaches local and remote backends, remote ones through SNAT", func(t *testing.T) {
				got, seen := backends(t, ext, nodePort, 30)
				if got["b1"] == 0 || got["b2"] == 0 {
					t.Fatalf("spread %v", got)
				}
				if !seen["b2 sees "+node1IP] || len(seen) > 3 {
					t.Fatalf("client addresses seen: %v", seen)
				}
			})
			t.Run("externalTrafficPolicy Local keeps the client address", func(t *testing.T) {
				svc := webService()
				svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				svc.Spec.HealthCheckNodePort = 32000
				if _, err := client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				// 20 connections that all avoid b2: chance alone would do it once in a million.
				eventually(t, "local-only NodePort", func() bool {
					got, _ := backends(t, ext, nodePort, 20)
					return got["b2"] == 0
				})
				got, seen := backends(t, ext, nodePort, 20)
				if got["b1"] != 20 || !seen["b1 sees 10.50.0.100"] || len(seen) != 1 {
					t.Fatalf("with Local policy: %v, %v", got, seen)
				}
				var r nettest.Response
				eventually(t, "the health check node port", func() bool {
					r = ext.Do(nettest.Request{Op: "tcp", Addr: node1IP + ":32000", Msg: "GET / HTTP/1.0\r\n"})
					return r.Errno != "ECONNREFUSED"
				})
				if !strings.HasPrefix(r.Reply, "HTTP/1.0 200") || !strings.Contains(r.Reply, `"localEndpoints":1`) {
					t.Fatalf("health check node port: %+v", r)
				}
				if _, err := client.CoreV1().Services("default").Update(ctx, webService(), metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				eventually(t, "the Cluster policy again", func() bool {
					got, _ := backends(t, ext, nodePort, 5)
					return got["b2"] > 0
				})
			})
			t.Run("draining keeps open connections and moves new ones", func(t *testing.T) {
				held := ext.Do(nettest.Request{Op: "hold", ID: "drain", Addr: nodePort, Msg: "hi"})
				if held.Err != "" {
					t.Fatal(held.Err)
				}
				eps := map[string]endpoint{"b1": b1, "b2": b2}
				draining := eps[held.Backend()]
				draining.terminating = true
				other := "b1"
				if held.Backend() == "b1" {
					other = "b2"
				}
				slice := webSlice(draining, eps[other])
				if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				eventually(t, "the drain", func() bool {
					got, _ := backends(t, ext, nodePort, 20)
					return got[held.Backend()] == 0
				})
				if got, _ := backends(t, ext, nodePort, 20); got[held.Backend()] != 0 {
					t.Fatalf("terminating %s got new connections: %v", held.Backend(), got)
				}
				if r := ext.Do(nettest.Request{Op: "send", ID: "drain", Msg: "still there?"}); r.Err != "" || r.Backend() != held.Backend() {
					t.Fatalf("open connection to the draining backend: %+v", r)
				}
			})
			t.Run("without endpoints connections are refused at once", func(t *testing.T) {
				if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, webSlice(), metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				for _, probe := range []struct {
					c    *nettest.Client
					addr string
				}{{ext, nodePort}, {pod, svcVIP + ":80"}} {
					var r nettest.Response
					eventually(t, "the empty service", func() bool {
						r = probe.c.Do(nettest.Request{Op: "tcp", Addr: probe.addr, Msg: "hi"})
						return r.Err != ""
					})
					if r.Errno != "ECONNREFUSED" {
						t.Fatalf("%s without endpoints: %+v, want ECONNREFUSED", probe.addr, r)
					}
				}
			})
			if mode == ModeEBPF {
				t.Run("an address in the service range that is no service stays on the node", func(t *testing.T) {
					r := pod.Do(nettest.Request{Op: "tcp", Addr: "10.96.77.77:80", Msg: "hi"})
					if r.Errno != "EHOSTUNREACH" {
						t.Fatalf("connect to an unknown service address: %+v, want EHOSTUNREACH from the node's unreachable route", r)
					}
				})
				t.Run("metrics count the service's connections", func(t *testing.T) {
					reg := prometheus.NewPedanticRegistry()
					reg.MustRegister(dp.Collectors()...)
					families, err := reg.Gather()
					if err != nil {
						t.Fatal(err)
					}
					conns := map[string]float64{}
					for _, f := range families {
						if f.GetName() != "skiff_dataplane_service_connections_total" {
							continue
						}
						for _, m := range f.GetMetric() {
							labels := map[string]string{}
							for _, l := range m.GetLabel() {
								labels[l.GetName()] = l.GetValue()
							}
							conns[labels["service"]+" "+labels["frontend"]] = m.GetCounter().GetValue()
						}
					}
					if conns["default/web 10.96.0.10:80/TCP"] < 30 || conns["default/web NodePort 30080/TCP"] < 30 {
						t.Fatalf("connection counters %v", conns)
					}
				})
				t.Run("no service rules in iptables or nftables", func(t *testing.T) {
					for _, cmd := range [][]string{{"iptables-legacy-save"}, {"iptables-nft-save"}, {"nft", "list", "ruleset"}} {
						out := c.node1.Exec(t, cmd...)
						if strings.Contains(out, "KUBE") || strings.Contains(out, svcVIP) || strings.Contains(out, "30080") {
							t.Fatalf("%s shows service rules in eBPF mode:\n%s", cmd[0], out)
						}
					}
				})
			}
		})
	}
}

// A node without local endpoints for an externalTrafficPolicy: Local
// service says so on the health check node port, so that load balancers
// skip it.
func TestHealthCheckAnswersNoLocalEndpoints(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := webService()
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	svc.Spec.HealthCheckNodePort = 32001
	cfg := c.config(ModeEBPF)
	cfg.Client = k8stest.NewClientset(svc, webSlice(b2))
	dp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Cleanup(CleanupConfig{NetNS: c.node1.Path}) })
	t.Cleanup(func() { dp.Close() })
	done := make(chan error, 1)
	go func() { done <- dp.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-dp.Synced()
	ext := nettest.StartClient(t, c.outside, c.client)
	var r nettest.Response
	eventually(t, "the health check node port", func() bool {
		r = ext.Do(nettest.Request{Op: "tcp", Addr: node1IP + ":32001", Msg: "GET / HTTP/1.0\r\n"})
		return r.Errno != "ECONNREFUSED"
	})
	if !strings.HasPrefix(r.Reply, "HTTP/1.0 503") || !strings.Contains(r.Reply, `"localEndpoints":0`) {
		t.Fatalf("health check of a node without local endpoints: %+v, want 503", r)
	}
}

// In auto mode a node where the eBPF dataplane cannot start falls back to
// iptables, says so loudly, and leaves nothing of the failed start behind.
func TestAutoModeFallsBackToIPTables(t *testing.T) {
	nettest.Require(t)
	node := nettest.NewNS(t, "fb")
	peer := nettest.NewNS(t, "fbp")
	nettest.Link(t, node, "eth0", "10.50.0.11/24", peer, "eth0", "10.50.0.1/24")
	var logs strings.Builder
	cfg := Config{
		NodeName:        "node1",
		CgroupRoot:      t.TempDir(), // not a cgroup: the socket programs cannot attach
		Unpinned:        true,
		NetNS:           node.Path,
		NodePortDevices: []string{"eth0"},
		ServiceCIDRs:    []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")},
		IPTablesBackend: "nft",
		Logger:          slog.New(slog.NewTextHandler(&logs, nil)),
	}
	dp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Cleanup(CleanupConfig{NetNS: node.Path}) })
	defer dp.Close()
	if dp.Mode() != ModeIPTables {
		t.Fatalf("mode %s, want the iptables fallback", dp.Mode())
	}
	if !strings.Contains(logs.String(), "FALLING BACK TO IPTABLES") {
		t.Fatalf("the fallback was not logged:\n%s", logs.String())
	}
	if routes := node.IP(t, "route", "show", "type", "unreachable"); routes != "" {
		t.Fatalf("routes of the failed eBPF start remain: %s", routes)
	}
	if out := node.Exec(t, "tc", "filter", "show", "dev", "eth0", "ingress"); strings.Contains(out, "skiff") {
		t.Fatalf("tc filters of the failed eBPF start remain: %s", out)
	}
	if out := node.Exec(t, "iptables-nft-save", "-t", "nat"); !strings.Contains(out, "KUBE-SERVICES") {
		t.Fatalf("iptables mode did not install its chains:\n%s", out)
	}
}
