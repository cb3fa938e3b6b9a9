package dataplane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/lb"
	"skiff.dev/skiff/dataplane/model"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	nettest.Main(m)
}

// cluster is two nodes on a LAN with external clients, backend pods on
// each node and a client pod on node1. node1's pods sit behind a bridge,
// as the node agent's CNI puts them:
//
//	client 10.50.0.100 --+
//	far    10.50.0.102 --+-- br0 (lan)       far 10.60.0.2 -- node1 eth1 10.60.0.1
//	node1  10.50.0.11  --+                   (node1 routes far's address there)
//	node2  10.50.0.12  --+
//	node1: skiff0 10.244.1.1: b1 10.244.1.2, pod 10.244.1.3   node2: b2 10.244.2.2
type cluster struct {
	client, far, node1, node2, pod *nettest.NS
	b1, b2                         *nettest.Server
	cgroup                         string // node1's pods
	outside                        string // a cgroup without programs, for the external clients
}

const (
	serviceCIDR = "10.96.0.0/16"
	svcVIP      = "10.96.0.10" // for tests without an apiserver
	node1IP     = "10.50.0.11"
	farIP       = "10.50.0.102"
)

func newCluster(t *testing.T) *cluster {
	t.Helper()
	nettest.Require(t)
	c := &cluster{}
	lan := nettest.NewNS(t, "lan")
	lan.IP(t, "link", "add", "br0", "type", "bridge")
	lan.IP(t, "link", "set", "br0", "up")
	c.client = nettest.NewNS(t, "client")
	c.far = nettest.NewNS(t, "far")
	c.node1 = nettest.NewNS(t, "node1")
	c.node2 = nettest.NewNS(t, "node2")
	for _, n := range []struct {
		ns   *nettest.NS
		port string
		addr string
	}{{c.client, "c", "10.50.0.100/24"}, {c.far, "f", farIP + "/24"}, {c.node1, "n1", "10.50.0.11/24"}, {c.node2, "n2", "10.50.0.12/24"}} {
		nettest.Link(t, lan, n.port, "", n.ns, "eth0", n.addr)
		lan.IP(t, "link", "set", n.port, "master", "br0")
	}
	b1 := nettest.NewNS(t, "b1")
	b2 := nettest.NewNS(t, "b2")
	c.pod = nettest.NewNS(t, "pod")
	c.node1.IP(t, "link", "add", "skiff0", "type", "bridge")
	c.node1.IP(t, "addr", "add", "10.244.1.1/24", "dev", "skiff0")
	c.node1.IP(t, "link", "set", "skiff0", "up")
	nettest.Link(t, c.node1, "vb1", "", b1, "eth0", "10.244.1.2/24")
	nettest.Link(t, c.node1, "vp1", "", c.pod, "eth0", "10.244.1.3/24")
	for _, port := range []string{"vb1", "vp1"} {
		c.node1.IP(t, "link", "set", port, "master", "skiff0")
	}
	nettest.Link(t, c.node2, "vb2", "10.244.2.1/24", b2, "eth0", "10.244.2.2/24")
	b1.IP(t, "route", "add", "default", "via", "10.244.1.1")
	c.pod.IP(t, "route", "add", "default", "via", "10.244.1.1")
	b2.IP(t, "route", "add", "default", "via", "10.244.2.1")
	c.node1.IP(t, "route", "add", "10.244.2.0/24", "via", "10.50.0.12")
	// Like a real node, node1 has a default route (to a LAN address that
	// does not exist: this LAN is made of the test's namespaces only).
	c.node1.IP(t, "route", "add", "default", "via", "10.50.0.1")
	c.node2.IP(t, "route", "add", "10.244.1.0/24", "via", "10.50.0.11")
	// far reaches node1 over the LAN, but node1 answers it through eth1:
	// replies leave by another device than the NodePort device.
	nettest.Link(t, c.node1, "eth1", "10.60.0.1/24", c.far, "eth1", "10.60.0.2/24")
	c.node1.IP(t, "route", "add", farIP+"/32", "via", "10.60.0.2", "dev", "eth1")
	for _, n := range []*nettest.NS{c.node1, c.node2} {
		n.Sysctl(t, "net.ipv4.ip_forward", "1")
	}
	for _, n := range []*nettest.NS{c.node1, c.far} {
		for _, dev := range []string{"all", "default", "eth0", "eth1"} {
			n.Sysctl(t, "net.ipv4.conf."+dev+".rp_filter", "0")
		}
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
		PodDevices:      []string{"skiff0"},
		ServiceCIDRs:    []netip.Prefix{netip.MustParsePrefix(serviceCIDR)},
		MapSizes:        lb.MapSizes{Services: 1024, Backends: 1024, Frontends: 256, Conntrack: 4096, Affinity: 256, SockRevNAT: 1024, MaglevTables: 16},
		MaglevTableSize: 251,
		IPTablesBackend: "nft",
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// api is the cluster's apiserver with node1 and node2 registered, as
// their agents would. Nothing runs pods, so the tests write EndpointSlices
// themselves, as the EndpointSlice controller would.
type api struct {
	kubernetes.Interface
}

func startAPI(t *testing.T) *api {
	t.Helper()
	s := servertest.Start(t, func(c *server.Config) {
		c.ServiceCIDR = netip.MustParsePrefix(serviceCIDR)
		c.DisableScheduler, c.DisableControllers = true, true
	})
	a := &api{s.Client}
	for name, ip := range map[string]string{"node1": node1IP, "node2": "10.50.0.12"} {
		a.registerNode(t, name, ip)
	}
	return a
}

func (a *api) registerNode(t *testing.T, name string, addrs ...string) {
	t.Helper()
	ctx := context.Background()
	n, err := a.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if n, err = a.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n.Status.Addresses = nil
	for _, ip := range addrs {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	if _, err := a.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// webService is a NodePort service; the apiserver allocates its cluster
// IP and node port.
func webService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80},
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
			},
		},
	}
}

