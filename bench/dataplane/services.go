package dataplane

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/model"
)

const (
	benchNamespace = "bench"
	servicePort    = 80
	nodePortBase   = 30000
	portName       = "http"
)

// serviceName names service i so that names sort by index: the last
// service is last in kube-proxy's KUBE-SERVICES chain too.
func serviceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

// clusterIP is service i's address in serviceCIDR.
func clusterIP(i int) netip.Addr { return offset(serviceCIDR.Addr(), 1+i) }

// offset adds n to an IPv4 address.
func offset(a netip.Addr, n int) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// benchServices are n services of len(measured) endpoints each. The last
// one is measured: its endpoints are the backend's addresses, on this
// node. The others' endpoints are distinct addresses in dummyEndpoints
// that nothing answers (and that the node routes nowhere). With
// nodePorts, service i also has node port 30000+i.
func benchServices(n int, measured []netip.Addr, nodePorts bool) []model.Service {
	out := make([]model.Service, n)
	next := 0
	for i := range out {
		eps := make([]model.Endpoint, len(measured))
		for j := range eps {
			addr, local := measured[j], true
			if i != n-1 {
				addr, local = offset(dummyEndpoints.Addr(), 1+next), false
				next++
			}
			eps[j] = model.Endpoint{
				Addr:  addr,
				Ports: []model.EndpointPort{{Name: portName, Port: backendPort}},
				Ready: true, Serving: true, Local: local,
			}
		}
		port := model.Port{Name: portName, Protocol: model.TCP, Port: servicePort}
		if nodePorts {
			port.NodePort = uint16(nodePortBase + i)
		}
		out[i] = model.Service{
			Name:      types.NamespacedName{Namespace: benchNamespace, Name: serviceName(i)},
			ClusterIP: clusterIP(i),
			Ports:     []model.Port{port},
			Endpoints: eps,
		}
	}
	return out
}
