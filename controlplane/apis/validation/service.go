package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"skiff.dev/skiff/controlplane/apis/defaults"
)

const (
	// kubeletPort may not be exposed by a LoadBalancer Service.
	kubeletPort = 10250
	// maxClientIPAffinitySeconds bounds sessionAffinityConfig.clientIP.timeoutSeconds.
	maxClientIPAffinitySeconds = 86400
	// Annotations read from Services.
	topologyAwareHintsAnnotation = "service.kubernetes.io/topology-aware-hints"
	topologyModeAnnotation       = "service.kubernetes.io/topology-mode"
	sourceRangesAnnotation       = "service.beta.kubernetes.io/load-balancer-source-ranges"
)

var (
	supportedSessionAffinity = sets.New(corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)
	supportedServiceTypes    = sets.New(corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)
	supportedInternalTrafficPolicies = sets.New(corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)
	supportedExternalTrafficPolicies = sets.New(corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)
	supportedIPFamilies              = sets.New(corev1.IPv4Protocol, corev1.IPv6Protocol)
	supportedIPFamilyPolicies        = sets.New(corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack)
	supportedLoadBalancerIPModes     = sets.New(corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeProxy)
	supportedTrafficDistributions    = []string{corev1.ServiceTrafficDistributionPreferClose,
		corev1.ServiceTrafficDistributionPreferSameZone, corev1.ServiceTrafficDistributionPreferSameNode}
)

// normalized returns the Service as kube-apiserver validates it, with
// clusterIP and clusterIPs reconciled for clients that set only one.
func normalized(svc, old *corev1.Service) *corev1.Service {
	out := svc.DeepCopy()
	defaults.NormalizeServiceClusterIPs(old, out)
	return out
}

func isHeadless(svc *corev1.Service) bool {
	return len(svc.Spec.ClusterIPs) == 1 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

// needsHealthCheck: LoadBalancer Services with externalTrafficPolicy Local.
func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func validateService(svc *corev1.Service) field.ErrorList {
	return serviceRules(normalized(svc, nil))
}

// serviceRules is ValidateService, on a normalized Service.
func serviceRules(svc *corev1.Service) field.ErrorList {
	metaPath, specPath := field.NewPath("metadata"), field.NewPath("spec")
	spec := &svc.Spec
	errs := objectMeta(&svc.ObjectMeta, true, nameIsDNS1035Label, metaPath)
	hints, hintsSet := svc.Annotations[topologyAwareHintsAnnotation]
	mode, modeSet := svc.Annotations[topologyModeAnnotation]
	if hintsSet && modeSet && hints != mode {
		errs = append(errs, field.Invalid(metaPath.Child("annotations").Key(topologyModeAnnotation), mode,
			fmt.Sprintf("must match annotations[%s] when both are specified", topologyAwareHintsAnnotation)))
	}
	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		for i, p := range spec.Ports {
			if p.Port == kubeletPort {
				errs = append(errs, field.Invalid(specPath.Child("ports").Index(i), p.Port, fmt.Sprintf("may not expose port %v externally since it is used by kubelet", kubeletPort)))
			}
		}
		if isHeadless(svc) {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs[0], "may not be set to 'None' for LoadBalancer services"))
		}
	case corev1.ServiceTypeNodePort:
		if isHeadless(svc) {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs[0], "may not be set to 'None' for NodePort services"))
		}
	case corev1.ServiceTypeExternalName:
		if len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// A CNAME may end in a dot.
		if cname := strings.TrimSuffix(spec.ExternalName, "."); cname != "" {
			errs = append(errs, dns1123Subdomain(cname, specPath.Child("externalName"))...)
		} else {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		}
	}

	portNames := sets.New[string]()
	for i := range spec.Ports {
		errs = append(errs, servicePort(&spec.Ports[i], len(spec.Ports) > 1, portNames, specPath.Child("ports").Index(i))...)
	}
	if spec.Selector != nil {
		errs = append(errs, validLabels(spec.Selector, specPath.Child("selector"))...)
	}
	if spec.SessionAffinity == "" {
		errs = append(errs, field.Required(specPath.Child("sessionAffinity"), ""))
	} else if !supportedSessionAffinity.Has(spec.SessionAffinity) {
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, sets.List(supportedSessionAffinity)))
	}
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		errs = append(errs, clientIPAffinity(spec.SessionAffinityConfig, specPath.Child("sessionAffinityConfig"))...)
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(specPath.Child("sessionAffinityConfig"), fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone)))
		}
	}
	errs = append(errs, clusterIPsRelatedFields(svc)...)
	for i, ip := range spec.ExternalIPs {
		p := specPath.Child("externalIPs").Index(i)
		if e := validation.IsValidIPForLegacyField(p, ip, true, nil); len(e) != 0 {
			errs = append(errs, e...)
		} else {
			errs = append(errs, endpointIP(ip, p)...)
		}
	}
	if spec.Type == "" {
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	} else if !supportedServiceTypes.Has(spec.Type) {
		errs = append(errs, field.NotSupported(specPath.Child("type"), spec.Type, sets.List(supportedServiceTypes)))
	}
	if spec.Type == corev1.ServiceTypeClusterIP {
		for i, p := range spec.Ports {
			if p.NodePort != 0 {
				errs = append(errs, field.Forbidden(specPath.Child("ports").Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
		}
	}
	type protoPort struct {
		proto corev1.Protocol
		port  int32
	}
	nodePorts, ports := map[protoPort]bool{}, map[protoPort]bool{}
	for i, p := range spec.Ports {
		if p.NodePort == 0 {
			continue
		}
		key := protoPort{p.Protocol, p.NodePort}
		if nodePorts[key] {
			errs = append(errs, field.Duplicate(specPath.Child("ports").Index(i).Child("nodePort"), p.NodePort))
		}
		nodePorts[key] = true
	}
	for i, p := range spec.Ports {
		key := protoPort{p.Protocol, p.Port}
		if ports[key] {
			errs = append(errs, field.Duplicate(specPath.Child("ports").Index(i), corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}))
		}
		ports[key] = true
	}
	errs = append(errs, loadBalancerSourceRanges(svc)...)
	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		// Kubernetes reports this one without the spec prefix.
		errs = append(errs, field.Required(field.NewPath("allocateLoadBalancerNodePorts"), ""))
	}
	errs = append(errs, loadBalancerClass(nil, svc)...)
	errs = append(errs, externalTrafficPolicy(svc)...)
	if spec.InternalTrafficPolicy == nil {
		// Not required of other types for historical reasons.
		switch spec.Type {
		case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeClusterIP:
			errs = append(errs, field.Required(specPath.Child("internalTrafficPolicy"), ""))
		}
	} else if !supportedInternalTrafficPolicies.Has(*spec.InternalTrafficPolicy) {
		errs = append(errs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *spec.InternalTrafficPolicy, sets.List(supportedInternalTrafficPolicies)))
	}
	if td := spec.TrafficDistribution; td != nil && !sets.New(supportedTrafficDistributions...).Has(*td) {
		errs = append(errs, field.NotSupported(specPath.Child("trafficDistribution"), *td, supportedTrafficDistributions))
	}
	return errs
}

