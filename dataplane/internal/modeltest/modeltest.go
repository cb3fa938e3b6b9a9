// Package modeltest builds desired state for the dataplane's tests and
// benchmarks.
package modeltest

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/model"
)

// Services builds n ClusterIP services of m ready endpoints each:
// addresses in 10.96.0.0/16, endpoints in 10.128.0.0/9, TCP port "http"
// 80 -> 8080. With nodePorts, service i also has node port 30000+i.
func Services(n, m int, nodePorts bool) []model.Service {
	out := make([]model.Service, n)
	ep := 0
	for i := range out {
		eps := make([]model.Endpoint, m)
		for j := range eps {
			eps[j] = model.Endpoint{
				Addr:  netip.AddrFrom4([4]byte{10, byte(128 + ep>>16&0x7f), byte(ep >> 8), byte(ep)}),
				Ports: []model.EndpointPort{{Name: "http", Port: 8080}},
				Ready: true, Serving: true,
			}
			ep++
		}
		port := model.Port{Name: "http", Protocol: model.TCP, Port: 80}
		if nodePorts {
			port.NodePort = uint16(30000 + i)
		}
		out[i] = model.Service{
			Name:      types.NamespacedName{Namespace: "bench", Name: fmt.Sprint("svc-", i)},
			ClusterIP: netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}),
			Ports:     []model.Port{port},
			Endpoints: eps,
		}
	}
	return out
}
