package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func validService() *corev1.Service {
	return defaulted(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	})
}

// allocated is a Service as stored after the server allocated its IP.
func allocated(s *corev1.Service) {
	s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
}

func TestServiceCreate(t *testing.T) {
	runCreate(t, validService, []createCase[*corev1.Service]{
		{name: "valid"},
		{name: "two named ports", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8443)})
		}},
		{name: "headless without ports", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil
		}},
		{name: "clusterIP set by an old client only", mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.20" }},
		{name: "name must be a DNS-1035 label", mutate: func(s *corev1.Service) { s.Name = "1web" }, want: []want{invalid("metadata.name")}},
		{name: "name may not contain dots", mutate: func(s *corev1.Service) { s.Name = "web.v1" }, want: []want{invalid("metadata.name")}},
		{name: "ports required", mutate: func(s *corev1.Service) { s.Spec.Ports = nil }, want: []want{required("spec.ports")}},
		{name: "names required with several ports", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(443)})
		}, want: []want{required("spec.ports[1].name")}},
		{name: "duplicate port name", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(443)})
		}, want: []want{duplicate("spec.ports[1].name")}},
		{name: "duplicate port and protocol", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "alt", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(81)})
		}, want: []want{duplicate("spec.ports[1]")}},
		{name: "same port on another protocol", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "quic", Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(80)})
		}},
		{name: "port out of range", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, want: []want{invalid("spec.ports[0].port")}},
		{name: "bad protocol", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" }, want: []want{notSupported("spec.ports[0].protocol")}},
		{name: "bad targetPort name", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("my_port") }, want: []want{invalid("spec.ports[0].targetPort")}},
		{name: "targetPort number out of range", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) }, want: []want{invalid("spec.ports[0].targetPort")}},
		{name: "bad type", mutate: func(s *corev1.Service) { s.Spec.Type = "Internal" }, want: []want{notSupported("spec.type")}},
		{name: "nodePort on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }, want: []want{forbidden("spec.ports[0].nodePort")}},
		{name: "NodePort with nodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort = 30080
		}},
		{name: "headless NodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.ClusterIP = corev1.ClusterIPNone
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "externalTrafficPolicy on ClusterIP", mutate: func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, want: []want{invalid("spec.externalTrafficPolicy")}},
		{name: "NodePort needs externalTrafficPolicy", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
		}, want: []want{required("spec.externalTrafficPolicy")}},
		{name: "session affinity config with None", mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](10)}}
		}, want: []want{forbidden("spec.sessionAffinityConfig")}},
		{name: "ClientIP timeout out of range", mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](86401)}}
		}, want: []want{invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds")}},
		{name: "ClientIP without config", mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		}, want: []want{required("spec.sessionAffinityConfig")}},
		{name: "bad session affinity", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }, want: []want{notSupported("spec.sessionAffinity")}},
		{name: "bad clusterIP", mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.300" }, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "clusterIPs not matching clusterIP", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.1", []string{"10.96.0.2"}
		}, want: []want{invalid("spec.clusterIPs")}},
		{name: "clusterIP family mismatch", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.1"
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "loopback external IP", mutate: func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"127.0.0.1"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, want: []want{invalid("spec.externalIPs[0]")}},
		{name: "external IPs make a ClusterIP Service externally accessible", mutate: func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"192.0.2.10"}
		}, want: []want{required("spec.externalTrafficPolicy")}},
		{name: "ExternalName needs a name", mutate: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.Ports, s.Spec.InternalTrafficPolicy = corev1.ServiceTypeExternalName, nil, nil
		}, want: []want{required("spec.externalName")}},
		{name: "ExternalName", mutate: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com."
		}},
		{name: "bad internal traffic policy", mutate: func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To[corev1.ServiceInternalTrafficPolicy]("Nearby")
		}, want: []want{notSupported("spec.internalTrafficPolicy")}},
		{name: "bad selector", mutate: func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} }, want: []want{invalid("spec.selector")}},
		{name: "source ranges need LoadBalancer", mutate: func(s *corev1.Service) {
			s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
		}, want: []want{forbidden("spec.LoadBalancerSourceRanges")}},
		{name: "loadBalancerClass needs LoadBalancer", mutate: func(s *corev1.Service) {
			s.Spec.LoadBalancerClass = ptr.To("example.com/lb")
		}, want: []want{forbidden("spec.loadBalancerClass")}},
		{name: "bad traffic distribution", mutate: func(s *corev1.Service) {
			s.Spec.TrafficDistribution = ptr.To("Nearest")
		}, want: []want{notSupported("spec.trafficDistribution")}},
	})
}

func TestServiceUpdate(t *testing.T) {
	runUpdate(t, validService, false, []updateCase[*corev1.Service]{
		{name: "ports may change", old: allocated, mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 8080 }},
		{name: "clusterIP may not change", old: allocated, mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "old client omitting clusterIPs keeps them", old: allocated, mutate: func(s *corev1.Service) {
			s.Spec.ClusterIPs = nil
		}},
		{name: "old client changing clusterIP only", old: allocated, mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.11"
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "ClusterIP to NodePort keeps the IP", old: allocated, mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}},
		{name: "to ExternalName releases the IP", old: allocated, mutate: func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = "", nil, nil, nil
		}},
		{name: "ipFamilies may not change", old: allocated, mutate: func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}, want: []want{invalid("spec.ipFamilies[0]"), invalid("spec.clusterIPs[0]")}},
		{name: "missing resourceVersion", old: allocated, mutate: func(s *corev1.Service) { s.ResourceVersion = "" }, want: []want{invalid("metadata.resourceVersion")}},
	})
}

func TestServiceStatusUpdate(t *testing.T) {
	lb := func(s *corev1.Service) {
		allocated(s)
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		s.Spec.AllocateLoadBalancerNodePorts = ptr.To(true)
	}
	runUpdate(t, validService, true, []updateCase[*corev1.Service]{
		{name: "load balancer ingress", old: lb, mutate: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.1", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
		}},
		{name: "ingress needs ipMode", old: lb, mutate: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.1"}}
		}, want: []want{required("status.loadBalancer.ingress[0].ipMode")}},
		{name: "ingress only for LoadBalancer", old: allocated, mutate: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}}
		}, want: []want{forbidden("status.loadBalancer.ingress")}},
	})
}
