package defaults

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// same fails the test when got and want differ semantically.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("%s: (-want +got)\n%s", what, cmp.Diff(want, got))
	}
}

func TestImagePullPolicyFromTag(t *testing.T) {
	const digest = "@sha256:b7a56dbb1cb37e8df42ae5cc0f2e4c8c59af3d2f4b1e5f2d6ac4f7c0e1d2a3b4"
	for image, want := range map[string]corev1.PullPolicy{
		"nginx":                               corev1.PullAlways,
		"nginx:latest":                        corev1.PullAlways,
		"nginx:1.27":                          corev1.PullIfNotPresent,
		"library/nginx:1.27-alpine":           corev1.PullIfNotPresent,
		"registry.example.com:5000/team/app":  corev1.PullAlways,
		"registry.example.com:5000/app:v1":    corev1.PullIfNotPresent,
		"localhost/app":                       corev1.PullAlways,
		"busybox" + digest:                    corev1.PullIfNotPresent,
		"busybox:latest" + digest:             corev1.PullAlways,
		"Registry.Example.com/app":            corev1.PullAlways,
		"Nginx":                               corev1.PullIfNotPresent, // not a valid reference
		"nginx:":                              corev1.PullIfNotPresent,
		"":                                    corev1.PullIfNotPresent,
		"skiff/test:latest":                   corev1.PullAlways,
		"[fd00::1]:5000/app:2":                corev1.PullIfNotPresent,
		"example.com/app/with/long/path:dev1": corev1.PullIfNotPresent,
	} {
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: image}}}}
		Default(p)
		if got := p.Spec.Containers[0].ImagePullPolicy; got != want {
			t.Errorf("image %q: imagePullPolicy %s, want %s", image, got, want)
		}
	}
}

func TestPodDefaults(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "app", Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			Env: []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}, PeriodSeconds: 5},
			Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
		}},
		InitContainers: []corev1.Container{{Name: "init", Image: "busybox",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}},
		Volumes: []corev1.Volume{
			{Name: "scratch"},
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
			{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
			{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
		},
	}}
	Default(p)
	s := &p.Spec
	same(t, "restartPolicy", s.RestartPolicy, corev1.RestartPolicyAlways)
	same(t, "dnsPolicy", s.DNSPolicy, corev1.DNSClusterFirst)
	same(t, "terminationGracePeriodSeconds", s.TerminationGracePeriodSeconds, ptr.To[int64](30))
	same(t, "schedulerName", s.SchedulerName, "default-scheduler")
	same(t, "securityContext", s.SecurityContext, &corev1.PodSecurityContext{})
	same(t, "enableServiceLinks", s.EnableServiceLinks, ptr.To(true))

	c := s.Containers[0]
	same(t, "terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log")
	same(t, "terminationMessagePolicy", c.TerminationMessagePolicy, corev1.TerminationMessageReadFile)
	same(t, "port protocol", c.Ports[0].Protocol, corev1.ProtocolTCP)
	same(t, "fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1")
	same(t, "requests from limits", c.Resources.Requests, corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")})
	same(t, "init requests from limits", s.InitContainers[0].Resources.Requests, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")})
	same(t, "liveness probe", c.LivenessProbe, &corev1.Probe{
		ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}},
		TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
	})
	same(t, "readiness probe keeps its period", c.ReadinessProbe.PeriodSeconds, int32(5))
	same(t, "grpc service", c.ReadinessProbe.GRPC.Service, ptr.To(""))
	same(t, "preStop httpGet scheme", c.Lifecycle.PreStop.HTTPGet.Scheme, corev1.URISchemeHTTP)

	v := s.Volumes
	same(t, "empty volume becomes emptyDir", v[0].VolumeSource, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}})
	same(t, "configMap defaultMode", v[1].ConfigMap.DefaultMode, ptr.To[int32](0644))
	same(t, "secret defaultMode", v[2].Secret.DefaultMode, ptr.To[int32](420))
	same(t, "downwardAPI defaultMode", v[3].DownwardAPI.DefaultMode, ptr.To[int32](0644))
	same(t, "downwardAPI fieldRef apiVersion", v[3].DownwardAPI.Items[0].FieldRef.APIVersion, "v1")
	same(t, "projected defaultMode", v[4].Projected.DefaultMode, ptr.To[int32](0644))
	same(t, "token expiration", v[4].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds, ptr.To[int64](3600))
	same(t, "hostPath type", v[5].HostPath.Type, ptr.To(corev1.HostPathUnset))
}

