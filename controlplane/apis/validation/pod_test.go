package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func validPod() *corev1.Pod {
	return defaulted(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "nginx:1.27",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "config", MountPath: "/etc/app"},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
			}},
			Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"},
			}}}},
		},
	})
}

func ctr(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }

func TestPodCreate(t *testing.T) {
	runCreate(t, validPod, []createCase[*corev1.Pod]{
		{name: "valid"},
		{name: "sidecar init container with probes", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: "envoy", ImagePullPolicy: corev1.PullAlways,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9901)}}, SuccessThreshold: 1}}}
		}},
		{name: "name not a DNS subdomain", mutate: func(p *corev1.Pod) { p.Name = "Web_1" }, want: []want{invalid("metadata.name")}},
		{name: "no namespace", mutate: func(p *corev1.Pod) { p.Namespace = "" }, want: []want{required("metadata.namespace")}},
		{name: "bad generateName", mutate: func(p *corev1.Pod) { p.GenerateName = "Web_" }, want: []want{invalid("metadata.generateName")}},
		{name: "bad label", mutate: func(p *corev1.Pod) { p.Labels["bad key!"] = "x" }, want: []want{invalid("metadata.labels")}},
		{name: "unqualified finalizer", mutate: func(p *corev1.Pod) { p.Finalizers = []string{"cleanup"} }, want: []want{invalid("metadata.finalizers[0]")}},
		{name: "no containers", mutate: func(p *corev1.Pod) { p.Spec.Containers = nil }, want: []want{required("spec.containers")}},
		{name: "duplicate container name", mutate: func(p *corev1.Pod) {
			c := *ctr(p).DeepCopy()
			c.Ports = nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, want: []want{duplicate("spec.containers[1].name")}},
		{name: "init container named like a container", mutate: func(p *corev1.Pod) {
			c := *ctr(p).DeepCopy()
			c.Ports, c.ReadinessProbe = nil, nil
			p.Spec.InitContainers = []corev1.Container{c}
		}, want: []want{duplicate("spec.initContainers[0].name")}},
		{name: "container name not a DNS label", mutate: func(p *corev1.Pod) { ctr(p).Name = "App" }, want: []want{invalid("spec.containers[0].name")}},
		{name: "no image", mutate: func(p *corev1.Pod) { ctr(p).Image = "" }, want: []want{required("spec.containers[0].image")}},
		{name: "image with whitespace", mutate: func(p *corev1.Pod) { ctr(p).Image = " nginx" }, want: []want{invalid("spec.containers[0].image")}},
		{name: "bad pull policy", mutate: func(p *corev1.Pod) { ctr(p).ImagePullPolicy = "Sometimes" }, want: []want{notSupported("spec.containers[0].imagePullPolicy")}},
		{name: "container port missing", mutate: func(p *corev1.Pod) { ctr(p).Ports[0].ContainerPort = 0 }, want: []want{required("spec.containers[0].ports[0].containerPort")}},
		{name: "container port out of range", mutate: func(p *corev1.Pod) { ctr(p).Ports[0].ContainerPort = 70000 }, want: []want{invalid("spec.containers[0].ports[0].containerPort")}},
		{name: "host port out of range", mutate: func(p *corev1.Pod) { ctr(p).Ports[0].HostPort = -1 }, want: []want{invalid("spec.containers[0].ports[0].hostPort")}},
		{name: "unsupported protocol", mutate: func(p *corev1.Pod) { ctr(p).Ports[0].Protocol = "ICMP" }, want: []want{notSupported("spec.containers[0].ports[0].protocol")}},
		{name: "bad port name", mutate: func(p *corev1.Pod) { ctr(p).Ports[0].Name = "http_port" }, want: []want{invalid("spec.containers[0].ports[0].name")}},
		{name: "duplicate port name", mutate: func(p *corev1.Pod) {
			ctr(p).Ports = append(ctr(p).Ports, corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP})
		}, want: []want{duplicate("spec.containers[0].ports[1].name")}},
		{name: "host port conflict across containers", mutate: func(p *corev1.Pod) {
			ctr(p).Ports[0].HostPort = 8080
			c := *ctr(p).DeepCopy()
			c.Name = "other"
			c.Ports[0].Name = "alt"
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, want: []want{duplicate("spec.containers[1].ports[0].hostPort")}},
		{name: "host ports on other protocols do not conflict", mutate: func(p *corev1.Pod) {
			ctr(p).Ports[0].HostPort = 53
			ctr(p).Ports = append(ctr(p).Ports, corev1.ContainerPort{Name: "dns", ContainerPort: 53, HostPort: 53, Protocol: corev1.ProtocolUDP})
		}},
		{name: "hostNetwork requires hostPort == containerPort", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			ctr(p).Ports[0].HostPort = 8080
		}, want: []want{invalid("spec.containers[0].ports[0].hostPort")}},
		{name: "env name with '='", mutate: func(p *corev1.Pod) { ctr(p).Env[0].Name = "A=B" }, want: []want{invalid("spec.containers[0].env[0].name")}},
		{name: "env name relaxed (dots and leading digit)", mutate: func(p *corev1.Pod) { ctr(p).Env[0].Name = "1.my-var" }},
		{name: "env name empty", mutate: func(p *corev1.Pod) { ctr(p).Env[0].Name = "" }, want: []want{required("spec.containers[0].env[0].name")}},
		{name: "env value and valueFrom", mutate: func(p *corev1.Pod) {
			ctr(p).Env[0].ValueFrom = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}
		}, want: []want{invalid("spec.containers[0].env[0].valueFrom")}},
		{name: "env fieldRef unsupported field", mutate: func(p *corev1.Pod) {
			ctr(p).Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}}}
		}, want: []want{notSupported("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")}},
		{name: "env secretKeyRef without key", mutate: func(p *corev1.Pod) {
			ctr(p).Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}
		}, want: []want{required("spec.containers[0].env[0].valueFrom.secretKeyRef.key")}},
		{name: "envFrom without source", mutate: func(p *corev1.Pod) { ctr(p).EnvFrom = []corev1.EnvFromSource{{Prefix: "P_"}} }, want: []want{invalid("spec.containers[0].envFrom")}},
		{name: "duplicate volume name", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}, want: []want{duplicate("spec.volumes[1].name")}},
		{name: "volume without source", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "scratch"})
		}, want: []want{required("spec.volumes[1]")}},
		{name: "volume with two sources", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes[0].EmptyDir = &corev1.EmptyDirVolumeSource{}
		}, want: []want{forbidden("spec.volumes[0].configMap"), notFound("spec.containers[0].volumeMounts[0].name")}},
		{name: "volume name not a DNS label", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes[0].Name = "Config"
			ctr(p).VolumeMounts[0].Name = "Config"
		}, want: []want{invalid("spec.volumes[0].name"), notFound("spec.containers[0].volumeMounts[0].name")}},
		{name: "configMap volume without name", mutate: func(p *corev1.Pod) { p.Spec.Volumes[0].ConfigMap.Name = "" }, want: []want{
			required("spec.volumes[0].configMap.name"), notFound("spec.containers[0].volumeMounts[0].name")}},
		{name: "secret volume file mode out of range", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls", DefaultMode: ptr.To[int32](01000)}}})
		}, want: []want{invalid("spec.volumes[1].secret.defaultMode")}},
		{name: "hostPath with backsteps", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/../etc"}}})
		}, want: []want{invalid("spec.volumes[1].hostPath.path")}},
		{name: "volume mount of unknown volume", mutate: func(p *corev1.Pod) { ctr(p).VolumeMounts[0].Name = "data" }, want: []want{notFound("spec.containers[0].volumeMounts[0].name")}},
		{name: "volume mount without path", mutate: func(p *corev1.Pod) { ctr(p).VolumeMounts[0].MountPath = "" }, want: []want{required("spec.containers[0].volumeMounts[0].mountPath")}},
		{name: "volume mounted twice at one path", mutate: func(p *corev1.Pod) {
			ctr(p).VolumeMounts = append(ctr(p).VolumeMounts, corev1.VolumeMount{Name: "config", MountPath: "/etc/app"})
		}, want: []want{invalid("spec.containers[0].volumeMounts[1].mountPath")}},
		{name: "absolute subPath", mutate: func(p *corev1.Pod) { ctr(p).VolumeMounts[0].SubPath = "/abs" }, want: []want{invalid("spec.containers[0].volumeMounts.subPath")}},
		{name: "negative cpu request", mutate: func(p *corev1.Pod) {
			ctr(p).Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
		}, want: []want{invalid("spec.containers[0].resources.requests[cpu]")}},
		{name: "request above limit", mutate: func(p *corev1.Pod) {
			ctr(p).Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			}
		}, want: []want{invalid("spec.containers[0].resources.requests")}},
		{name: "unknown resource name", mutate: func(p *corev1.Pod) {
			ctr(p).Resources.Limits = corev1.ResourceList{"gpus": resource.MustParse("1")}
		}, want: []want{invalid("spec.containers[0].resources.limits[gpus]")}},
		{name: "extended resource request differs from limit", mutate: func(p *corev1.Pod) {
			ctr(p).Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")},
				Limits:   corev1.ResourceList{"example.com/gpu": resource.MustParse("2")},
			}
		}, want: []want{invalid("spec.containers[0].resources.requests")}},
		{name: "fractional extended resource", mutate: func(p *corev1.Pod) {
			q := resource.MustParse("500m")
			ctr(p).Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"example.com/gpu": q}, Limits: corev1.ResourceList{"example.com/gpu": q},
			}
		}, want: []want{invalid("spec.containers[0].resources.requests[example.com/gpu]"), invalid("spec.containers[0].resources.limits[example.com/gpu]")}},
		{name: "probe with two handlers", mutate: func(p *corev1.Pod) {
			ctr(p).ReadinessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, want: []want{forbidden("spec.containers[0].readinessProbe.httpGet")}},
		{name: "probe without handler", mutate: func(p *corev1.Pod) {
			ctr(p).ReadinessProbe.HTTPGet = nil
		}, want: []want{required("spec.containers[0].readinessProbe")}},
		{name: "probe with bad port name", mutate: func(p *corev1.Pod) {
			ctr(p).ReadinessProbe.HTTPGet.Port = intstr.FromString("HTTP")
		}, want: []want{invalid("spec.containers[0].readinessProbe.httpGet.port")}},
		{name: "negative probe period", mutate: func(p *corev1.Pod) { ctr(p).ReadinessProbe.PeriodSeconds = -1 }, want: []want{invalid("spec.containers[0].readinessProbe.periodSeconds")}},
		{name: "liveness successThreshold must be 1", mutate: func(p *corev1.Pod) {
			ctr(p).LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 2}
		}, want: []want{invalid("spec.containers[0].livenessProbe.successThreshold")}},
		{name: "lifecycle hook without handler", mutate: func(p *corev1.Pod) {
			ctr(p).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{}}
		}, want: []want{required("spec.containers[0].lifecycle.preStop")}},
		{name: "sleep longer than grace period", mutate: func(p *corev1.Pod) {
			ctr(p).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 60}}}
		}, want: []want{invalid("spec.containers[0].lifecycle.preStop.sleep")}},
		{name: "probes on a plain init container", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ImagePullPolicy: corev1.PullAlways,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				LivenessProbe:            &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 1}}}
		}, want: []want{forbidden("spec.initContainers[0].livenessProbe")}},
		{name: "restartPolicy on a regular container", mutate: func(p *corev1.Pod) {
			ctr(p).RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}, want: []want{forbidden("spec.containers[0].restartPolicy")}},
		{name: "bad restart policy", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, want: []want{notSupported("spec.restartPolicy")}},
		{name: "bad dns policy", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, want: []want{notSupported("spec.dnsPolicy")}},
		{name: "dnsPolicy None needs dnsConfig", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, want: []want{required("spec.dnsConfig")}},
		{name: "activeDeadlineSeconds zero", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0) }, want: []want{invalid("spec.activeDeadlineSeconds")}},
		{name: "no termination grace period", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil }, want: []want{required("spec.terminationGracePeriodSeconds")}},
		{name: "bad node selector", mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd!"} }, want: []want{invalid("spec.nodeSelector")}},
		{name: "toleration without key must use Exists", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "x"}}
		}, want: []want{invalid("spec.tolerations[0].operator")}},
		{name: "toleration with unknown effect", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "Evict"}}
		}, want: []want{notSupported("spec.tolerations[0].effect")}},
		{name: "tolerationSeconds without NoExecute", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](5)}}
		}, want: []want{invalid("spec.tolerations[0].effect")}},
		{name: "node affinity weight out of range", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight: 0, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
			}}}}
		}, want: []want{invalid("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight")}},
		{name: "pod anti-affinity without topology key", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			}}}}
		}, want: []want{required("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"),
			invalid("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey")}},
		{name: "topology spread maxSkew zero", mutate: func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, want: []want{invalid("spec.topologySpreadConstraints[0].maxSkew")}},
		{name: "ephemeral containers on create", mutate: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile}}}
		}, want: []want{forbidden("spec.ephemeralContainers")}},
		{name: "nodeName with scheduling gates", mutate: func(p *corev1.Pod) {
			p.Spec.NodeName = "node-1"
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, want: []want{forbidden("spec.nodeName")}},
		{name: "service account token without service account", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3600)}}},
			}}})
		}, want: []want{forbidden("spec.volumes[1].projected.sources[0].serviceAccountToken")}},
		{name: "bad deletion cost annotation", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{"controller.kubernetes.io/pod-deletion-cost": "+10"}
		}, want: []want{invalid("metadata.annotations[controller.kubernetes.io/pod-deletion-cost]")}},
		{name: "mirror pod annotation without nodeName", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{"kubernetes.io/config.mirror": "x"}
		}, want: []want{invalid("metadata.annotations[kubernetes.io/config.mirror]")}},
		{name: "bad runAsUser", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr.To[int64](-1) }, want: []want{invalid("spec.securityContext.runAsUser")}},
		{name: "unsupported pod-level resource", mutate: func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}
		}, want: []want{notSupported("spec.resources.limits[ephemeral-storage]")}},
	})
}

