package daemonset

import (
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// daemonTolerations are the tolerations Kubernetes gives every daemon pod,
// so that daemons run on nodes that are not ready, under pressure or
// cordoned, and stay when a node becomes unreachable.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// hostNetworkToleration is added for pods on the host network, which do
// not need the pod network.
var hostNetworkToleration = corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// podTemplate returns the template of ds's pods at revision hash: the
// controller-revision-hash label and the daemon tolerations added.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	add := daemonTolerations
	if t.Spec.HostNetwork {
		add = append(append([]corev1.Toleration(nil), daemonTolerations...), hostNetworkToleration)
	}
	for _, tol := range add {
		t.Spec.Tolerations = addOrUpdateToleration(t.Spec.Tolerations, tol)
	}
	return t
}

// addOrUpdateToleration puts tol in tols, replacing one with the same
// key, operator, value and effect.
func addOrUpdateToleration(tols []corev1.Toleration, tol corev1.Toleration) []corev1.Toleration {
	for i := range tols {
		if tols[i].MatchToleration(&tol) {
			tols[i] = tol
			return tols
		}
	}
	return append(tols, tol)
}

// nodeAffinityFor returns affinity with its required node selector
// replaced by one that matches only the node named nodeName (matchFields
// on metadata.name), as Kubernetes binds daemon pods: the scheduler then
// places the pod, honouring resources and everything else.
func nodeAffinityFor(affinity *corev1.Affinity, nodeName string) *corev1.Affinity {
	sel := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchFields: []corev1.NodeSelectorRequirement{{
			Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{nodeName},
		}},
	}}}
	if affinity == nil {
		affinity = &corev1.Affinity{}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = sel
	return affinity
}

// targetNode returns the node a daemon pod is for: where it is bound, or
// the node its affinity names.
func targetNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// shouldRun reports whether ds wants a pod on node (its node name, node
// selector and affinity match, and it tolerates the node's NoSchedule and
// NoExecute taints), and whether a pod already there may keep running
// (which only needs the NoExecute taints tolerated).
func shouldRun(node *corev1.Node, ds *appsv1.DaemonSet) (run, keep bool) {
	t := podTemplate(ds, "")
	if t.Spec.NodeName != "" && t.Spec.NodeName != node.Name {
		return false, false
	}
	pod := &corev1.Pod{Spec: t.Spec}
	pod.Spec.NodeName = node.Name
	if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !ok {
		return false, false
	}
	taints := node.Spec.Taints
	_, untolerated := v1helper.FindMatchingUntoleratedTaint(logr.Discard(), taints, t.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute || t.Effect == corev1.TaintEffectNoSchedule
	}, false)
	if !untolerated {
		return true, true
	}
	_, untoleratedNoExecute := v1helper.FindMatchingUntoleratedTaint(logr.Discard(), taints, t.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute
	}, false)
	return false, !untoleratedNoExecute
}