func TestPodDefaultsKeepUserValues(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, DNSPolicy: corev1.DNSDefault, SchedulerName: "custom",
		TerminationGracePeriodSeconds: ptr.To[int64](5), EnableServiceLinks: ptr.To(false),
		Containers: []corev1.Container{{Image: "nginx", ImagePullPolicy: corev1.PullNever,
			Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}},
	}}
	Default(p)
	same(t, "restartPolicy", p.Spec.RestartPolicy, corev1.RestartPolicyNever)
	same(t, "dnsPolicy", p.Spec.DNSPolicy, corev1.DNSDefault)
	same(t, "schedulerName", p.Spec.SchedulerName, "custom")
	same(t, "grace", p.Spec.TerminationGracePeriodSeconds, ptr.To[int64](5))
	same(t, "service links", p.Spec.EnableServiceLinks, ptr.To(false))
	same(t, "pull policy", p.Spec.Containers[0].ImagePullPolicy, corev1.PullNever)
	same(t, "protocol", p.Spec.Containers[0].Ports[0].Protocol, corev1.ProtocolUDP)
}

func TestPodHostNetworkPorts(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
		Image: "dns", Ports: []corev1.ContainerPort{{ContainerPort: 53}, {ContainerPort: 9153, HostPort: 9153}}}}}}
	Default(p)
	same(t, "hostPort", p.Spec.Containers[0].Ports[0].HostPort, int32(53))
}

func TestPodLevelResources(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
		Containers: []corev1.Container{{Image: "a", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}},
	}}
	Default(p)
	same(t, "pod requests from container requests", p.Spec.Resources.Requests, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")})
}

func TestResourceQuantitiesRoundedToMilli(t *testing.T) {
	q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("0.0001")}}}
	Default(q)
	same(t, "hard", q.Spec.Hard[corev1.ResourceRequestsCPU], resource.MustParse("1m"))
}

func TestWorkloadTemplatesGetPodSpecDefaultsOnly(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Image: "nginx", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}},
	}}}}
	Default(d)
	s := d.Spec.Template.Spec
	same(t, "restartPolicy", s.RestartPolicy, corev1.RestartPolicyAlways)
	same(t, "pull policy", s.Containers[0].ImagePullPolicy, corev1.PullAlways)
	// As in Kubernetes, these wait for the Pod.
	same(t, "enableServiceLinks", s.EnableServiceLinks, (*bool)(nil))
	same(t, "requests", s.Containers[0].Resources.Requests, corev1.ResourceList(nil))
}

func TestServiceDefaults(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
		{Port: 80},
		{Port: 443, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolTCP},
		{Port: 53, TargetPort: intstr.FromInt32(5353), Protocol: corev1.ProtocolUDP},
	}}}
	Default(svc)
	same(t, "sessionAffinity", svc.Spec.SessionAffinity, corev1.ServiceAffinityNone)
	same(t, "type", svc.Spec.Type, corev1.ServiceTypeClusterIP)
	same(t, "protocol", svc.Spec.Ports[0].Protocol, corev1.ProtocolTCP)
	same(t, "targetPort from port", svc.Spec.Ports[0].TargetPort, intstr.FromInt32(80))
	same(t, "named targetPort kept", svc.Spec.Ports[1].TargetPort, intstr.FromString("https"))
	same(t, "numeric targetPort kept", svc.Spec.Ports[2].TargetPort, intstr.FromInt32(5353))
	same(t, "internalTrafficPolicy", svc.Spec.InternalTrafficPolicy, ptr.To(corev1.ServiceInternalTrafficPolicyCluster))
	same(t, "no externalTrafficPolicy for ClusterIP", svc.Spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicy(""))
	same(t, "clusterIP left to the server", svc.Spec.ClusterIP, "")
	same(t, "ipFamilies left to the server", svc.Spec.IPFamilies, []corev1.IPFamily(nil))

	np := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, SessionAffinity: corev1.ServiceAffinityClientIP}}
	Default(np)
	same(t, "externalTrafficPolicy for NodePort", np.Spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster)
	same(t, "ClientIP timeout", np.Spec.SessionAffinityConfig, &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](10800)}})

	lb := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.1"}}}}}
	Default(lb)
	same(t, "allocateLoadBalancerNodePorts", lb.Spec.AllocateLoadBalancerNodePorts, ptr.To(true))
	same(t, "ipMode", lb.Status.LoadBalancer.Ingress[0].IPMode, ptr.To(corev1.LoadBalancerIPModeVIP))

	ext := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com",
		SessionAffinityConfig: &corev1.SessionAffinityConfig{}}}
	Default(ext)
	same(t, "no internalTrafficPolicy for ExternalName", ext.Spec.InternalTrafficPolicy, (*corev1.ServiceInternalTrafficPolicy)(nil))
	same(t, "config dropped with affinity None", ext.Spec.SessionAffinityConfig, (*corev1.SessionAffinityConfig)(nil))
}

