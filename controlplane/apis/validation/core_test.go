package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func validConfigMap() *corev1.ConfigMap {
	return defaulted(&corev1.ConfigMap{ObjectMeta: objMeta("app-config"), Data: map[string]string{"app.yaml": "x: 1"}})
}

func TestConfigMap(t *testing.T) {
	runCreate(t, validConfigMap, []createCase[*corev1.ConfigMap]{
		{name: "valid"},
		{name: "bad key", mutate: func(c *corev1.ConfigMap) { c.Data["a/b"] = "" }, want: []want{invalid("data[a/b]")}},
		{name: "key '..'", mutate: func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"..": nil} }, want: []want{invalid("binaryData[..]")}},
		{name: "key in data and binaryData", mutate: func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"app.yaml": {1}} },
			want: []want{invalid("data[app.yaml]")}},
		{name: "over 1 MiB", mutate: func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", corev1.MaxSecretSize) },
			want: []want{tooLong("[]")}},
		{name: "bad name", mutate: func(c *corev1.ConfigMap) { c.Name = "App_Config" }, want: []want{invalid("metadata.name")}},
	})
	immutable := func(c *corev1.ConfigMap) { c.Immutable = ptr.To(true) }
	runUpdate(t, validConfigMap, false, []updateCase[*corev1.ConfigMap]{
		{name: "data may change", mutate: func(c *corev1.ConfigMap) { c.Data["app.yaml"] = "x: 2" }},
		{name: "may become immutable", mutate: immutable},
		{name: "immutable data", old: immutable, mutate: func(c *corev1.ConfigMap) { c.Data["app.yaml"] = "x: 2" }, want: []want{forbidden("data")}},
		{name: "immutable binaryData", old: immutable, mutate: func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"b": {1}} },
			want: []want{forbidden("binaryData")}},
		{name: "immutable stays immutable", old: immutable, mutate: func(c *corev1.ConfigMap) { c.Immutable = nil }, want: []want{forbidden("immutable")}},
		{name: "immutable allows labels", old: immutable, mutate: func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }},
	})
}

func validSecret() *corev1.Secret {
	return defaulted(&corev1.Secret{ObjectMeta: objMeta("creds"), Data: map[string][]byte{"password": []byte("s3cret")}})
}

func TestSecret(t *testing.T) {
	runCreate(t, validSecret, []createCase[*corev1.Secret]{
		{name: "valid"},
		{name: "bad key", mutate: func(s *corev1.Secret) { s.Data["pass word"] = nil }, want: []want{invalid("data[pass word]")}},
		{name: "over 1 MiB", mutate: func(s *corev1.Secret) { s.Data["big"] = make([]byte, corev1.MaxSecretSize) }, want: []want{tooLong("data")}},
		{name: "tls needs cert and key", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeTLS },
			want: []want{required("data[tls.crt]"), required("data[tls.key]")}},
		{name: "dockerconfigjson must be JSON", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data[corev1.DockerConfigJsonKey] = []byte("{")
		}, want: []want{invalid("data[.dockerconfigjson]")}},
		{name: "basic auth needs username or password", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeBasicAuth
		}},
		{name: "basic auth without either", mutate: func(s *corev1.Secret) {
			s.Type, s.Data = corev1.SecretTypeBasicAuth, nil
		}, want: []want{required("data[username]"), required("data[password]")}},
		{name: "service account token needs the annotation", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken },
			want: []want{required("metadata.annotations[kubernetes.io/service-account.name]")}},
		{name: "ssh auth needs the key", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeSSHAuth }, want: []want{required("data[ssh-privatekey]")}},
	})
	runUpdate(t, validSecret, false, []updateCase[*corev1.Secret]{
		{name: "data may change", mutate: func(s *corev1.Secret) { s.Data["password"] = []byte("new") }},
		{name: "type immutable", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeBasicAuth
		}, want: []want{invalid("type")}},
		{name: "immutable data", old: func(s *corev1.Secret) { s.Immutable = ptr.To(true) },
			mutate: func(s *corev1.Secret) { s.Data["password"] = []byte("new") }, want: []want{forbidden("data")}},
	})
}

func validNamespace() *corev1.Namespace {
	return defaulted(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: "1"}})
}

func TestNamespace(t *testing.T) {
	runCreate(t, validNamespace, []createCase[*corev1.Namespace]{
		{name: "valid"},
		{name: "name must be a DNS label", mutate: func(ns *corev1.Namespace) { ns.Name = "team.a" }, want: []want{invalid("metadata.name")}},
		{name: "cluster scoped", mutate: func(ns *corev1.Namespace) { ns.Namespace = "default" }, want: []want{forbidden("metadata.namespace")}},
		{name: "standard finalizer", mutate: func(ns *corev1.Namespace) { ns.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes} }},
		{name: "unqualified finalizer", mutate: func(ns *corev1.Namespace) { ns.Spec.Finalizers = []corev1.FinalizerName{"cleanup"} },
			want: []want{invalid("spec.finalizers")}},
	})
	runUpdate(t, validNamespace, true, []updateCase[*corev1.Namespace]{
		{name: "active"},
		{name: "terminating without deletionTimestamp", mutate: func(ns *corev1.Namespace) { ns.Status.Phase = corev1.NamespaceTerminating },
			want: []want{invalid("status.Phase")}},
		{name: "deleting must be Terminating", old: func(ns *corev1.Namespace) { ns.DeletionTimestamp = ptr.To(metav1.Now()) },
			want: []want{invalid("status.Phase")}},
	})
}