func TestPodUpdate(t *testing.T) {
	runUpdate(t, validPod, false, []updateCase[*corev1.Pod]{
		{name: "unchanged"},
		{name: "labels and annotations may change", mutate: func(p *corev1.Pod) {
			p.Labels["tier"] = "frontend"
			p.Annotations = map[string]string{"note": "x"}
		}},
		{name: "image may change", mutate: func(p *corev1.Pod) { ctr(p).Image = "nginx:1.28" }},
		{name: "image may not be emptied", mutate: func(p *corev1.Pod) { ctr(p).Image = "" }, want: []want{required("spec.containers[0].image")}},
		{name: "containers may not be added", mutate: func(p *corev1.Pod) {
			c := *ctr(p).DeepCopy()
			c.Name, c.Ports = "other", nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, want: []want{forbidden("spec.containers")}},
		{name: "env may not change", mutate: func(p *corev1.Pod) { ctr(p).Env[0].Value = "dev" }, want: []want{forbidden("spec")}},
		{name: "activeDeadlineSeconds may be set", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) }},
		{name: "activeDeadlineSeconds may decrease", old: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](20) }},
		{name: "activeDeadlineSeconds may not increase", old: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](40) }, want: []want{invalid("spec.activeDeadlineSeconds")}},
		{name: "activeDeadlineSeconds may not be removed", old: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) },
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, want: []want{invalid("spec.activeDeadlineSeconds")}},
		{name: "tolerations may be added", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists})
		}},
		{name: "tolerationSeconds may change", old: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}}
		}, mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr.To[int64](10) }},
		{name: "tolerations may not be modified", old: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
		}, mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].Key = "tpu" }, want: []want{forbidden("spec.tolerations")}},
		{name: "scheduling gates may be removed", old: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}, {Name: "example.com/b"}}
		}, mutate: func(p *corev1.Pod) { p.Spec.SchedulingGates = p.Spec.SchedulingGates[1:] }},
		{name: "scheduling gates may not be added", old: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}, mutate: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = append(p.Spec.SchedulingGates, corev1.PodSchedulingGate{Name: "example.com/b"})
		}, want: []want{forbidden("spec.schedulingGates[1].name")}},
		{name: "gated pod may gain node selector", old: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}, mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }},
		{name: "gated pod may not change node selector", old: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		}, mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "hdd"} }, want: []want{invalid("spec.nodeSelector")}},
		{name: "ungated pod may not gain node selector", mutate: func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		}, want: []want{forbidden("spec")}},
		{name: "negative grace period may become 1", old: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](-1) },
			mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1) }},
		{name: "grace period may not change otherwise", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](10) },
			want: []want{forbidden("spec")}},
		{name: "QoS class may not change", mutate: func(p *corev1.Pod) {
			ctr(p).Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
		}, want: []want{forbidden("spec"), invalid("metadata")}},
		{name: "resourceVersion required", mutate: func(p *corev1.Pod) { p.ResourceVersion = "" }, want: []want{invalid("metadata.resourceVersion")}},
		{name: "name immutable", mutate: func(p *corev1.Pod) { p.Name = "web2" }, want: []want{invalid("metadata.name")}},
		{name: "mirror annotation may not be added", mutate: func(p *corev1.Pod) {
			p.Spec.NodeName = "n1"
			p.Annotations = map[string]string{"kubernetes.io/config.mirror": "x"}
		}, want: []want{forbidden("metadata.annotations[kubernetes.io/config.mirror]"), forbidden("spec")}},
	})
}