func servicePort(sp *corev1.ServicePort, requireName bool, names sets.Set[string], fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && sp.Name == "" {
		errs = append(errs, field.Required(fld.Child("name"), ""))
	} else if sp.Name != "" {
		errs = append(errs, dns1123Label(sp.Name, fld.Child("name"))...)
		if names.Has(sp.Name) {
			errs = append(errs, field.Duplicate(fld.Child("name"), sp.Name))
		} else {
			names.Insert(sp.Name)
		}
	}
	for _, msg := range validation.IsValidPortNum(int(sp.Port)) {
		errs = append(errs, field.Invalid(fld.Child("port"), sp.Port, msg))
	}
	if sp.Protocol == "" {
		errs = append(errs, field.Required(fld.Child("protocol"), ""))
	} else if !supportedPortProtocols.Has(sp.Protocol) {
		errs = append(errs, field.NotSupported(fld.Child("protocol"), sp.Protocol, sets.List(supportedPortProtocols)))
	}
	errs = append(errs, portNumOrName(sp.TargetPort, fld.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		errs = append(errs, qualifiedName(*sp.AppProtocol, fld.Child("appProtocol"))...)
	}
	return errs
}

func clientIPAffinity(c *corev1.SessionAffinityConfig, fld *field.Path) field.ErrorList {
	required := fmt.Sprintf("when session affinity type is %s", corev1.ServiceAffinityClientIP)
	switch {
	case c == nil:
		return field.ErrorList{field.Required(fld, required)}
	case c.ClientIP == nil:
		return field.ErrorList{field.Required(fld.Child("clientIP"), required)}
	case c.ClientIP.TimeoutSeconds == nil:
		return field.ErrorList{field.Required(fld.Child("clientIP", "timeoutSeconds"), required)}
	}
	if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
		return field.ErrorList{field.Invalid(fld.Child("clientIP", "timeoutSeconds"), t, fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds))}
	}
	return nil
}