func validNode() *corev1.Node {
	return defaulted(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", ResourceVersion: "1"},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110"),
		}},
	})
}

func TestNode(t *testing.T) {
	runCreate(t, validNode, []createCase[*corev1.Node]{
		{name: "valid"},
		{name: "namespaced", mutate: func(n *corev1.Node) { n.Namespace = "default" }, want: []want{forbidden("metadata.namespace")}},
		{name: "taints", mutate: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}, {Key: "gpu", Effect: corev1.TaintEffectNoExecute}}
		}},
		{name: "taint without effect", mutate: func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "gpu"}} },
			want: []want{required("metadata.taints[0].effect")}},
		{name: "taint with bad key", mutate: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "bad key", Effect: corev1.TaintEffectNoSchedule}}
		}, want: []want{invalid("metadata.taints[0].key")}},
		{name: "duplicate taint", mutate: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}, {Key: "gpu", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
		}, want: []want{duplicate("metadata.taints[1]")}},
		{name: "bad podCIDR", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.0.0/33"} }, want: []want{invalid("spec.podCIDRs[0]")}},
		{name: "two IPv4 podCIDRs", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.0.0/24", "10.244.1.0/24"} },
			want: []want{invalid("spec.podCIDRs")}},
		{name: "fractional pods capacity", mutate: func(n *corev1.Node) { n.Status.Capacity[corev1.ResourcePods] = resource.MustParse("1500m") },
			want: []want{invalid("status.capacity.pods")}},
	})
	withCIDR := func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.0.0/24", []string{"10.244.0.0/24"} }
	runUpdate(t, validNode, false, []updateCase[*corev1.Node]{
		{name: "podCIDR may be set once", mutate: withCIDR},
		{name: "podCIDR may not change", old: withCIDR, mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.9.0/24"} },
			want: []want{forbidden("spec.podCIDRs")}},
		{name: "providerID may not change", old: func(n *corev1.Node) { n.Spec.ProviderID = "skiff://a" },
			mutate: func(n *corev1.Node) { n.Spec.ProviderID = "skiff://b" }, want: []want{forbidden("spec.providerID")}},
		{name: "unschedulable and taints may change", mutate: func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}}
		}},
	})
	runUpdate(t, validNode, true, []updateCase[*corev1.Node]{
		{name: "duplicate address", mutate: func(n *corev1.Node) {
			a := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.1.2"}
			n.Status.Addresses = []corev1.NodeAddress{a, a}
		}, want: []want{duplicate("status.addresses[1]")}},
	})
}

func TestServiceAccountAndBinding(t *testing.T) {
	runCreate(t, func() *corev1.ServiceAccount { return &corev1.ServiceAccount{ObjectMeta: objMeta("builder")} }, []createCase[*corev1.ServiceAccount]{
		{name: "valid"},
		{name: "bad name", mutate: func(sa *corev1.ServiceAccount) { sa.Name = "Builder" }, want: []want{invalid("metadata.name")}},
	})
	runCreate(t, func() *corev1.Binding {
		return &corev1.Binding{ObjectMeta: objMeta("web"), Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
	}, []createCase[*corev1.Binding]{
		{name: "valid"},
		{name: "no target name", mutate: func(b *corev1.Binding) { b.Target.Name = "" }, want: []want{required("target.name")}},
		{name: "target not a node", mutate: func(b *corev1.Binding) { b.Target.Kind = "Pod" }, want: []want{notSupported("target.kind")}},
		{name: "metadata is the pod's, not checked", mutate: func(b *corev1.Binding) { b.Namespace = "" }},
	})
}

func TestEndpoints(t *testing.T) {
	valid := func() *corev1.Endpoints {
		return defaulted(&corev1.Endpoints{ObjectMeta: objMeta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5"}},
			Ports:     []corev1.EndpointPort{{Port: 80}},
		}}})
	}
	runCreate(t, valid, []createCase[*corev1.Endpoints]{
		{name: "valid"},
		{name: "no addresses", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses = nil }, want: []want{required("subsets[0]")}},
		{name: "loopback address", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "127.0.0.1" },
			want: []want{invalid("subsets[0].addresses[0].ip")}},
		{name: "names required with several ports", mutate: func(e *corev1.Endpoints) {
			e.Subsets[0].Ports = append(e.Subsets[0].Ports, corev1.EndpointPort{Name: "b", Port: 81, Protocol: corev1.ProtocolTCP})
		}, want: []want{required("subsets[0].ports[0].name")}},
	})
}

