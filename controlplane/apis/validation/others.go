package validation

import (
	"fmt"
	"slices"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

const (
	maxHPAPeriodSeconds              = 1800
	maxHPAStabilizationWindowSeconds = 3600
)

var (
	hpaSelectPolicies = []string{string(autoscalingv2.DisabledPolicySelect), string(autoscalingv2.MaxChangePolicySelect), string(autoscalingv2.MinChangePolicySelect)}
	hpaPolicyTypes    = []string{string(autoscalingv2.PercentScalingPolicy), string(autoscalingv2.PodsScalingPolicy)}
	hpaMetricTypes    = []string{string(autoscalingv2.ContainerResourceMetricSourceType), string(autoscalingv2.ExternalMetricSourceType),
		string(autoscalingv2.ObjectMetricSourceType), string(autoscalingv2.PodsMetricSourceType), string(autoscalingv2.ResourceMetricSourceType)}
)

// validateHorizontalPodAutoscaler validates an HPA. minReplicas may be 0
// only for an HPA that already had 0 (HPAScaleToZero is alpha).
func validateHorizontalPodAutoscaler(h *autoscalingv2.HorizontalPodAutoscaler, allowZero bool) field.ErrorList {
	errs := objectMeta(&h.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	var lower int32 = 1
	if allowZero {
		lower = 0
	}
	return append(errs, hpaSpec(&h.Spec, field.NewPath("spec"), lower)...)
}

func validateHorizontalPodAutoscalerUpdate(h, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := objectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	var lower int32 = 1
	if old.Spec.MinReplicas != nil && *old.Spec.MinReplicas == 0 {
		lower = 0
	}
	return append(errs, hpaSpec(&h.Spec, field.NewPath("spec"), lower)...)
}

func validateHorizontalPodAutoscalerStatusUpdate(h, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := objectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, nonnegative(h.Status.CurrentReplicas, field.NewPath("status", "currentReplicas"))...)
	return append(errs, nonnegative(h.Status.DesiredReplicas, field.NewPath("status", "desiredReplicas"))...)
}

func hpaSpec(spec *autoscalingv2.HorizontalPodAutoscalerSpec, fld *field.Path, minLower int32) field.ErrorList {
	var errs field.ErrorList
	if spec.MinReplicas != nil && *spec.MinReplicas < minLower {
		errs = append(errs, field.Invalid(fld.Child("minReplicas"), *spec.MinReplicas, fmt.Sprintf("must be greater than or equal to %d", minLower)))
	}
	if spec.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(fld.Child("maxReplicas"), spec.MaxReplicas, "must be greater than 0"))
	}
	if spec.MinReplicas != nil && spec.MaxReplicas < *spec.MinReplicas {
		errs = append(errs, field.Invalid(fld.Child("maxReplicas"), spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	errs = append(errs, crossVersionObjectReference(spec.ScaleTargetRef, fld.Child("scaleTargetRef"))...)
	errs = append(errs, hpaMetrics(spec.Metrics, spec.MinReplicas, fld.Child("metrics"))...)
	if b := spec.Behavior; b != nil {
		errs = append(errs, scalingRules(b.ScaleUp, fld.Child("behavior", "scaleUp"))...)
		errs = append(errs, scalingRules(b.ScaleDown, fld.Child("behavior", "scaleDown"))...)
	}
	return errs
}

func pathSegmentName(value string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range path.IsValidPathSegmentName(value) {
		errs = append(errs, field.Invalid(fld, value, msg))
	}
	return errs
}

func crossVersionObjectReference(ref autoscalingv2.CrossVersionObjectReference, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.Kind == "" {
		errs = append(errs, field.Required(fld.Child("kind"), ""))
	} else {
		errs = append(errs, pathSegmentName(ref.Kind, fld.Child("kind"))...)
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(fld.Child("name"), ""))
	} else {
		errs = append(errs, pathSegmentName(ref.Name, fld.Child("name"))...)
	}
	return errs
}

func hpaMetrics(metrics []autoscalingv2.MetricSpec, minReplicas *int32, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	objectOrExternal := false
	for i := range metrics {
		errs = append(errs, metricSpec(&metrics[i], fld.Index(i))...)
		t := metrics[i].Type
		objectOrExternal = objectOrExternal || t == autoscalingv2.ObjectMetricSourceType || t == autoscalingv2.ExternalMetricSourceType
	}
	if minReplicas != nil && *minReplicas == 0 && !objectOrExternal {
		errs = append(errs, field.Forbidden(fld, "must specify at least one Object or External metric to support scaling to zero replicas"))
	}
	return errs
}

// metricSpec requires the source matching the metric type, and only it.
func metricSpec(m *autoscalingv2.MetricSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m.Type == "" {
		errs = append(errs, field.Required(fld.Child("type"), "must specify a metric source type"))
	}
	if !slices.Contains(hpaMetricTypes, string(m.Type)) {
		errs = append(errs, field.NotSupported(fld.Child("type"), m.Type, hpaMetricTypes))
	}
	var present []string
	check := func(set bool, name string, fn func() field.ErrorList) {
		if set {
			present = append(present, name)
			if len(present) == 1 {
				errs = append(errs, fn()...)
			}
		}
	}
	check(m.Object != nil, "object", func() field.ErrorList { return objectMetric(m.Object, fld.Child("object")) })
	check(m.External != nil, "external", func() field.ErrorList { return externalMetric(m.External, fld.Child("external")) })
	check(m.Pods != nil, "pods", func() field.ErrorList { return podsMetric(m.Pods, fld.Child("pods")) })
	check(m.Resource != nil, "resource", func() field.ErrorList {
		return resourceMetric(m.Resource.Name, m.Resource.Target, fld.Child("resource"))
	})
	check(m.ContainerResource != nil, "containerResource", func() field.ErrorList {
		return containerResourceMetric(m.ContainerResource, fld.Child("containerResource"))
	})
	expected := map[autoscalingv2.MetricSourceType]string{
		autoscalingv2.ObjectMetricSourceType:            "object",
		autoscalingv2.PodsMetricSourceType:              "pods",
		autoscalingv2.ResourceMetricSourceType:          "resource",
		autoscalingv2.ExternalMetricSourceType:          "external",
		autoscalingv2.ContainerResourceMetricSourceType: "containerResource",
	}[m.Type]
	if expected == "" {
		errs = append(errs, field.NotSupported(fld.Child("type"), m.Type, hpaMetricTypes))
	} else if !slices.Contains(present, expected) {
		errs = append(errs, field.Required(fld.Child(expected), "must populate information for the given metric source"))
	}
	if len(present) != 1 {
		for _, p := range present {
			if p != expected {
				errs = append(errs, field.Forbidden(fld.Child(p), "must populate the given metric source only"))
			}
		}
	}
	return errs
}

func objectMetric(src *autoscalingv2.ObjectMetricSource, fld *field.Path) field.ErrorList {
	errs := crossVersionObjectReference(src.DescribedObject, fld.Child("describedObject"))
	errs = append(errs, metricIdentifier(src.Metric, fld.Child("metric"))...)
	errs = append(errs, metricTarget(src.Target, fld.Child("target"))...)
	if src.Target.Value == nil && src.Target.AverageValue == nil {
		errs = append(errs, field.Required(fld.Child("target", "averageValue"), "must set either a target value or averageValue"))
	}
	return errs
}

func externalMetric(src *autoscalingv2.ExternalMetricSource, fld *field.Path) field.ErrorList {
	errs := metricIdentifier(src.Metric, fld.Child("metric"))
	errs = append(errs, metricTarget(src.Target, fld.Child("target"))...)
	if src.Target.Value == nil && src.Target.AverageValue == nil {
		errs = append(errs, field.Required(fld.Child("target", "averageValue"), "must set either a target value for metric or a per-pod target"))
	}
	if src.Target.Value != nil && src.Target.AverageValue != nil {
		errs = append(errs, field.Forbidden(fld.Child("target", "value"), "may not set both a target value for metric and a per-pod target"))
	}
	return errs
}

func podsMetric(src *autoscalingv2.PodsMetricSource, fld *field.Path) field.ErrorList {
	errs := metricIdentifier(src.Metric, fld.Child("metric"))
	errs = append(errs, metricTarget(src.Target, fld.Child("target"))...)
	if src.Target.AverageValue == nil {
		errs = append(errs, field.Required(fld.Child("target", "averageValue"), "must specify a positive target averageValue"))
	}
	return errs
}

func resourceMetric(name corev1.ResourceName, target autoscalingv2.MetricTarget, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fld.Child("name"), "must specify a resource name"))
	}
	errs = append(errs, metricTarget(target, fld.Child("target"))...)
	return append(errs, utilizationOrValue(target, fld)...)
}

