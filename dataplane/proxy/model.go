package proxy

import (
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/model"
)

// defaultAffinityTimeout is sessionAffinity ClientIP's default, 3 hours.
const defaultAffinityTimeout = 10800 * time.Second

// BuildService turns a Service and its EndpointSlices into the model, as
// node nodeName sees it. It returns false for services the dataplane does
// not carry (ExternalName).
func BuildService(svc *corev1.Service, slices []*discoveryv1.EndpointSlice, nodeName string) (model.Service, bool) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return model.Service{}, false
	}
	out := model.Service{
		Name:                types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name},
		ExternalLocal:       svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
		InternalLocal:       svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal,
		HealthCheckNodePort: uint16(svc.Spec.HealthCheckNodePort),
	}
	if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && ip.Is4() {
		out.ClusterIP = ip
	}
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		out.AffinityTimeout = defaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			out.AffinityTimeout = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	for _, p := range svc.Spec.Ports {
		proto, ok := protocol(p.Protocol)
		if !ok {
			continue
		}
		out.Ports = append(out.Ports, model.Port{Name: p.Name, Protocol: proto, Port: uint16(p.Port), NodePort: uint16(p.NodePort)})
	}
	for _, s := range slices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var ports []model.EndpointPort
		for _, p := range s.Ports {
			if p.Port == nil {
				continue
			}
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			ports = append(ports, model.EndpointPort{Name: name, Port: uint16(*p.Port)})
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			addr, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !addr.Is4() {
				continue
			}
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := ready
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			out.Endpoints = append(out.Endpoints, model.Endpoint{
				Addr:        addr,
				Ports:       ports,
				Ready:       ready,
				Serving:     serving,
				Terminating: terminating,
				Local:       e.NodeName != nil && *e.NodeName == nodeName,
			})
		}
	}
	return out, true
}

func protocol(p corev1.Protocol) (model.Protocol, bool) {
	switch p {
	case corev1.ProtocolTCP, "":
		return model.TCP, true
	case corev1.ProtocolUDP:
		return model.UDP, true
	}
	return 0, false
}