func TestEvents(t *testing.T) {
	coreEv := func() *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     objMeta("web.17a"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
			Reason:         "Started", Message: "Started container", Type: corev1.EventTypeNormal,
		}
	}
	runCreate(t, coreEv, []createCase[*corev1.Event]{
		{name: "valid"},
		{name: "namespace mismatch", mutate: func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" },
			want: []want{invalid("involvedObject.namespace")}},
		{name: "cluster-scoped object in default", mutate: func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}},
		{name: "new-style event needs reporter", mutate: func(e *corev1.Event) { e.EventTime = metav1.NowMicro() },
			want: []want{required("reportingController"), invalid("reportingController"), required("reportingInstance"), required("action")}},
	})
	evEv := func() *eventsv1.Event {
		return &eventsv1.Event{
			ObjectMeta:          objMeta("web.17a"),
			EventTime:           metav1.NewMicroTime(time.Now()),
			ReportingController: "skiff.dev/kubelet", ReportingInstance: "node-1",
			Action: "Started", Reason: "Started", Note: "Started container", Type: corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
		}
	}
	runCreate(t, evEv, []createCase[*eventsv1.Event]{
		{name: "valid"},
		{name: "bad type", mutate: func(e *eventsv1.Event) { e.Type = "Info" }, want: []want{invalid("type")}},
		{name: "no eventTime", mutate: func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} }, want: []want{required("eventTime")}},
		{name: "about a cluster-scoped object outside default", mutate: func(e *eventsv1.Event) {
			e.Namespace, e.Regarding.Namespace = "team", ""
		},
			want: []want{invalid("involvedObject.namespace")}},
		{name: "reportingController not qualified", mutate: func(e *eventsv1.Event) { e.ReportingController = "my controller" },
			want: []want{invalid("reportingController")}},
		{name: "note too long", mutate: func(e *eventsv1.Event) { e.Note = strings.Repeat("x", 1025) }, want: []want{invalid("message")}},
		{name: "series count below 2", mutate: func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 1, LastObservedTime: metav1.NowMicro()}
		}, want: []want{invalid("series.count")}},
		{name: "deprecated fields set", mutate: func(e *eventsv1.Event) { e.DeprecatedCount = 3 }, want: []want{invalid("count")}},
	})
	runUpdate(t, evEv, false, []updateCase[*eventsv1.Event]{
		{name: "series may change", mutate: func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
		}},
		{name: "note immutable", mutate: func(e *eventsv1.Event) { e.Note = "other" }, want: []want{invalid("message")}},
	})
}

func TestLimitRangeAndQuota(t *testing.T) {
	lr := func() *corev1.LimitRange {
		return defaulted(&corev1.LimitRange{ObjectMeta: objMeta("limits"), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			Max:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Min:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
		}}}})
	}
	runCreate(t, lr, []createCase[*corev1.LimitRange]{
		{name: "valid"},
		{name: "min above max", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Min[corev1.ResourceCPU] = resource.MustParse("3") },
			want: []want{invalid("spec.limits[0].min[cpu]"), invalid("spec.limits[0].defaultRequest[cpu]"), invalid("spec.limits[0].default[cpu]")}},
		{name: "unknown type", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Type = "Node" }, want: []want{invalid("spec.limits[0].type")}},
		{name: "defaults on Pod type", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Type = corev1.LimitTypePod },
			want: []want{forbidden("spec.limits[0].default"), forbidden("spec.limits[0].defaultRequest")}},
		{name: "ratio below 1", mutate: func(l *corev1.LimitRange) {
			l.Spec.Limits[0].MaxLimitRequestRatio = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("500m")}
		}, want: []want{invalid("spec.limits[0].maxLimitRequestRatio[memory]")}},
	})
	rq := func() *corev1.ResourceQuota {
		return defaulted(&corev1.ResourceQuota{ObjectMeta: objMeta("quota"), Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("10"), corev1.ResourceRequestsCPU: resource.MustParse("4"), "count/deployments.apps": resource.MustParse("5"),
		}}})
	}
	runCreate(t, rq, []createCase[*corev1.ResourceQuota]{
		{name: "valid"},
		{name: "negative", mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("-1") },
			want: []want{invalid("spec.hard[pods]")}},
		{name: "fractional pods", mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("1.5") },
			want: []want{invalid("spec.hard[pods]")}},
		{name: "unknown resource", mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard["gpus"] = resource.MustParse("1") },
			want: []want{invalid("spec.hard[gpus]")}},
		{name: "conflicting scopes", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating}
			delete(q.Spec.Hard, "count/deployments.apps")
		}, want: []want{invalid("spec.scopes")}},
	})
	runUpdate(t, rq, false, []updateCase[*corev1.ResourceQuota]{
		{name: "hard may change", mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("20") }},
		{name: "scopes immutable", mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
			q.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}
		}, want: []want{invalid("spec.scopes")}},
	})
	runUpdate(t, rq, true, []updateCase[*corev1.ResourceQuota]{
		{name: "used", mutate: func(q *corev1.ResourceQuota) {
			q.Status.Used = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}
		}},
		{name: "negative used", mutate: func(q *corev1.ResourceQuota) {
			q.Status.Used = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("-3")}
		}, want: []want{invalid("status.used[pods]")}},
	})
}