func TestPodUpdateMessage(t *testing.T) {
	old := validPod()
	p := old.DeepCopy()
	ctr(p).Ports[0].ContainerPort = 8080
	msg := detail(t, ValidateUpdate(p, old), "spec")
	const prefix = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
	if !strings.HasPrefix(msg, prefix) {
		t.Fatalf("message %q does not start with the Kubernetes wording", msg)
	}
	if !strings.Contains(msg, "8080") {
		t.Errorf("message does not show the changed value:\n%s", msg)
	}
}

func TestPodStatusUpdate(t *testing.T) {
	terminated := func(p *corev1.Pod) {
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
	}
	runUpdate(t, validPod, true, []updateCase[*corev1.Pod]{
		{name: "running with IPs", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP, p.Status.PodIPs = "10.0.0.5", []corev1.PodIP{{IP: "10.0.0.5"}}
			p.Status.HostIP, p.Status.HostIPs = "192.168.1.2", []corev1.HostIP{{IP: "192.168.1.2"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: "example.com/ready", Status: corev1.ConditionTrue}}
		}},
		{name: "unknown phase", mutate: func(p *corev1.Pod) { p.Status.Phase = "Sleeping" }, want: []want{notSupported("status.phase")}},
		{name: "nodeName may not change here", mutate: func(p *corev1.Pod) { p.Spec.NodeName = "n1" }, want: []want{forbidden("status.nodeName")}},
		{name: "invalid pod IP", mutate: func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.300"}} }, want: []want{invalid("status.podIPs[0]")}},
		{name: "two IPs of one family", mutate: func(p *corev1.Pod) {
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "10.0.0.6"}}
		}, want: []want{invalid("status.podIPs")}},
		{name: "hostIPs must start with hostIP", mutate: func(p *corev1.Pod) {
			p.Status.HostIP, p.Status.HostIPs = "192.168.1.2", []corev1.HostIP{{IP: "192.168.1.3"}}
		}, want: []want{invalid("status.hostIPs[0].ip")}},
		{name: "custom condition type must be qualified", mutate: func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: "not ok", Status: corev1.ConditionTrue}}
		}, want: []want{invalid("metadata.conditions[0].Type")}},
		{name: "terminated container may not run again", old: terminated, mutate: func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}, want: []want{forbidden("status.containerStatuses[0].state")}},
		{name: "restartPolicy Always lets containers run again", old: func(p *corev1.Pod) {
			terminated(p)
			p.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, mutate: func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}},
	})
}

func TestPodTemplateDefaultsPassValidation(t *testing.T) {
	// Pods created from a defaulted template get the pod-only defaults and
	// must then validate as pods.
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
			Name: "c", Image: "busybox", Ports: []corev1.ContainerPort{{ContainerPort: 9000}},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		}}},
	}
	expect(t, ValidateCreate(defaulted(p)))
}