func utilizationOrValue(target autoscalingv2.MetricTarget, fld *field.Path) field.ErrorList {
	if target.AverageUtilization == nil && target.AverageValue == nil {
		return field.ErrorList{field.Required(fld.Child("target", "averageUtilization"), "must set either a target raw value or a target utilization")}
	}
	if target.AverageUtilization != nil && target.AverageValue != nil {
		return field.ErrorList{field.Forbidden(fld.Child("target", "averageValue"), "may not set both a target raw value and a target utilization")}
	}
	return nil
}

func containerResourceMetric(src *autoscalingv2.ContainerResourceMetricSource, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if src.Name == "" {
		errs = append(errs, field.Required(fld.Child("name"), "must specify a resource name"))
	} else {
		errs = append(errs, containerResourceName(src.Name, fld.Child("name"))...)
	}
	if src.Container == "" {
		errs = append(errs, field.Required(fld.Child("container"), "must specify a container"))
	} else {
		errs = append(errs, dns1123Label(src.Container, fld.Child("container"))...)
	}
	errs = append(errs, metricTarget(src.Target, fld.Child("target"))...)
	return append(errs, utilizationOrValue(src.Target, fld)...)
}

func metricTarget(t autoscalingv2.MetricTarget, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Type == "" {
		errs = append(errs, field.Required(fld.Child("type"), "must specify a metric target type"))
	}
	if t.Type != autoscalingv2.UtilizationMetricType && t.Type != autoscalingv2.ValueMetricType && t.Type != autoscalingv2.AverageValueMetricType {
		errs = append(errs, field.Invalid(fld.Child("type"), t.Type, "must be either Utilization, Value, or AverageValue"))
	}
	if t.Value != nil && t.Value.Sign() != 1 {
		errs = append(errs, field.Invalid(fld.Child("value"), t.Value, "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() != 1 {
		errs = append(errs, field.Invalid(fld.Child("averageValue"), t.AverageValue, "must be positive"))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		errs = append(errs, field.Invalid(fld.Child("averageUtilization"), t.AverageUtilization, "must be greater than 0"))
	}
	return errs
}

func metricIdentifier(id autoscalingv2.MetricIdentifier, fld *field.Path) field.ErrorList {
	if id.Name == "" {
		return field.ErrorList{field.Required(fld.Child("name"), "must specify a metric name")}
	}
	return pathSegmentName(id.Name, fld.Child("name"))
}

func scalingRules(r *autoscalingv2.HPAScalingRules, fld *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && *w < 0 {
		errs = append(errs, field.Invalid(fld.Child("stabilizationWindowSeconds"), w, "must be greater than or equal to zero"))
	}
	if w := r.StabilizationWindowSeconds; w != nil && *w > maxHPAStabilizationWindowSeconds {
		errs = append(errs, field.Invalid(fld.Child("stabilizationWindowSeconds"), w, fmt.Sprintf("must be less than or equal to %v", maxHPAStabilizationWindowSeconds)))
	}
	if s := r.SelectPolicy; s != nil && !slices.Contains(hpaSelectPolicies, string(*s)) {
		errs = append(errs, field.NotSupported(fld.Child("selectPolicy"), s, hpaSelectPolicies))
	}
	if t := r.Tolerance; t != nil && t.Sign() < 0 {
		errs = append(errs, field.Invalid(fld.Child("tolerance"), t, "must be greater than or equal to zero"))
	}
	pp := fld.Child("policies")
	if len(r.Policies) == 0 {
		errs = append(errs, field.Required(pp, "must specify at least one Policy"))
	}
	for i, p := range r.Policies {
		ip := pp.Index(i)
		if p.Type != autoscalingv2.PodsScalingPolicy && p.Type != autoscalingv2.PercentScalingPolicy {
			errs = append(errs, field.NotSupported(ip.Child("type"), p.Type, hpaPolicyTypes))
		}
		if p.Value <= 0 {
			errs = append(errs, field.Invalid(ip.Child("value"), p.Value, "must be greater than zero"))
		}
		if p.PeriodSeconds <= 0 {
			errs = append(errs, field.Invalid(ip.Child("periodSeconds"), p.PeriodSeconds, "must be greater than zero"))
		}
		if p.PeriodSeconds > maxHPAPeriodSeconds {
			errs = append(errs, field.Invalid(ip.Child("periodSeconds"), p.PeriodSeconds, fmt.Sprintf("must be less than or equal to %v", maxHPAPeriodSeconds)))
		}
	}
	return errs
}

// validateScale validates the scale subresource.
func validateScale(s *autoscalingv1.Scale) field.ErrorList {
	errs := objectMeta(&s.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	if s.Spec.Replicas < 0 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "replicas"), s.Spec.Replicas, "must be greater than or equal to 0"))
	}
	return errs
}

