package iptables

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/model"
	"skiff.dev/skiff/internal/testenv"
)

func svc(name string, eps ...string) model.Service {
	s := model.Service{
		Name:      types.NamespacedName{Namespace: "default", Name: name},
		ClusterIP: netip.MustParseAddr("10.96.0.10"),
		Ports:     []model.Port{{Name: "http", Protocol: model.TCP, Port: 80, NodePort: 30080}},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, model.Endpoint{Addr: netip.MustParseAddr(e), Ports: []model.EndpointPort{{Name: "http", Port: 8080}}, Ready: true, Serving: true})
	}
	return s
}

// The rules have kube-proxy's shape: a jump per service port from
// KUBE-SERVICES, a statistic cascade (1/3, 1/2, rest) to KUBE-SEP chains
// that DNAT, and NodePorts through KUBE-NODEPORTS with a masquerade mark.
func TestRenderShape(t *testing.T) {
	out := string(Render([]model.Service{svc("web", "10.244.1.2", "10.244.1.3", "10.244.1.4")}, nil, map[string]bool{"KUBE-SVC-STALE": true}))
	svcChain := chainName(prefixSvc, "default/web:http/tcp")
	for _, want := range []string{
		"-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment \"default/web:http cluster IP\" -j " + svcChain,
		"-A " + svcChain + " -m comment --comment \"default/web:http -> 10.244.1.2:8080\" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-",
		"-m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-",
		"-A " + svcChain + " -m comment --comment \"default/web:http -> 10.244.1.4:8080\" -j KUBE-SEP-",
		"-j DNAT --to-destination 10.244.1.3:8080",
		"-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080",
		"-j KUBE-MARK-MASQ",
		"-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
		":KUBE-SVC-STALE - [0:0]",
		"-X KUBE-SVC-STALE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rules lack %q\n%s", want, out)
		}
	}
	empty := string(Render([]model.Service{svc("web")}, nil, nil))
	if !strings.Contains(empty, "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment \"default/web:http has no endpoints\" -j REJECT") {
		t.Errorf("a service without endpoints is not rejected:\n%s", empty)
	}
}

// iptables-restore accepts the rules with both back ends, a removed
// service's chains go away, and Cleanup leaves no KUBE chain behind.
func TestProxierInNamespace(t *testing.T) {
	nettest.Require(t)
	for _, backend := range []string{"legacy", "nft"} {
		t.Run(backend, func(t *testing.T) {
			bin, _ := binary(backend)
			testenv.RequireCommand(t, bin)
			ns := nettest.NewNS(t, "ipt")
			t.Cleanup(func() { Cleanup(ns.Path, backend) })
			p, err := New(Config{NetNS: ns.Path, Backend: backend, ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			s := svc("web", "10.244.1.2", "10.244.1.3")
			s.AffinityTimeout = 600e9
			other := svc("api", "10.244.2.2")
			other.ClusterIP = netip.MustParseAddr("10.96.0.11")
			other.Ports[0].NodePort = 30081
			if err := p.Update(ctx, []model.Service{s, other}, nil); err != nil {
				t.Fatal(err)
			}
			save := ns.Exec(t, bin+"-save")
			for _, want := range []string{"-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES", "--mode random --probability 0.5", "--to-destination 10.244.1.3:8080", "--rcheck --seconds 600", "--to-destination 10.244.2.2:8080"} {
				if !strings.Contains(save, want) {
					t.Fatalf("%s-save lacks %q:\n%s", bin, want, save)
				}
			}
			// One batch removes a service and changes the other.
			other.Endpoints[0].Addr = netip.MustParseAddr("10.244.2.3")
			if err := p.Update(ctx, []model.Service{other}, []types.NamespacedName{s.Name}); err != nil {
				t.Fatal(err)
			}
			save = ns.Exec(t, bin+"-save")
			if strings.Contains(save, "default/web") || strings.Contains(save, "10.244.2.2:8080") || !strings.Contains(save, "--to-destination 10.244.2.3:8080") {
				t.Fatalf("after removing web and moving api's endpoint:\n%s", save)
			}
			if err := p.Replace(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if save := ns.Exec(t, bin+"-save"); strings.Contains(save, "KUBE-SEP-") || strings.Contains(save, "KUBE-SVC-") {
				t.Fatalf("chains of deleted services remain:\n%s", save)
			}
			if err := Cleanup(ns.Path, backend); err != nil {
				t.Fatal(err)
			}
			if save := ns.Exec(t, bin+"-save"); strings.Contains(save, "KUBE-") {
				t.Fatalf("after cleanup:\n%s", save)
			}
		})
	}
}
