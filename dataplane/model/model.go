// Package model is the dataplane's desired state: Services with their
// endpoints as one node sees them, and the frontends (address, port,
// protocol -> backends) that a Service becomes. It is pure data and logic,
// shared by the eBPF and iptables back ends and by the informer layer, and
// it is what a benchmark builds to program the dataplane directly.
package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Protocol is the IP protocol number of a service port.
type Protocol uint8

// The protocols the dataplane load-balances.
const (
	TCP Protocol = 6
	UDP Protocol = 17
)

// String returns the Kubernetes spelling of the protocol.
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// Service is one Kubernetes Service with its endpoints, as one node sees
// it. Only IPv4 addresses take part.
type Service struct {
	Name types.NamespacedName
	// ClusterIP is the virtual address; the zero Addr means none (headless).
	ClusterIP netip.Addr
	Ports     []Port
	// ExternalLocal is externalTrafficPolicy: Local: NodePort traffic keeps
	// the client address and goes only to endpoints on this node.
	ExternalLocal bool
	// InternalLocal is internalTrafficPolicy: Local: ClusterIP traffic goes
	// only to endpoints on this node.
	InternalLocal bool
	// AffinityTimeout is sessionAffinity: ClientIP's timeout; 0 means none.
	AffinityTimeout time.Duration
	// HealthCheckNodePort answers whether this node has local endpoints
	// (externalTrafficPolicy: Local only); 0 means none.
	HealthCheckNodePort uint16
	Endpoints           []Endpoint
}

// Port is one service port.
type Port struct {
	Name     string
	Protocol Protocol
	Port     uint16
	// NodePort is the port on every node address; 0 means none.
	NodePort uint16
}

// Endpoint is one endpoint address with its conditions (EndpointSlice
// semantics) and the target port for each service port name.
type Endpoint struct {
	Addr  netip.Addr
	Ports []EndpointPort
	// Ready, Serving and Terminating are the EndpointSlice conditions.
	Ready       bool
	Serving     bool
	Terminating bool
	// Local is true when the endpoint runs on this node.
	Local bool
}

// EndpointPort is the target port of an endpoint for a named service port.
type EndpointPort struct {
	Name string
	Port uint16
}

// Kind says how a frontend is reached.
type Kind uint8

// The frontend kinds.
const (
	// ClusterIP frontends are translated at the socket (connect, sendmsg).
	ClusterIP Kind = iota
	// NodePort frontends listen on every node address, per packet on the
	// node devices and at the socket for the node's own processes.
	NodePort
)

// String returns the kind's name.
func (k Kind) String() string {
	if k == NodePort {
		return "NodePort"
	}
	return "ClusterIP"
}

// Frontend is one address, port and protocol that load-balances over
// backends: a service port's ClusterIP or its NodePort.
type Frontend struct {
	Service  types.NamespacedName
	PortName string
	Kind     Kind
	// Addr is the ClusterIP; the zero Addr for a NodePort (node addresses).
	Addr     netip.Addr
	Port     uint16
	Protocol Protocol
	// ExternalLocal: a NodePort that keeps the client address (no SNAT).
	ExternalLocal bool
	// InternalLocal: a ClusterIP limited to this node's endpoints.
	InternalLocal   bool
	AffinityTimeout time.Duration
	// Backends holds every endpoint that may carry traffic for this
	// frontend, sorted by address and port.
	Backends []Backend
}

// State is what a backend may do.
type State uint8

// Backend states.
const (
	// Active backends take new connections.
	Active State = iota
	// Terminating backends keep their existing connections only.
	Terminating
	// NotReady backends keep their existing connections only.
	NotReady
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Active:
		return "active"
	case Terminating:
		return "terminating"
	}
	return "not-ready"
}

// Backend is one endpoint address and target port of a frontend.
type Backend struct {
	Addr  netip.Addr
	Port  uint16
	Local bool
	State State
}

// AddrPort returns the backend's address and port.
func (b Backend) AddrPort() netip.AddrPort { return netip.AddrPortFrom(b.Addr, b.Port) }