var supportedUnhealthyPodEvictionPolicies = []string{string(policyv1.AlwaysAllow), string(policyv1.IfHealthyBudget)}

// validatePodDisruptionBudget validates the spec; the name gets only the
// generic checks, as in Kubernetes.
func validatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	fld := field.NewPath("spec")
	spec := &pdb.Spec
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(fld, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		errs = append(errs, positiveIntOrPercent(*spec.MinAvailable, fld.Child("minAvailable"))...)
		errs = append(errs, notMoreThan100Percent(*spec.MinAvailable, fld.Child("minAvailable"))...)
	}
	if spec.MaxUnavailable != nil {
		errs = append(errs, positiveIntOrPercent(*spec.MaxUnavailable, fld.Child("maxUnavailable"))...)
		errs = append(errs, notMoreThan100Percent(*spec.MaxUnavailable, fld.Child("maxUnavailable"))...)
	}
	errs = append(errs, strictSelector(spec.Selector, fld.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && !slices.Contains(supportedUnhealthyPodEvictionPolicies, string(*p)) {
		errs = append(errs, field.NotSupported(fld.Child("unhealthyPodEvictionPolicy"), *p, supportedUnhealthyPodEvictionPolicies))
	}
	return errs
}

func validatePodDisruptionBudgetUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := objectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validatePodDisruptionBudget(pdb)...)
}

func validatePodDisruptionBudgetStatusUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := objectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	s, p := &pdb.Status, field.NewPath("status")
	errs = append(errs, metav1validation.ValidateConditions(s.Conditions, p.Child("conditions"))...)
	errs = append(errs, nonnegative(s.DisruptionsAllowed, p.Child("disruptionsAllowed"))...)
	errs = append(errs, nonnegative(s.CurrentHealthy, p.Child("currentHealthy"))...)
	errs = append(errs, nonnegative(s.DesiredHealthy, p.Child("desiredHealthy"))...)
	return append(errs, nonnegative(s.ExpectedPods, p.Child("expectedPods"))...)
}

// validateEviction checks an eviction request: it names the pod, and its
// delete options are valid. The name must also equal the pod's in the URL,
// which the handler checks.
func validateEviction(e *policyv1.Eviction) field.ErrorList {
	if e.DeleteOptions == nil {
		return nil
	}
	return metav1validation.ValidateDeleteOptions(e.DeleteOptions)
}

var supportedAddressTypes = []string{string(discoveryv1.AddressTypeFQDN), string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6)}

// EndpointSlice limits.
const (
	maxSliceTopologyLabels = 16
	maxSliceAddresses      = 100
	maxSlicePorts          = 20000
	maxSliceEndpoints      = 1000
	maxSliceZoneHints      = 8
	maxSliceNodeHints      = 8
)

func validateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	errs := objectMeta(&s.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	if s.AddressType == "" {
		errs = append(errs, field.Required(field.NewPath("addressType"), ""))
	} else if !slices.Contains(supportedAddressTypes, string(s.AddressType)) {
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), s.AddressType, supportedAddressTypes))
	}
	errs = append(errs, sliceEndpoints(s.Endpoints, s.AddressType, field.NewPath("endpoints"))...)
	return append(errs, slicePorts(s.Ports, field.NewPath("ports"))...)
}

// validateEndpointSliceUpdate: the address type is immutable.
func validateEndpointSliceUpdate(s, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := objectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateEndpointSlice(s)...)
	return append(errs, immutable(s.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

func sliceEndpoints(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType, fld *field.Path) field.ErrorList {
	if len(endpoints) > maxSliceEndpoints {
		return field.ErrorList{field.TooMany(fld, len(endpoints), maxSliceEndpoints)}
	}
	var errs field.ErrorList
	for i, ep := range endpoints {
		p := fld.Index(i)
		ap := p.Child("addresses")
		if len(ep.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxSliceAddresses {
			errs = append(errs, field.TooMany(ap, len(ep.Addresses), maxSliceAddresses))
		}
		for j, a := range ep.Addresses {
			errs = append(errs, sliceAddress(a, addrType, ap.Index(j))...)
		}
		if ep.NodeName != nil {
			errs = append(errs, validName(*ep.NodeName, nameIsDNSSubdomain, p.Child("nodeName"))...)
		}
		tp := p.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxSliceTopologyLabels {
			errs = append(errs, field.TooMany(tp, len(ep.DeprecatedTopology), maxSliceTopologyLabels))
		}
		errs = append(errs, validLabels(ep.DeprecatedTopology, tp)...)
		if _, ok := ep.DeprecatedTopology[corev1.LabelTopologyZone]; ok {
			errs = append(errs, field.InternalError(tp.Key(corev1.LabelTopologyZone), fmt.Errorf("reserved key was not removed in conversion")))
		}
		if ep.Hostname != nil {
			errs = append(errs, dns1123Label(*ep.Hostname, p.Child("hostname"))...)
		}
		if ep.Hints != nil {
			errs = append(errs, sliceHints(ep.Hints, p.Child("hints"))...)
		}
	}
	return errs
}

// sliceAddress validates an address by the slice's type; unknown types
// are left to the addressType error.
func sliceAddress(a string, t discoveryv1.AddressType, fld *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		errs := validation.IsValidIPForLegacyField(fld, a, true, nil)
		if len(errs) > 0 {
			return errs
		}
		if t == discoveryv1.AddressTypeIPv4 && !netutils.IsIPv4String(a) {
			return field.ErrorList{field.Invalid(fld, a, "must be an IPv4 address")}
		}
		if t == discoveryv1.AddressTypeIPv6 && !netutils.IsIPv6String(a) {
			return field.ErrorList{field.Invalid(fld, a, "must be an IPv6 address")}
		}
		return endpointIP(a, fld)
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(fld, a)
	}
	return nil
}

func sliceHints(h *discoveryv1.EndpointHints, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	zp := fld.Child("forZones")
	if len(h.ForZones) > maxSliceZoneHints {
		return field.ErrorList{field.TooMany(zp, len(h.ForZones), maxSliceZoneHints)}
	}
	zones := sets.New[string]()
	for i, z := range h.ForZones {
		p := zp.Index(i).Child("name")
		if zones.Has(z.Name) {
			errs = append(errs, field.Duplicate(p, z.Name))
		} else {
			zones.Insert(z.Name)
		}
		for _, msg := range validation.IsValidLabelValue(z.Name) {
			errs = append(errs, field.Invalid(p, z.Name, msg))
		}
	}
	np := fld.Child("forNodes")
	if len(h.ForNodes) > maxSliceNodeHints {
		return append(errs, field.TooMany(np, len(h.ForNodes), maxSliceNodeHints))
	}
	nodes := sets.New[string]()
	for i, n := range h.ForNodes {
		p := np.Index(i).Child("name")
		if nodes.Has(n.Name) {
			errs = append(errs, field.Duplicate(p, n.Name))
		} else {
			nodes.Insert(n.Name)
		}
		errs = append(errs, validName(n.Name, nameIsDNSSubdomain, p)...)
	}
	return errs
}

func slicePorts(ports []discoveryv1.EndpointPort, fld *field.Path) field.ErrorList {
	if len(ports) > maxSlicePorts {
		return field.ErrorList{field.TooMany(fld, len(ports), maxSlicePorts)}
	}
	var errs field.ErrorList
	names := sets.New[string]()
	for i, p := range ports {
		ip := fld.Index(i)
		portName := ""
		if p.Name != nil {
			portName = *p.Name
		}
		if portName != "" {
			errs = append(errs, dns1123Label(portName, ip.Child("name"))...)
		}
		if names.Has(portName) {
			errs = append(errs, field.Duplicate(ip.Child("name"), p.Name))
		} else {
			names.Insert(portName)
		}
		if p.Protocol == nil {
			errs = append(errs, field.Required(ip.Child("protocol"), ""))
		} else if !supportedPortProtocols.Has(*p.Protocol) {
			errs = append(errs, field.NotSupported(ip.Child("protocol"), *p.Protocol, sets.List(supportedPortProtocols)))
		}
		if p.AppProtocol != nil {
			errs = append(errs, qualifiedName(*p.AppProtocol, ip.Child("appProtocol"))...)
		}
	}
	return errs
}

// validLeaseStrategies are the Kubernetes-defined coordinated lease strategies.
var validLeaseStrategies = []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := objectMeta(&l.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, leaseSpec(&l.Spec, field.NewPath("spec"))...)
}

func validateLeaseUpdate(l, old *coordinationv1.Lease) field.ErrorList {
	errs := objectMetaUpdate(&l.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, leaseSpec(&l.Spec, field.NewPath("spec"))...)
}

func leaseSpec(spec *coordinationv1.LeaseSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if d := spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(fld.Child("leaseDurationSeconds"), d, "must be greater than 0"))
	}
	if t := spec.LeaseTransitions; t != nil && *t < 0 {
		errs = append(errs, field.Invalid(fld.Child("leaseTransitions"), t, "must be greater than or equal to 0"))
	}
	if s := spec.Strategy; s != nil {
		sp := fld.Child("strategy")
		if !strings.Contains(string(*s), "/") {
			if !slices.Contains(validLeaseStrategies, *s) {
				errs = append(errs, field.NotSupported(sp.Child("strategy"), *s, validLeaseStrategies))
			}
		} else {
			errs = append(errs, qualifiedName(string(*s), sp.Child("strategy"))...)
		}
	}
	if h := spec.PreferredHolder; h != nil && *h != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		errs = append(errs, field.Forbidden(fld.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}
