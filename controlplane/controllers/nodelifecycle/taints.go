package nodelifecycle

import (
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conditionTaints are the NoSchedule taints that node conditions set, as
// Kubernetes' taint-nodes-by-condition does.
var conditionTaints = []struct {
	cond   corev1.NodeConditionType
	status corev1.ConditionStatus
	key    string
}{
	{corev1.NodeMemoryPressure, corev1.ConditionTrue, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.ConditionTrue, corev1.TaintNodeDiskPressure},
	{corev1.NodePIDPressure, corev1.ConditionTrue, corev1.TaintNodePIDPressure},
	{corev1.NodeNetworkUnavailable, corev1.ConditionTrue, corev1.TaintNodeNetworkUnavailable},
}

// managed tells whether the controller owns a taint.
func managed(t corev1.Taint) bool {
	switch t.Key {
	case corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable:
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	case corev1.TaintNodeMemoryPressure, corev1.TaintNodeDiskPressure, corev1.TaintNodePIDPressure,
		corev1.TaintNodeNetworkUnavailable, corev1.TaintNodeUnschedulable:
		return t.Effect == corev1.TaintEffectNoSchedule
	}
	return false
}

// desiredTaints are the managed taints node's conditions and
// spec.unschedulable ask for: not-ready for Ready=False, unreachable for
// Unknown (each NoSchedule and NoExecute), pressure taints, unschedulable.
func (c *Controller) desiredTaints(node *corev1.Node, now time.Time) []corev1.Taint {
	var out []corev1.Taint
	add := func(key string, effect corev1.TaintEffect) {
		t := corev1.Taint{Key: key, Effect: effect}
		if effect == corev1.TaintEffectNoExecute {
			t.TimeAdded = &metav1.Time{Time: now}
		}
		out = append(out, t)
	}
	if ready := condition(node, corev1.NodeReady); ready != nil {
		switch ready.Status {
		case corev1.ConditionFalse:
			add(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule)
			add(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)
		case corev1.ConditionUnknown:
			add(corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule)
			add(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
		}
	}
	for _, ct := range conditionTaints {
		if cond := condition(node, ct.cond); cond != nil && cond.Status == ct.status {
			add(ct.key, corev1.TaintEffectNoSchedule)
		}
	}
	if node.Spec.Unschedulable {
		add(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	}
	return out
}

func managedTaints(taints []corev1.Taint) []corev1.Taint {
	return slices.DeleteFunc(slices.Clone(taints), func(t corev1.Taint) bool { return !managed(t) })
}

func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	return slices.DeleteFunc(slices.Clone(taints), func(t corev1.Taint) bool { return t.Effect != corev1.TaintEffectNoExecute })
}

// sameTaints compares two taint lists by key, value and effect, in any
// order.
func sameTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for _, t := range a {
		if !slices.ContainsFunc(b, func(u corev1.Taint) bool { return t.MatchTaint(&u) && t.Value == u.Value }) {
			return false
		}
	}
	return true
}

// mergeTaints replaces the managed taints of current by want, keeping the
// ones already there (and when they were added) and every other taint.
func mergeTaints(current, want []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range current {
		if !managed(t) || containsTaint(want, t) {
			out = append(out, t)
		}
	}
	for _, t := range want {
		if !containsTaint(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// containsTaint tells whether taints hold one with t's key and effect.
func containsTaint(taints []corev1.Taint, t corev1.Taint) bool {
	return slices.ContainsFunc(taints, func(u corev1.Taint) bool { return t.MatchTaint(&u) })
}

func taintStrings(taints []corev1.Taint) []string {
	out := make([]string, len(taints))
	for i, t := range taints {
		out[i] = t.ToString()
	}
	return out
}

// noLog is the logger the toleration helpers want.
var noLog = logr.Discard()

// tolerationTime says how long a pod tolerates a node's NoExecute taints,
// as Kubernetes' taint eviction does: not at all (ok false) when a taint
// has no matching toleration; otherwise the shortest tolerationSeconds of
// the matching tolerations, or forever (negative) when none sets one.
func tolerationTime(tolerations []corev1.Toleration, taints []corev1.Taint) (time.Duration, bool) {
	wait := time.Duration(-1)
	for i := range taints {
		matched := false
		for j := range tolerations {
			tol := &tolerations[j]
			if !tol.ToleratesTaint(noLog, &taints[i], false) {
				continue
			}
			matched = true
			if tol.TolerationSeconds == nil {
				continue
			}
			d := time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second
			if wait < 0 || d < wait {
				wait = d
			}
		}
		if !matched {
			return 0, false
		}
	}
	return wait, true
}