func (a *api) createService(t *testing.T, svc *corev1.Service) *corev1.Service {
	t.Helper()
	out, err := a.CoreV1().Services(svc.Namespace).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type endpoint struct {
	addr, node  string
	terminating bool
}

// webSlice is web's slice.
func webSlice(eps ...endpoint) *discoveryv1.EndpointSlice { return svcSlice("web", eps...) }

// svcSlice is the slice the EndpointSlice controller would write for a
// service, with the time of the change that caused it.
func svcSlice(svc string, eps ...endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   "default",
			Name:        svc + "-1",
			Labels:      map[string]string{discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "test"},
			Annotations: map[string]string{corev1.EndpointsLastChangeTriggerTime: time.Now().UTC().Format(time.RFC3339Nano)},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("dns"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolUDP)},
		},
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

// writeSlice creates or updates a slice through the API.
func (a *api) writeSlice(t *testing.T, s *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	t.Helper()
	ctx := context.Background()
	sl := a.DiscoveryV1().EndpointSlices(s.Namespace)
	old, err := sl.Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		if s, err = sl.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s.ResourceVersion = old.ResourceVersion
	if s, err = sl.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return s
}

// programmed writes a slice and waits until dp carries it.
func (a *api) programmed(t *testing.T, dp *Dataplane, s *discoveryv1.EndpointSlice) {
	t.Helper()
	s = a.writeSlice(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dp.EndpointSliceProgrammed(ctx, s.Namespace, s.Name, s.ResourceVersion); err != nil {
		t.Fatalf("slice %s at %s not programmed: %v", s.Name, s.ResourceVersion, err)
	}
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

// startDataplane starts dp and waits for its first sync; everything stops
// and is cleaned up when the test ends.
func startDataplane(t *testing.T, c *cluster, cfg Config) *Dataplane {
	t.Helper()
	dp, err := New(cfg)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	t.Cleanup(func() { Cleanup(CleanupConfig{NetNS: c.node1.Path}) })
	t.Cleanup(func() { dp.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dp.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-dp.Synced():
	case err := <-done:
		t.Fatalf("dataplane stopped: %v", err)
	}
	return dp
}

// TestEndToEnd runs the same scenarios on both dataplanes, driven through
// a real apiserver.
func TestEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode Mode
		tc   lb.TCMode
	}{{"ebpf", ModeEBPF, lb.TCX}, {"ebpf-clsact", ModeEBPF, lb.TCNetlink}, {"iptables", ModeIPTables, ""}} {
		mode := tc.mode
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			a := startAPI(t)
			web := a.createService(t, webService())
			first := a.writeSlice(t, webSlice(b1, b2))
			cfg := c.config(mode)
			cfg.Client = a
			cfg.TCAttach = tc.tc
			dp := startDataplane(t, c, cfg)
			if dp.Mode() != mode {
				t.Fatalf("mode %s, want %s", dp.Mode(), mode)
			}
			if tc.tc == lb.TCNetlink {
				for _, dev := range []string{"eth0", "skiff0"} {
					if out := c.node1.Exec(t, "tc", "filter", "show", "dev", dev, "ingress"); !strings.Contains(out, "skiff_") {
						t.Fatalf("no clsact bpf filter on %s:\n%s", dev, out)
					}
				}
			}
			ctx := context.Background()
			if _, err := dp.EndpointSliceProgrammed(ctx, "default", "web-1", first.ResourceVersion); err != nil {
				t.Fatal(err)
			}

			vip := web.Spec.ClusterIP
			port := web.Spec.Ports[0].NodePort
			nodePort := fmt.Sprintf("%s:%d", node1IP, port)
			if !netip.MustParsePrefix(serviceCIDR).Contains(netip.MustParseAddr(vip)) || port == 0 {
				t.Fatalf("allocated cluster IP %s, node port %d", vip, port)
			}
			pod := nettest.StartClient(t, c.cgroup, c.pod)
			ext := nettest.StartClient(t, c.outside, c.client)

			t.Run("ClusterIP from a pod reaches local and remote backends", func(t *testing.T) {
				if got, _ := backends(t, pod, vip+":80", 30); got["b1"] == 0 || got["b2"] == 0 {
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
			t.Run("a local backend's reply leaves through another device than the NodePort device", func(t *testing.T) {
				far := nettest.StartClient(t, c.outside, c.far)
				got, seen := backends(t, far, nodePort, 20)
				// The eBPF dataplane keeps the client address toward local
				// backends, so b1 answers far itself; iptables mode
				// masquerades, as kube-proxy does.
				if got["b1"] == 0 || (mode == ModeEBPF && !seen["b1 sees "+farIP]) {
					t.Fatalf("from %s, whose route leaves node1 by eth1: %v %v", farIP, got, seen)
				}
			})
			t.Run("a new node address takes NodePort traffic once the Node says so", func(t *testing.T) {
				c.node1.IP(t, "addr", "add", "10.50.0.21/24", "dev", "eth0")
				a.registerNode(t, "node1", node1IP, "10.50.0.21")
				eventually(t, "the new node address", func() bool {
					r := ext.Do(nettest.Request{Op: "tcp", Addr: fmt.Sprintf("10.50.0.21:%d", port), Msg: "hi"})
					return r.Err == ""
				})
			})
			t.Run("externalTrafficPolicy Local keeps the client address", func(t *testing.T) {
				// A load balancer's health check node port comes with type
				// LoadBalancer; the test picks it, as a user may (the
				// apiserver allocates one otherwise).
				svc := webService()
				svc.Name = "local"
				svc.Spec.Type = corev1.ServiceTypeLoadBalancer
				svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				svc.Spec.HealthCheckNodePort = 32000
				svc = a.createService(t, svc)
				a.programmed(t, dp, svcSlice("local", b1, b2))
				localPort := fmt.Sprintf("%s:%d", node1IP, svc.Spec.Ports[0].NodePort)
				// 20 connections that all avoid b2: chance alone would do it once in a million.
				got, seen := backends(t, ext, localPort, 20)
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
				if err := a.CoreV1().Services("default").Delete(ctx, "local", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := dp.EndpointSliceRemoved(ctx, "default", "local-1"); err != nil {
					t.Fatal(err)
				}
				if r := ext.Do(nettest.Request{Op: "tcp", Addr: localPort, Msg: "hi"}); r.Errno != "ECONNREFUSED" {
					t.Fatalf("NodePort of the deleted service: %+v, want ECONNREFUSED", r)
				}
			})
			if mode == ModeEBPF {
				t.Run("a connected UDP socket to a removed backend is destroyed", func(t *testing.T) {
					var toB2 string
					for i := 0; toB2 == "" && i < 50; i++ {
						id := fmt.Sprint("u", i)
						r := pod.Do(nettest.Request{Op: "hold-udp", ID: id, Addr: vip + ":53", Msg: "q"})
						if r.Err != "" {
							t.Fatal(r.Err)
						}
						if r.Backend() == "b2" {
							toB2 = id
						}
					}
					a.programmed(t, dp, webSlice(b1))
					eventually(t, "the socket's destruction", func() bool {
						return pod.Do(nettest.Request{Op: "send", ID: toB2, Msg: "q"}).Err != ""
					})
					a.programmed(t, dp, webSlice(b1, b2))
				})
			}
			// From here on, the dataplane must hold a slice's state as soon as
			// EndpointSliceProgrammed returns: no waiting, no retries.
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
				a.programmed(t, dp, webSlice(draining, eps[other]))
				for _, probe := range []struct {
					c    *nettest.Client
					addr string
				}{{ext, nodePort}, {pod, vip + ":80"}} {
					if got, _ := backends(t, probe.c, probe.addr, 20); got[held.Backend()] != 0 {
						t.Fatalf("%s: terminating %s got new connections: %v", probe.addr, held.Backend(), got)
					}
				}
				if r := ext.Do(nettest.Request{Op: "send", ID: "drain", Msg: "still there?"}); r.Err != "" || r.Backend() != held.Backend() {
					t.Fatalf("open connection to the draining backend: %+v", r)
				}
				if mode == ModeEBPF {
					states := map[string]model.State{}
					svcs, err := dp.lb.Services()
					if err != nil {
						t.Fatal(err)
					}
					for _, s := range svcs {
						for _, b := range s.Backends {
							states[fmt.Sprint(s, " ", b.Addr)] = b.State
						}
					}
					if s := states[fmt.Sprintf("%s:80/TCP %s:8080", vip, draining.addr)]; s != model.Terminating {
						t.Fatalf("the maps hold %s as %v: %v", draining.addr, s, states)
					}
				}
			})
			t.Run("without endpoints connections are refused at once", func(t *testing.T) {
				a.programmed(t, dp, webSlice())
				for _, probe := range []struct {
					c    *nettest.Client
					addr string
				}{{ext, nodePort}, {pod, vip + ":80"}} {
					if r := probe.c.Do(nettest.Request{Op: "tcp", Addr: probe.addr, Msg: "hi"}); r.Errno != "ECONNREFUSED" {
						t.Fatalf("%s without endpoints: %+v, want ECONNREFUSED", probe.addr, r)
					}
				}
			})
			t.Run("a deleted slice's backends are gone at once", func(t *testing.T) {
				a.programmed(t, dp, webSlice(b1))
				if err := a.DiscoveryV1().EndpointSlices("default").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := dp.EndpointSliceRemoved(ctx, "default", "web-1"); err != nil {
					t.Fatal(err)
				}
				if r := pod.Do(nettest.Request{Op: "tcp", Addr: vip + ":80", Msg: "hi"}); r.Errno != "ECONNREFUSED" {
					t.Fatalf("after the slice's deletion: %+v, want ECONNREFUSED", r)
				}
			})
			t.Run("metrics count syncs and the network programming latency", func(t *testing.T) {
				families := gather(t, dp)
				if n := families["skiff_dataplane_network_programming_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); n < 3 {
					t.Fatalf("network programming latency observed %d times, want one per slice change (at least 3)", n)
				}
				if mode != ModeEBPF {
					return
				}
				conns := map[string]float64{}
				for _, m := range families["skiff_dataplane_service_connections_total"].GetMetric() {
					labels := map[string]string{}
					for _, l := range m.GetLabel() {
						labels[l.GetName()] = l.GetValue()
					}
					conns[labels["service"]+" "+labels["frontend"]] = m.GetCounter().GetValue()
				}
				if conns["default/web "+vip+":80/TCP"] < 30 || conns[fmt.Sprintf("default/web NodePort %d/TCP", port)] < 30 {
					t.Fatalf("connection counters %v", conns)
				}
			})
			if mode == ModeEBPF {
				t.Run("an address in the service range that is no service stays on the node", func(t *testing.T) {
					r := pod.Do(nettest.Request{Op: "tcp", Addr: unusedServiceIP(t, a) + ":80", Msg: "hi"})
					if r.Errno != "EHOSTUNREACH" {
						t.Fatalf("connect to an unknown service address: %+v, want EHOSTUNREACH from the node's unreachable route", r)
					}
				})
				t.Run("no service rules in iptables or nftables", func(t *testing.T) {
					for _, cmd := range [][]string{{"iptables-legacy-save"}, {"iptables-nft-save"}, {"nft", "list", "ruleset"}} {
						out := c.node1.Exec(t, cmd...)
						if strings.Contains(out, "KUBE") || strings.Contains(out, vip) || strings.Contains(out, fmt.Sprint(port)) {
							t.Fatalf("%s shows service rules in eBPF mode:\n%s", cmd[0], out)
						}
					}
				})
			}
		})
	}
}

func gather(t *testing.T, dp *Dataplane) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(dp.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(families))
	for _, f := range families {
		out[f.GetName()] = f
	}
	return out
}

// unusedServiceIP returns an address of the service range that no service
// has.
func unusedServiceIP(t *testing.T, a *api) string {
	t.Helper()
	list, err := a.CoreV1().Services("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, s := range list.Items {
		used[s.Spec.ClusterIP] = true
	}
	for ip := netip.MustParseAddr("10.96.77.77"); ; ip = ip.Next() {
		if !used[ip.String()] {
			return ip.String()
		}
	}
}

// A node without local endpoints for an externalTrafficPolicy: Local
// service says so on the health check node port, so that load balancers
// skip it.
func TestHealthCheckAnswersNoLocalEndpoints(t *testing.T) {
	c := newCluster(t)
	a := startAPI(t)
	svc := webService()
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	svc.Spec.HealthCheckNodePort = 32001
	a.createService(t, svc)
	a.writeSlice(t, webSlice(b2))
	cfg := c.config(ModeEBPF)
	cfg.Client = a
	startDataplane(t, c, cfg)
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
		ServiceCIDRs:    []netip.Prefix{netip.MustParsePrefix(serviceCIDR)},
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
