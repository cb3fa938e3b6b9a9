package validation

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func validSlice() *discoveryv1.EndpointSlice {
	return defaulted(&discoveryv1.EndpointSlice{
		ObjectMeta:  objMeta("web-abcde"),
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.244.0.5"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			NodeName:   ptr.To("node-1"),
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
	})
}

func TestEndpointSlice(t *testing.T) {
	runCreate(t, validSlice, []createCase[*discoveryv1.EndpointSlice]{
		{name: "valid"},
		{name: "no address type", mutate: func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, want: []want{required("addressType")}},
		{name: "unknown address type", mutate: func(s *discoveryv1.EndpointSlice) { s.AddressType = "IPX" }, want: []want{notSupported("addressType")}},
		{name: "IPv6 address in an IPv4 slice", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses[0] = "fd00::5" },
			want: []want{invalid("endpoints[0].addresses[0]")}},
		{name: "IPv6 slice", mutate: func(s *discoveryv1.EndpointSlice) {
			s.AddressType, s.Endpoints[0].Addresses[0] = discoveryv1.AddressTypeIPv6, "fd00::5"
		}},
		{name: "FQDN slice", mutate: func(s *discoveryv1.EndpointSlice) {
			s.AddressType, s.Endpoints[0].Addresses[0] = discoveryv1.AddressTypeFQDN, "db.example.com"
		}},
		{name: "bad FQDN", mutate: func(s *discoveryv1.EndpointSlice) {
			s.AddressType, s.Endpoints[0].Addresses[0] = discoveryv1.AddressTypeFQDN, "db"
		}, want: []want{invalid("endpoints[0].addresses[0]")}},
		{name: "loopback endpoint", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses[0] = "127.0.0.1" },
			want: []want{invalid("endpoints[0].addresses[0]")}},
		{name: "endpoint without address", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil },
			want: []want{required("endpoints[0].addresses")}},
		{name: "too many addresses", mutate: func(s *discoveryv1.EndpointSlice) {
			for i := 0; i < 100; i++ {
				s.Endpoints[0].Addresses = append(s.Endpoints[0].Addresses, "10.244.0.6")
			}
		}, want: []want{tooMany("endpoints[0].addresses")}},
		{name: "bad node name", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].NodeName = ptr.To("Node_1") },
			want: []want{invalid("endpoints[0].nodeName")}},
		{name: "duplicate port name", mutate: func(s *discoveryv1.EndpointSlice) {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To("http"), Port: ptr.To[int32](9090), Protocol: ptr.To(corev1.ProtocolTCP)})
		}, want: []want{duplicate("ports[1].name")}},
		{name: "bad protocol", mutate: func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = ptr.To[corev1.Protocol]("QUIC") },
			want: []want{notSupported("ports[0].protocol")}},
	})
	runUpdate(t, validSlice, false, []updateCase[*discoveryv1.EndpointSlice]{
		{name: "endpoints may change", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses[0] = "10.244.0.9" }},
		{name: "address type immutable", mutate: func(s *discoveryv1.EndpointSlice) {
			s.AddressType, s.Endpoints[0].Addresses[0] = discoveryv1.AddressTypeIPv6, "fd00::5"
		}, want: []want{invalid("addressType")}},
	})
}

func validHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return defaulted(&autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: objMeta("web"),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    10,
			Behavior:       &autoscalingv2.HorizontalPodAutoscalerBehavior{},
		},
	})
}

func TestHorizontalPodAutoscaler(t *testing.T) {
	runCreate(t, validHPA, []createCase[*autoscalingv2.HorizontalPodAutoscaler]{
		{name: "valid"},
		{name: "min above max", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To[int32](11) },
			want: []want{invalid("spec.maxReplicas")}},
		{name: "min zero", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To[int32](0) },
			want: []want{invalid("spec.minReplicas"), forbidden("spec.metrics")}},
		{name: "max zero", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 },
			want: []want{invalid("spec.maxReplicas")}},
		{name: "no target kind", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Kind = "" },
			want: []want{required("spec.scaleTargetRef.kind")}},
		{name: "target name with slash", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "a/b" },
			want: []want{invalid("spec.scaleTargetRef.name")}},
		{name: "metric type without source", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType}}
		}, want: []want{required("spec.metrics[0].pods")}},
		{name: "utilization and value both set", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageValue = ptr.To(resource.MustParse("100m"))
		}, want: []want{forbidden("spec.metrics[0].resource.target.averageValue")}},
		{name: "zero utilization", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageUtilization = ptr.To[int32](0)
		}, want: []want{invalid("spec.metrics[0].resource.target.averageUtilization")}},
		{name: "scaling policy period too long", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior.ScaleUp.Policies[0].PeriodSeconds = 1801
		}, want: []want{invalid("spec.behavior.scaleUp.policies[0].periodSeconds")}},
		{name: "scaling rules without policies", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior.ScaleDown.Policies = []autoscalingv2.HPAScalingPolicy{}
		}, want: []want{required("spec.behavior.scaleDown.policies")}},
	})
	runUpdate(t, validHPA, true, []updateCase[*autoscalingv2.HorizontalPodAutoscaler]{
		{name: "negative desired", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Status.DesiredReplicas = -1 },
			want: []want{invalid("status.desiredReplicas")}},
	})
}