// Frontends expands the service into its frontends: one ClusterIP frontend
// per port (when the service has an IPv4 ClusterIP) and one NodePort
// frontend per port with a node port.
//
// Endpoint selection follows kube-proxy: ready endpoints take new
// connections; when a frontend has none, serving terminating endpoints
// take them instead (KEP-1669); the rest stay as backends that only keep
// existing connections. Traffic policies Local restrict the candidates to
// endpoints on this node.
func (s *Service) Frontends() []Frontend {
	var out []Frontend
	for _, p := range s.Ports {
		if p.Protocol != TCP && p.Protocol != UDP {
			continue
		}
		base := Frontend{
			Service:         s.Name,
			PortName:        p.Name,
			Protocol:        p.Protocol,
			AffinityTimeout: s.AffinityTimeout,
		}
		if s.ClusterIP.Is4() && p.Port != 0 {
			f := base
			f.Kind = ClusterIP
			f.Addr = s.ClusterIP
			f.Port = p.Port
			f.InternalLocal = s.InternalLocal
			f.Backends = s.backends(p.Name, s.InternalLocal)
			out = append(out, f)
		}
		if p.NodePort != 0 {
			f := base
			f.Kind = NodePort
			f.Port = p.NodePort
			f.ExternalLocal = s.ExternalLocal
			f.Backends = s.backends(p.Name, s.ExternalLocal)
			out = append(out, f)
		}
	}
	return out
}

// backends picks the endpoints for one service port.
func (s *Service) backends(portName string, localOnly bool) []Backend {
	type cand struct {
		b        Backend
		ready    bool
		fallback bool // serving and terminating
	}
	byAddr := make(map[netip.AddrPort]cand, len(s.Endpoints))
	anyReady := false
	for _, e := range s.Endpoints {
		if !e.Addr.Is4() || (localOnly && !e.Local) {
			continue
		}
		port, ok := endpointPort(e.Ports, portName)
		if !ok {
			continue
		}
		c := cand{
			b:        Backend{Addr: e.Addr, Port: port, Local: e.Local},
			ready:    e.Ready,
			fallback: e.Serving && e.Terminating,
		}
		switch {
		case e.Ready:
			c.b.State = Active
		case e.Terminating:
			c.b.State = Terminating
		default:
			c.b.State = NotReady
		}
		ap := c.b.AddrPort()
		if old, dup := byAddr[ap]; dup && !betterThan(c.ready, c.fallback, old.ready, old.fallback) {
			continue // the same endpoint in two slices: keep the better one
		}
		byAddr[ap] = c
		anyReady = anyReady || e.Ready
	}
	out := make([]Backend, 0, len(byAddr))
	for _, c := range byAddr {
		if !anyReady && c.fallback {
			c.b.State = Active
		}
		out = append(out, c.b)
	}
	slices.SortFunc(out, func(a, b Backend) int {
		return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
	})
	return out
}

func betterThan(ready, fallback, oldReady, oldFallback bool) bool {
	if ready != oldReady {
		return ready
	}
	return fallback && !oldFallback
}

func endpointPort(ports []EndpointPort, name string) (uint16, bool) {
	for _, p := range ports {
		if p.Name == name {
			return p.Port, p.Port != 0
		}
	}
	return 0, false
}

// ActiveBackends counts the frontend's backends that take new connections.
func (f *Frontend) ActiveBackends() int {
	n := 0
	for _, b := range f.Backends {
		if b.State == Active {
			n++
		}
	}
	return n
}

// LocalActiveEndpoints counts the endpoints on this node that take new
// external connections: what the health check node port reports.
func (s *Service) LocalActiveEndpoints() int {
	seen := make(map[netip.Addr]bool)
	for _, f := range s.Frontends() {
		if f.Kind != NodePort {
			continue
		}
		for _, b := range f.Backends {
			if b.Local && b.State == Active {
				seen[b.Addr] = true
			}
		}
	}
	return len(seen)
}
