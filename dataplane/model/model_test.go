package model

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

type ep struct {
	addr                        string
	ready, serving, term, local bool
}

func svcWith(eps ...ep) Service {
	s := Service{
		Name:      types.NamespacedName{Namespace: "ns", Name: "web"},
		ClusterIP: netip.MustParseAddr("10.96.0.10"),
		Ports:     []Port{{Name: "http", Protocol: TCP, Port: 80, NodePort: 30080}},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, Endpoint{
			Addr:  netip.MustParseAddr(e.addr),
			Ports: []EndpointPort{{Name: "http", Port: 8080}},
			Ready: e.ready, Serving: e.serving, Terminating: e.term, Local: e.local,
		})
	}
	return s
}

// states renders a frontend's backends as "addr:state" strings.
func states(f Frontend) string {
	var out []string
	for _, b := range f.Backends {
		out = append(out, fmt.Sprintf("%s:%s", b.Addr, b.State))
	}
	return fmt.Sprint(out)
}

func TestFrontendsEndpointSelection(t *testing.T) {
	for _, tc := range []struct {
		name      string
		eps       []ep
		cluster   string
		extLocal  bool
		nodePort  string
		intLocal  bool
		clusterIP string
	}{
		{
			name:    "ready endpoints are active, others keep their flows",
			eps:     []ep{{"10.0.0.1", true, true, false, false}, {"10.0.0.2", false, true, true, false}, {"10.0.0.3", false, false, false, false}},
			cluster: "[10.0.0.1:active 10.0.0.2:terminating 10.0.0.3:not-ready]",
		},
		{
			name:    "serving terminating endpoints take over when none is ready (KEP-1669)",
			eps:     []ep{{"10.0.0.1", false, true, true, false}, {"10.0.0.2", false, false, true, false}},
			cluster: "[10.0.0.1:active 10.0.0.2:terminating]",
		},
		{
			name:     "externalTrafficPolicy Local keeps only local endpoints on the NodePort",
			eps:      []ep{{"10.0.0.1", true, true, false, true}, {"10.0.0.2", true, true, false, false}},
			extLocal: true,
			cluster:  "[10.0.0.1:active 10.0.0.2:active]",
			nodePort: "[10.0.0.1:active]",
		},
		{
			name:     "Local fallback is decided among local endpoints",
			eps:      []ep{{"10.0.0.1", false, true, true, true}, {"10.0.0.2", true, true, false, false}},
			extLocal: true,
			cluster:  "[10.0.0.1:terminating 10.0.0.2:active]",
			nodePort: "[10.0.0.1:active]",
		},
		{
			name:     "internalTrafficPolicy Local keeps only local endpoints on the ClusterIP",
			eps:      []ep{{"10.0.0.1", true, true, false, true}, {"10.0.0.2", true, true, false, false}},
			intLocal: true,
			cluster:  "[10.0.0.1:active]",
			nodePort: "[10.0.0.1:active 10.0.0.2:active]",
		},
		{
			name:    "the same endpoint in two slices counts once, ready wins",
			eps:     []ep{{"10.0.0.1", false, false, false, false}, {"10.0.0.1", true, true, false, false}},
			cluster: "[10.0.0.1:active]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := svcWith(tc.eps...)
			s.ExternalLocal, s.InternalLocal = tc.extLocal, tc.intLocal
			fs := s.Frontends()
			if len(fs) != 2 || fs[0].Kind != ClusterIP || fs[1].Kind != NodePort {
				t.Fatalf("frontends: %+v", fs)
			}
			if got := states(fs[0]); got != tc.cluster {
				t.Errorf("ClusterIP backends %s, want %s", got, tc.cluster)
			}
			want := tc.nodePort
			if want == "" {
				want = tc.cluster
			}
			if got := states(fs[1]); got != want {
				t.Errorf("NodePort backends %s, want %s", got, want)
			}
		})
	}
}

func TestFrontendsShape(t *testing.T) {
	s := svcWith(ep{"10.0.0.1", true, true, false, true})
	s.Ports = append(s.Ports, Port{Name: "dns", Protocol: UDP, Port: 53}, Port{Name: "sctp", Protocol: 132, Port: 9})
	s.Endpoints[0].Ports = append(s.Endpoints[0].Ports, EndpointPort{Name: "dns", Port: 5353})
	fs := s.Frontends()
	if len(fs) != 3 {
		t.Fatalf("got %d frontends, want ClusterIP+NodePort for http and ClusterIP for dns: %+v", len(fs), fs)
	}
	if fs[2].Protocol != UDP || fs[2].Port != 53 || fs[2].Backends[0].Port != 5353 {
		t.Errorf("dns frontend: %+v", fs[2])
	}
	if fs[1].Addr.IsValid() || fs[1].Port != 30080 {
		t.Errorf("NodePort frontend should have no address and port 30080: %+v", fs[1])
	}
	headless := s
	headless.ClusterIP = netip.Addr{}
	if fs := headless.Frontends(); len(fs) != 1 || fs[0].Kind != NodePort {
		t.Errorf("a service without ClusterIP keeps only its NodePort: %+v", fs)
	}
	if n := s.LocalActiveEndpoints(); n != 1 {
		t.Errorf("LocalActiveEndpoints = %d, want 1", n)
	}
}

// SplitErrors attributes joined ServiceErrors to their services and keeps
// the rest apart.
func TestSplitErrors(t *testing.T) {
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	full, io := errors.New("map full"), errors.New("write failed")
	err := errors.Join(&ServiceError{Service: a, Err: full}, errors.Join(&ServiceError{Service: b, Err: full}, io), nil)
	byService, rest := SplitErrors(err)
	if len(byService) != 2 || !errors.Is(byService[a], full) || !errors.Is(byService[b], full) {
		t.Fatalf("by service: %v", byService)
	}
	if rest != io && (rest == nil || rest.Error() != io.Error()) {
		t.Fatalf("rest: %v, want %v", rest, io)
	}
	if byService, rest := SplitErrors(nil); len(byService) != 0 || rest != nil {
		t.Fatalf("nil: %v, %v", byService, rest)
	}
	if _, rest := SplitErrors(io); rest != io && !errors.Is(rest, io) {
		t.Fatalf("a plain error: %v", rest)
	}
}