func TestNormalizeServiceClusterIPs(t *testing.T) {
	svc := func(ip string, ips ...string) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: ip, ClusterIPs: ips}}
	}
	for _, c := range []struct {
		name     string
		old, svc *corev1.Service
		want     []string
	}{
		{"create from singular", nil, svc("10.0.0.1"), []string{"10.0.0.1"}},
		{"create with both", nil, svc("10.0.0.1", "10.0.0.1", "fd00::1"), []string{"10.0.0.1", "fd00::1"}},
		{"update omitting plural", svc("10.0.0.1", "10.0.0.1"), svc("10.0.0.1"), []string{"10.0.0.1"}},
		{"update clearing singular", svc("10.0.0.1", "10.0.0.1"), svc("", "10.0.0.1"), nil},
		{"update changing singular", svc("10.0.0.1", "10.0.0.1"), svc("10.0.0.2", "10.0.0.1"), []string{"10.0.0.2"}},
	} {
		NormalizeServiceClusterIPs(c.old, c.svc)
		same(t, c.name, c.svc.Spec.ClusterIPs, c.want)
	}
}

func TestDeploymentDefaults(t *testing.T) {
	d := &appsv1.Deployment{}
	Default(d)
	same(t, "spec", d.Spec, appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](1),
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%"))}},
		RevisionHistoryLimit:    ptr.To[int32](10),
		ProgressDeadlineSeconds: ptr.To[int32](600),
		Template:                d.Spec.Template,
	})
	same(t, "template defaults", d.Spec.Template.Spec.DNSPolicy, corev1.DNSClusterFirst)

	r := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	Default(r)
	same(t, "Recreate has no rollingUpdate", r.Spec.Strategy.RollingUpdate, (*appsv1.RollingUpdateDeployment)(nil))
}

func TestReplicaSetAndReplicationControllerDefaults(t *testing.T) {
	rs := &appsv1.ReplicaSet{}
	Default(rs)
	same(t, "rs replicas", rs.Spec.Replicas, ptr.To[int32](1))

	labels := map[string]string{"app": "web"}
	rc := &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels}}}}
	Default(rc)
	same(t, "rc selector from template", rc.Spec.Selector, labels)
	same(t, "rc labels from template", rc.Labels, labels)
	same(t, "rc replicas", rc.Spec.Replicas, ptr.To[int32](1))
	same(t, "rc template defaults", rc.Spec.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways)
}

func TestDaemonSetDefaults(t *testing.T) {
	ds := &appsv1.DaemonSet{}
	Default(ds)
	same(t, "updateStrategy", ds.Spec.UpdateStrategy, appsv1.DaemonSetUpdateStrategy{
		Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0))},
	})
	same(t, "revisionHistoryLimit", ds.Spec.RevisionHistoryLimit, ptr.To[int32](10))
}

func TestStatefulSetDefaults(t *testing.T) {
	ss := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{}}}}
	Default(ss)
	same(t, "replicas", ss.Spec.Replicas, ptr.To[int32](1))
	same(t, "podManagementPolicy", ss.Spec.PodManagementPolicy, appsv1.OrderedReadyPodManagement)
	same(t, "updateStrategy", ss.Spec.UpdateStrategy, appsv1.StatefulSetUpdateStrategy{
		Type:          appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0), MaxUnavailable: ptr.To(intstr.FromInt32(1))},
	})
	same(t, "revisionHistoryLimit", ss.Spec.RevisionHistoryLimit, ptr.To[int32](10))
	same(t, "retention", ss.Spec.PersistentVolumeClaimRetentionPolicy, &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType})
	same(t, "claim volumeMode", ss.Spec.VolumeClaimTemplates[0].Spec.VolumeMode, ptr.To(corev1.PersistentVolumeFilesystem))
	same(t, "claim phase", ss.Spec.VolumeClaimTemplates[0].Status.Phase, corev1.ClaimPending)

	onDelete := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}
	Default(onDelete)
	same(t, "OnDelete has no rollingUpdate", onDelete.Spec.UpdateStrategy.RollingUpdate, (*appsv1.RollingUpdateStatefulSetStrategy)(nil))
}

