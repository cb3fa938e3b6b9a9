// Package defaulttolerationseconds is Kubernetes' DefaultTolerationSeconds
// admission plugin: a pod that does not tolerate the NoExecute taints
// node.kubernetes.io/not-ready and node.kubernetes.io/unreachable gets
// tolerations of them for 300 seconds, so its pods are evicted five
// minutes after their node goes away rather than at once.
package defaulttolerationseconds

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/controlplane/admission"
)

// DefaultSeconds is how long pods tolerate a not-ready or unreachable node
// by default.
const DefaultSeconds int64 = 300

// Config sets the toleration seconds; zero means DefaultSeconds.
type Config struct {
	NotReadySeconds, UnreachableSeconds int64
}

// Plugin adds the default tolerations.
type Plugin struct {
	notReady, unreachable corev1.Toleration
}

var _ admission.Mutator = (*Plugin)(nil)

// New returns the plugin.
func New(cfg Config) *Plugin {
	return &Plugin{
		notReady:    toleration(corev1.TaintNodeNotReady, cfg.NotReadySeconds),
		unreachable: toleration(corev1.TaintNodeUnreachable, cfg.UnreachableSeconds),
	}
}

func toleration(key string, seconds int64) corev1.Toleration {
	if seconds == 0 {
		seconds = DefaultSeconds
	}
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds}
}

// Admit adds the tolerations a pod lacks, on create and update.
func (p *Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if a.Resource.GroupResource() != corev1.Resource("pods") || a.Subresource != "" ||
		(a.Operation != admission.Create && a.Operation != admission.Update) {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	var notReady, unreachable bool
	for _, t := range pod.Spec.Tolerations {
		noExecute := t.Effect == corev1.TaintEffectNoExecute || t.Effect == ""
		notReady = notReady || (noExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == ""))
		unreachable = unreachable || (noExecute && (t.Key == corev1.TaintNodeUnreachable || t.Key == ""))
	}
	// Each pod gets a TolerationSeconds of its own.
	if !notReady {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, *p.notReady.DeepCopy())
	}
	if !unreachable {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, *p.unreachable.DeepCopy())
	}
	return nil
}