// clusterIPsRelatedFields is ValidateServiceClusterIPsRelatedFields.
func clusterIPsRelatedFields(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	ipsPath, familiesPath := specPath.Child("clusterIPs"), specPath.Child("ipFamilies")
	if spec.ClusterIP != "" {
		if len(spec.ClusterIPs) == 0 {
			errs = append(errs, field.Required(ipsPath, ""))
		} else if spec.ClusterIPs[0] != spec.ClusterIP {
			errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
		}
	} else if len(spec.ClusterIPs) != 0 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}
	seen := sets.New[corev1.IPFamily]()
	for i, f := range spec.IPFamilies {
		if !supportedIPFamilies.Has(f) {
			errs = append(errs, field.NotSupported(familiesPath.Index(i), f, sets.List(supportedIPFamilies)))
		}
		if seen.Has(f) {
			errs = append(errs, field.Duplicate(familiesPath.Index(i), f))
		}
		seen.Insert(f)
	}
	if p := spec.IPFamilyPolicy; p != nil && !supportedIPFamilyPolicies.Has(*p) {
		errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), p, sets.List(supportedIPFamilyPolicies)))
	}
	invalidIPs := false
	for i, ip := range spec.ClusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(spec.ClusterIPs) > 1 {
				invalidIPs = true
				errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		e := validation.IsValidIPForLegacyField(ipsPath.Index(i), ip, true, nil)
		invalidIPs = invalidIPs || len(e) != 0
		errs = append(errs, e...)
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	if invalidIPs {
		return errs
	}
	if len(spec.ClusterIPs) > 1 {
		ok, err := netutils.IsDualStackIPStrings(spec.ClusterIPs)
		if err != nil {
			errs = append(errs, field.InternalError(ipsPath, fmt.Errorf("failed to check for dual stack with error:%v", err)))
		}
		if !ok {
			errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may specify no more than one IP for each IP family"))
		}
	}
	if !isHeadless(svc) {
		for i, ip := range spec.ClusterIPs {
			if i >= len(spec.IPFamilies) {
				break
			}
			if spec.IPFamilies[i] == corev1.IPv4Protocol && netutils.IsIPv6String(ip) {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
			}
			if spec.IPFamilies[i] == corev1.IPv6Protocol && !netutils.IsIPv6String(ip) {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
			}
		}
	}
	return errs
}

func loadBalancerSourceRanges(svc *corev1.Service) field.ErrorList {
	const notLB = "may only be used when `type` is 'LoadBalancer'"
	var errs field.ErrorList
	if len(svc.Spec.LoadBalancerSourceRanges) > 0 {
		// Kubernetes spells this path with a capital L.
		p := field.NewPath("spec").Child("LoadBalancerSourceRanges")
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(p, notLB))
		}
		for i, v := range svc.Spec.LoadBalancerSourceRanges {
			errs = append(errs, validation.IsValidCIDRForLegacyField(p.Index(i), strings.TrimSpace(v), true, nil)...)
		}
		return errs
	}
	val, ok := svc.Annotations[sourceRangesAnnotation]
	if !ok {
		return nil
	}
	p := field.NewPath("metadata", "annotations").Key(sourceRangesAnnotation)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(p, notLB))
	}
	if val = strings.TrimSpace(val); val != "" {
		for _, v := range strings.Split(val, ",") {
			errs = append(errs, validation.IsValidCIDRForLegacyField(p, strings.TrimSpace(v), true, nil)...)
		}
	}
	return errs
}

func loadBalancerClass(old, svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "loadBalancerClass")
	isLB := svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	if old != nil && old.Spec.Type == corev1.ServiceTypeLoadBalancer && isLB && !equalStringPtr(old.Spec.LoadBalancerClass, svc.Spec.LoadBalancerClass) {
		errs = append(errs, field.Invalid(p, svc.Spec.LoadBalancerClass, "may not change once set"))
	}
	switch {
	case isLB && svc.Spec.LoadBalancerClass != nil:
		errs = append(errs, qualifiedName(*svc.Spec.LoadBalancerClass, p)...)
	case !isLB && svc.Spec.LoadBalancerClass != nil:
		errs = append(errs, field.Forbidden(p, "may only be used when `type` is 'LoadBalancer'"))
	}
	return errs
}

