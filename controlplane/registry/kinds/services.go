package kinds

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/controlplane/apis/defaults"
	"skiff.dev/skiff/controlplane/registry"
	"skiff.dev/skiff/controlplane/registry/allocator"
	"skiff.dev/skiff/controlplane/storage"
)

// serviceStrategy allocates each service's cluster IP and node ports. The
// claim keys are written in the transaction that stores the service, so
// two services never share an address or port, and a deleted service frees
// them in the transaction that removes it.
type serviceStrategy struct {
	registry.DefaultStrategy
	ips   *allocator.Range
	ports *allocator.Range
}

func services(c Config) *registry.Resource {
	return &registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion, Kind: "Service", Plural: "services", Singular: "service",
		Namespaced: true, ShortNames: []string{"svc"}, Categories: []string{"all"},
		New:     func() runtime.Object { return &corev1.Service{} },
		NewList: func() runtime.Object { return &corev1.ServiceList{} },
		Strategy: &serviceStrategy{
			DefaultStrategy: rules(registry.DefaultStrategy{
				Namespaced: true, ResetStatusOnCreate: true, StatusSubresource: true,
			}),
			ips: c.ServiceIPs, ports: c.NodePorts,
		},
		Status: true,
	}
}

// PrepareForCreate keeps clusterIP and clusterIPs in step.
func (s *serviceStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s.DefaultStrategy.PrepareForCreate(ctx, obj)
	defaults.NormalizeServiceClusterIPs(nil, obj.(*corev1.Service))
}

// PrepareForUpdate carries the allocated cluster IP and node ports over to
// an update that leaves them out (a replace of the original manifest), as
// Kubernetes does, so that they read as unchanged.
func (s *serviceStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.DefaultStrategy.PrepareForUpdate(ctx, obj, old)
	svc, prev := obj.(*corev1.Service), old.(*corev1.Service)
	if svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = prev.Spec.ClusterIP, prev.Spec.ClusterIPs
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = prev.Spec.IPFamilyPolicy
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = prev.Spec.IPFamilies
		}
	}
	defaults.NormalizeServiceClusterIPs(prev, svc)
	if wantsNodePorts(svc) && wantsNodePorts(prev) {
		held := map[string]int32{}
		for _, p := range prev.Spec.Ports {
			held[portKey(p)] = p.NodePort
		}
		for i := range svc.Spec.Ports {
			if p := &svc.Spec.Ports[i]; p.NodePort == 0 {
				p.NodePort = held[portKey(*p)]
			}
		}
	}
	switch {
	case svc.Spec.HealthCheckNodePort == 0 && needsHealthCheck(svc):
		svc.Spec.HealthCheckNodePort = prev.Spec.HealthCheckNodePort
	case !needsHealthCheck(svc) && needsHealthCheck(prev) && svc.Spec.HealthCheckNodePort == prev.Spec.HealthCheckNodePort:
		// No longer needed and left as it was: drop it.
		svc.Spec.HealthCheckNodePort = 0
	}
	dropTypeDependentFields(svc, prev)
}

// dropTypeDependentFields clears, on a change to a type that has no use for
// them, the fields the old type had and the client left as they were:
// node ports, the external traffic policy and the health check node port
// (Kubernetes does the same, so that `type: ClusterIP` alone is a valid
// change).
func dropTypeDependentFields(svc, prev *corev1.Service) {
	if prev.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeLoadBalancer &&
		apiequality.Semantic.DeepEqual(svc.Spec.AllocateLoadBalancerNodePorts, prev.Spec.AllocateLoadBalancerNodePorts) {
		svc.Spec.AllocateLoadBalancerNodePorts = nil
	}
	if !wantsNodePorts(prev) || wantsNodePorts(svc) {
		return
	}
	old := map[string]int32{}
	for _, p := range prev.Spec.Ports {
		old[portKey(p)] = p.NodePort
	}
	for i := range svc.Spec.Ports {
		if p := &svc.Spec.Ports[i]; p.NodePort == old[portKey(*p)] {
			p.NodePort = 0
		}
	}
	if svc.Spec.ExternalTrafficPolicy == prev.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
}