func TestScale(t *testing.T) {
	valid := func() *autoscalingv1.Scale {
		return &autoscalingv1.Scale{ObjectMeta: objMeta("web"), Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
	}
	runUpdate(t, valid, false, []updateCase[*autoscalingv1.Scale]{
		{name: "scale to zero", mutate: func(s *autoscalingv1.Scale) { s.Spec.Replicas = 0 }},
		{name: "unconditional (no resourceVersion)", mutate: func(s *autoscalingv1.Scale) { s.ResourceVersion = "" }},
		{name: "negative", mutate: func(s *autoscalingv1.Scale) { s.Spec.Replicas = -1 }, want: []want{invalid("spec.replicas")}},
	})
}

func TestPodDisruptionBudget(t *testing.T) {
	valid := func() *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{ObjectMeta: objMeta("web"), Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromString("50%")),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		}}
	}
	runCreate(t, valid, []createCase[*policyv1.PodDisruptionBudget]{
		{name: "valid"},
		{name: "both set", mutate: func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1)) },
			want: []want{invalid("spec")}},
		{name: "above 100%", mutate: func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromString("120%")) },
			want: []want{invalid("spec.minAvailable")}},
		{name: "negative", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, ptr.To(intstr.FromInt32(-1))
		}, want: []want{invalid("spec.maxUnavailable")}},
		{name: "bad eviction policy", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.UnhealthyPodEvictionPolicy = ptr.To[policyv1.UnhealthyPodEvictionPolicyType]("Never")
		}, want: []want{notSupported("spec.unhealthyPodEvictionPolicy")}},
		{name: "name gets only the generic check", mutate: func(p *policyv1.PodDisruptionBudget) { p.Name = "Web_PDB" }},
		{name: "name with a slash", mutate: func(p *policyv1.PodDisruptionBudget) { p.Name = "web/pdb" }, want: []want{invalid("metadata.name")}},
	})
	runUpdate(t, valid, true, []updateCase[*policyv1.PodDisruptionBudget]{
		{name: "negative expected pods", mutate: func(p *policyv1.PodDisruptionBudget) { p.Status.ExpectedPods = -1 },
			want: []want{invalid("status.expectedPods")}},
	})
}

func TestEviction(t *testing.T) {
	valid := func() *policyv1.Eviction { return &policyv1.Eviction{ObjectMeta: objMeta("web")} }
	runCreate(t, valid, []createCase[*policyv1.Eviction]{
		{name: "valid"},
		{name: "with grace period", mutate: func(e *policyv1.Eviction) {
			e.DeleteOptions = &metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}
		}},
		{name: "bad propagation policy", mutate: func(e *policyv1.Eviction) {
			e.DeleteOptions = &metav1.DeleteOptions{PropagationPolicy: ptr.To[metav1.DeletionPropagation]("Sometimes")}
		}, want: []want{notSupported("propagationPolicy")}},
		{name: "metadata is the pod's, not checked", mutate: func(e *policyv1.Eviction) { e.Namespace = "" }},
	})
}

func TestLease(t *testing.T) {
	valid := func() *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: objMeta("node-1"), Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("node-1"), LeaseDurationSeconds: ptr.To[int32](40),
		}}
	}
	runCreate(t, valid, []createCase[*coordinationv1.Lease]{
		{name: "valid"},
		{name: "zero duration", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr.To[int32](0) },
			want: []want{invalid("spec.leaseDurationSeconds")}},
		{name: "negative transitions", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr.To[int32](-1) },
			want: []want{invalid("spec.leaseTransitions")}},
		{name: "preferred holder without strategy", mutate: func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptr.To("node-2") },
			want: []want{forbidden("spec.preferredHolder")}},
	})
	runUpdate(t, valid, false, []updateCase[*coordinationv1.Lease]{
		{name: "renew", mutate: func(l *coordinationv1.Lease) { l.Spec.RenewTime = ptr.To(metav1.NowMicro()) }},
	})
}

func TestDispatch(t *testing.T) {
	if errs := ValidateCreate(&corev1.PodList{}); len(errs) != 1 || errs[0].Type != "InternalError" {
		t.Errorf("an unsupported kind must be an internal error, got %v", errs)
	}
	if errs := ValidateUpdate(validPod(), validService()); len(errs) != 1 || errs[0].Type != "InternalError" {
		t.Errorf("mismatched types must be an internal error, got %v", errs)
	}
	if errs := ValidateStatusUpdate(validConfigMap(), validConfigMap()); len(errs) != 1 || errs[0].Type != "InternalError" {
		t.Errorf("kinds without status must be an internal error, got %v", errs)
	}
	// Every kind skiff serves has create or update rules.
	for _, obj := range []runtime.Object{
		validPod(), validService(), validConfigMap(), validSecret(), validNamespace(), validNode(),
		validDeployment(), validReplicaSet(), validStatefulSet(), validDaemonSet(), validJob(),
		validReplicationController(), validSlice(), validHPA(),
	} {
		if errs := ValidateCreate(obj); len(errs) != 0 {
			t.Errorf("%T: %v", obj, errs)
		}
		if errs := ValidateUpdate(obj, obj.DeepCopyObject()); len(errs) != 0 {
			t.Errorf("%T no-op update: %v", obj, errs)
		}
	}
}

func TestUpdateErrorsAreNotDuplicated(t *testing.T) {
	old := validConfigMap()
	c := old.DeepCopy()
	c.ResourceVersion = ""
	errs := ValidateUpdate(c, old)
	if len(errs) != 1 {
		t.Fatalf("want a single resourceVersion error, got:\n%s", describe(errs))
	}
}