func TestJobDefaults(t *testing.T) {
	labels := map[string]string{"app": "pi"}
	j := &batchv1.Job{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}}}
	Default(j)
	same(t, "completions", j.Spec.Completions, ptr.To[int32](1))
	same(t, "parallelism", j.Spec.Parallelism, ptr.To[int32](1))
	same(t, "backoffLimit", j.Spec.BackoffLimit, ptr.To[int32](6))
	same(t, "completionMode", j.Spec.CompletionMode, ptr.To(batchv1.NonIndexedCompletion))
	same(t, "suspend", j.Spec.Suspend, ptr.To(false))
	same(t, "manualSelector", j.Spec.ManualSelector, ptr.To(false))
	same(t, "podReplacementPolicy", j.Spec.PodReplacementPolicy, ptr.To(batchv1.TerminatingOrFailed))
	same(t, "labels from template", j.Labels, labels)

	work := &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](5), BackoffLimitPerIndex: ptr.To[int32](1),
		PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}}}
	Default(work)
	same(t, "work queue keeps completions unset", work.Spec.Completions, (*int32)(nil))
	same(t, "backoffLimit with per-index limit", work.Spec.BackoffLimit, ptr.To[int32](math.MaxInt32))
	same(t, "replacement with failure policy", work.Spec.PodReplacementPolicy, ptr.To(batchv1.Failed))
	same(t, "condition pattern status", work.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status, corev1.ConditionTrue)
}

func TestGenerateJobSelector(t *testing.T) {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"}}
	GenerateJobSelector(j)
	same(t, "template labels", j.Spec.Template.Labels, map[string]string{
		"job-name": "pi", "controller-uid": "u1", batchv1.JobNameLabel: "pi", batchv1.ControllerUidLabel: "u1"})
	same(t, "selector", j.Spec.Selector, &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "u1"}})

	manual := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"}, Spec: batchv1.JobSpec{ManualSelector: ptr.To(true)}}
	GenerateJobSelector(manual)
	same(t, "manual selector untouched", manual.Spec.Selector, (*metav1.LabelSelector)(nil))
}

func TestHorizontalPodAutoscalerDefaults(t *testing.T) {
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	Default(h)
	same(t, "minReplicas", h.Spec.MinReplicas, ptr.To[int32](1))
	same(t, "cpu metric", h.Spec.Metrics, []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
			Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}},
	}})
	same(t, "no behavior stays nil", h.Spec.Behavior, (*autoscalingv2.HorizontalPodAutoscalerBehavior)(nil))

	b := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](60)}}}}
	Default(b)
	same(t, "scale up", b.Spec.Behavior.ScaleUp, &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To[int32](0), SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
	})
	same(t, "scale down keeps the user's window", b.Spec.Behavior.ScaleDown, &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To[int32](60), SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
	})
}

func TestCoreKindDefaults(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	Default(ns)
	same(t, "namespace phase", ns.Status.Phase, corev1.NamespaceActive)
	same(t, "namespace name label", ns.Labels, map[string]string{"kubernetes.io/metadata.name": "team-a"})

	s := &corev1.Secret{}
	Default(s)
	same(t, "secret type", s.Type, corev1.SecretTypeOpaque)

	cm := &corev1.ConfigMap{}
	Default(cm)
	same(t, "configmap data", cm.Data, map[string]string{})

	n := &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}}
	Default(n)
	same(t, "allocatable from capacity", n.Status.Allocatable, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")})

	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}
	Default(ep)
	same(t, "endpoints protocol", ep.Subsets[0].Ports[0].Protocol, corev1.ProtocolTCP)

	es := &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}}}
	Default(es)
	same(t, "slice port", es.Ports[0], discoveryv1.EndpointPort{Name: ptr.To(""), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](80)})

	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer,
		Max:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		Min:  corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}}}
	Default(lr)
	same(t, "default limit from max", lr.Spec.Limits[0].Default, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")})
	same(t, "default request from default and min", lr.Spec.Limits[0].DefaultRequest, corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("64Mi")})

	l := &coordinationv1.Lease{}
	Default(l)
	same(t, "kinds without defaults are untouched", l, &coordinationv1.Lease{})
}