func hasClusterIP(s *corev1.Service) bool {
	return s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone
}

func wantsNodePorts(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// Claims implements registry.Claimer.
func (s *serviceStrategy) Claims(ctx context.Context, obj, old runtime.Object) (*storage.Extras, error) {
	svc := obj.(*corev1.Service)
	var prev *corev1.Service
	if old != nil {
		prev = old.(*corev1.Service)
	}
	owner := svc.Namespace + "/" + svc.Name
	extras := &storage.Extras{Claims: map[string]string{}}
	if err := s.claimIP(ctx, svc, prev, owner, extras); err != nil {
		return nil, err
	}
	if err := s.claimNodePorts(ctx, svc, prev, owner, extras); err != nil {
		return nil, err
	}
	return extras, nil
}

func (s *serviceStrategy) claimIP(ctx context.Context, svc, prev *corev1.Service, owner string, extras *storage.Extras) error {
	var held string
	if prev != nil && hasClusterIP(prev) {
		held = prev.Spec.ClusterIP
	}
	fld := field.NewPath("spec", "clusterIPs").Index(0)
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = nil, nil
	case held != "" && (svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == held):
		svc.Spec.ClusterIP = held
	case held != "":
		return s.invalid(svc, field.Invalid(fld, svc.Spec.ClusterIP, "field is immutable"))
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
	case svc.Spec.ClusterIP != "":
		if !s.ips.Contains(svc.Spec.ClusterIP) {
			return s.invalid(svc, field.Invalid(fld, svc.Spec.ClusterIP,
				fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", svc.Spec.ClusterIP, svc.Spec.ClusterIP, s.ips.String())))
		}
		extras.Claims[s.ips.Key(svc.Spec.ClusterIP)] = owner
	default:
		ip, err := s.ips.Next(ctx)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %w", err))
		}
		svc.Spec.ClusterIP = ip
		extras.Claims[s.ips.Key(ip)] = owner
	}
	if held != "" && svc.Spec.ClusterIP != held {
		extras.Releases = append(extras.Releases, s.ips.Key(held))
	}
	if svc.Spec.ClusterIP != "" {
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		single := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = []corev1.IPFamily{corev1.IPv4Protocol}, &single
	}
	return nil
}

func (s *serviceStrategy) claimNodePorts(ctx context.Context, svc, prev *corev1.Service, owner string, extras *storage.Extras) error {
	held := map[int32]bool{}
	reuse := map[string]int32{} // "port/protocol" of the previous version -> its node port
	if prev != nil && wantsNodePorts(prev) {
		for _, p := range prev.Spec.Ports {
			if p.NodePort != 0 {
				held[p.NodePort] = true
				reuse[portKey(p)] = p.NodePort
			}
		}
	}
	using := map[int32]bool{}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		fld := field.NewPath("spec", "ports").Index(i).Child("nodePort")
		switch {
		case !wantsNodePorts(svc):
			p.NodePort = 0
			continue
		case p.NodePort == 0 && reuse[portKey(*p)] != 0:
			p.NodePort = reuse[portKey(*p)]
		case p.NodePort == 0:
			v, err := s.ports.Next(ctx)
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
			}
			n, _ := strconv.Atoi(v)
			p.NodePort = int32(n)
		case !s.ports.Contains(strconv.Itoa(int(p.NodePort))):
			return s.invalid(svc, field.Invalid(fld, p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", s.ports.String())))
		}
		using[p.NodePort] = true
		if !held[p.NodePort] {
			extras.Claims[s.ports.Key(strconv.Itoa(int(p.NodePort)))] = owner
		}
	}
	if err := s.claimHealthCheckPort(ctx, svc, prev, held, using, extras); err != nil {
		return err
	}
	for port := range held {
		if !using[port] {
			extras.Releases = append(extras.Releases, s.ports.Key(strconv.Itoa(int(port))))
		}
	}
	return nil
}

// needsHealthCheck reports whether a service gets a health check node port:
// LoadBalancer services that keep traffic on nodes with local endpoints.
func needsHealthCheck(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// claimHealthCheckPort allocates (or keeps) the health check node port from
// the node port range; a port the previous version held is released by the
// caller when nothing uses it any more.
func (s *serviceStrategy) claimHealthCheckPort(ctx context.Context, svc, prev *corev1.Service, held, using map[int32]bool, extras *storage.Extras) error {
	if prev != nil && prev.Spec.HealthCheckNodePort != 0 {
		held[prev.Spec.HealthCheckNodePort] = true
	}
	if !needsHealthCheck(svc) {
		svc.Spec.HealthCheckNodePort = 0
		return nil
	}
	port := svc.Spec.HealthCheckNodePort
	switch {
	case port == 0:
		v, err := s.ports.Next(ctx)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a healthCheckNodePort: %w", err))
		}
		n, _ := strconv.Atoi(v)
		port = int32(n)
	case !s.ports.Contains(strconv.Itoa(int(port))):
		return s.invalid(svc, field.Invalid(field.NewPath("spec", "healthCheckNodePort"), port,
			fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", s.ports.String())))
	}
	svc.Spec.HealthCheckNodePort = port
	if using[port] {
		return s.invalid(svc, field.Invalid(field.NewPath("spec", "healthCheckNodePort"), port, "provided port is already allocated"))
	}
	using[port] = true
	if !held[port] {
		extras.Claims[s.ports.Key(strconv.Itoa(int(port)))] = svc.Namespace + "/" + svc.Name
	}
	return nil
}

func portKey(p corev1.ServicePort) string {
	return strconv.Itoa(int(p.Port)) + "/" + string(p.Protocol)
}

func (s *serviceStrategy) invalid(svc *corev1.Service, errs ...*field.Error) error {
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
}

// Releases implements registry.Claimer.
func (s *serviceStrategy) Releases(obj runtime.Object) []string {
	svc := obj.(*corev1.Service)
	var keys []string
	if hasClusterIP(svc) {
		keys = append(keys, s.ips.Key(svc.Spec.ClusterIP))
	}
	if wantsNodePorts(svc) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				keys = append(keys, s.ports.Key(strconv.Itoa(int(p.NodePort))))
			}
		}
	}
	if hc := svc.Spec.HealthCheckNodePort; hc != 0 {
		keys = append(keys, s.ports.Key(strconv.Itoa(int(hc))))
	}
	return keys
}

// ClaimError implements registry.Claimer.
func (s *serviceStrategy) ClaimError(requested runtime.Object, err *storage.ClaimError) error {
	svc := requested.(*corev1.Service)
	if ip, ok := strings.CutPrefix(err.Key, s.ips.Key("")); ok {
		if svc.Spec.ClusterIP != ip {
			s.ips.MarkTaken(ip)
			return nil
		}
		return s.invalid(svc, field.Invalid(field.NewPath("spec", "clusterIPs"), []string{ip},
			fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip)))
	}
	if v, ok := strings.CutPrefix(err.Key, s.ports.Key("")); ok {
		port, _ := strconv.Atoi(v)
		for i, p := range svc.Spec.Ports {
			if int(p.NodePort) == port {
				return s.invalid(svc, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort, "provided port is already allocated"))
			}
		}
		if int(svc.Spec.HealthCheckNodePort) == port {
			return s.invalid(svc, field.Invalid(field.NewPath("spec", "healthCheckNodePort"), port, "provided port is already allocated"))
		}
		s.ports.MarkTaken(v)
		return nil
	}
	return apierrors.NewInternalError(errors.New(err.Error()))
}