func equalStringPtr(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func externalTrafficPolicy(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	etp := svc.Spec.ExternalTrafficPolicy
	switch {
	case !defaults.ExternallyAccessible(svc):
		if etp != "" {
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), etp, "may only be set for externally-accessible services"))
		}
	case etp == "":
		errs = append(errs, field.Required(specPath.Child("externalTrafficPolicy"), ""))
	case !supportedExternalTrafficPolicies.Has(etp):
		errs = append(errs, field.NotSupported(specPath.Child("externalTrafficPolicy"), etp, sets.List(supportedExternalTrafficPolicies)))
	}
	hc := svc.Spec.HealthCheckNodePort
	switch {
	case !needsHealthCheck(svc):
		if hc != 0 {
			errs = append(errs, field.Invalid(specPath.Child("healthCheckNodePort"), hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		}
	case hc == 0:
		// The server allocates it after validation, as Kubernetes does.
	default:
		for _, msg := range validation.IsValidPortNum(int(hc)) {
			errs = append(errs, field.Invalid(specPath.Child("healthCheckNodePort"), hc, msg))
		}
	}
	return errs
}

// validateServiceUpdate is ValidateServiceUpdate: cluster IPs and IP
// families may not change (except to and from ExternalName and for
// dual-stack upgrades and downgrades), nor the LoadBalancer class and the
// allocated health check port.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	n := normalized(svc, old)
	errs := objectMetaUpdate(&n.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, clusterIPsUpdate(old, n)...)
	errs = append(errs, ipFamiliesUpdate(old, n)...)
	errs = append(errs, loadBalancerClass(old, n)...)
	if needsHealthCheck(old) && needsHealthCheck(n) && n.Spec.HealthCheckNodePort != old.Spec.HealthCheckNodePort {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "healthCheckNodePort"), "field is immutable"))
	}
	return append(errs, serviceRules(n)...)
}

func clusterIPsUpdate(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadless(old) && isHeadless(svc) {
		return nil
	}
	var errs field.ErrorList
	p := field.NewPath("spec", "clusterIPs")
	oldIPs, ips := old.Spec.ClusterIPs, svc.Spec.ClusterIPs
	const changed = "may not change once set"
	switch {
	case len(oldIPs) == len(ips):
		for i := range oldIPs {
			if oldIPs[i] != ips[i] {
				errs = append(errs, field.Invalid(p.Index(i), ips, changed))
			}
		}
	case len(oldIPs) > len(ips):
		if len(ips) == 0 {
			errs = append(errs, field.Invalid(p.Index(0), ips, "primary clusterIP can not be unset"))
		}
		if len(oldIPs) > 0 && len(ips) > 0 && ips[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(p.Index(0), ips, changed))
		}
		if len(ips) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	default:
		if len(oldIPs) > 0 && ips[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(p.Index(0), ips, changed))
		}
	}
	return errs
}

func ipFamiliesUpdate(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	// A change to or from headless, or between headless Services, may
	// change families.
	if isHeadless(old) || isHeadless(svc) {
		return nil
	}
	var errs field.ErrorList
	p := field.NewPath("spec", "ipFamilies")
	oldF, f := old.Spec.IPFamilies, svc.Spec.IPFamilies
	const changed = "may not change once set"
	switch {
	case len(oldF) == len(f):
		for i := range oldF {
			if oldF[i] != f[i] {
				errs = append(errs, field.Invalid(p.Index(0), f, changed))
			}
		}
	case len(oldF) > len(f):
		if len(svc.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Invalid(p.Index(0), f, "primary ipFamily can not be unset"))
		}
		if len(f) > 0 && f[0] != oldF[0] {
			errs = append(errs, field.Invalid(p.Index(0), svc.Spec.ClusterIPs, changed))
		}
		if len(f) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary ipFamily"))
		}
	default:
		if len(oldF) > 0 && len(f) > 0 && f[0] != oldF[0] {
			errs = append(errs, field.Invalid(p.Index(0), svc.Spec.ClusterIPs, changed))
		}
	}
	return errs
}

// validateServiceStatusUpdate validates status.loadBalancer.
func validateServiceStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := objectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	ingPath := field.NewPath("status", "loadBalancer", "ingress")
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) != 0 {
		return append(errs, field.Forbidden(ingPath, "may only be used when `spec.type` is 'LoadBalancer'"))
	}
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		p := ingPath.Index(i)
		if ing.IP != "" {
			errs = append(errs, validation.IsValidIPForLegacyField(p.Child("ip"), ing.IP, true, nil)...)
		}
		switch {
		case ing.IPMode == nil && ing.IP != "":
			errs = append(errs, field.Required(p.Child("ipMode"), "must be specified when `ip` is set"))
		case ing.IPMode != nil && ing.IP == "":
			errs = append(errs, field.Forbidden(p.Child("ipMode"), "may not be specified when `ip` is not set"))
		case ing.IPMode != nil && !supportedLoadBalancerIPModes.Has(*ing.IPMode):
			errs = append(errs, field.NotSupported(p.Child("ipMode"), ing.IPMode, sets.List(supportedLoadBalancerIPModes)))
		}
		if ing.Hostname != "" {
			errs = append(errs, dns1123Subdomain(ing.Hostname, p.Child("hostname"))...)
			if netutils.ParseIPSloppy(ing.Hostname) != nil {
				errs = append(errs, field.Invalid(p.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}
