package resourcequota

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/admission"
)

// checkRequest checks one write against quotas and returns copies of them
// with the write's usage added, or a 403 if it does not fit.
func (p *Plugin) checkRequest(quotas []corev1.ResourceQuota, a *admission.Attributes) ([]corev1.ResourceQuota, error) {
	ev := p.evaluatorFor(a.Resource.GroupResource())
	obj := a.Object

	// The quotas that cover the write; each must know its usage.
	var covering []int
	for i := range quotas {
		q := &quotas[i]
		ok, err := matches(ev, q, obj)
		if err != nil {
			return nil, admission.NewForbidden(a, fmt.Errorf("error matching scopes of quota %s: %w", q.Name, err))
		}
		if !ok {
			continue
		}
		tracked := ev.matchingResources(names(q.Status.Hard))
		if err := ev.constraints(tracked, obj); err != nil {
			return nil, admission.NewForbidden(a, fmt.Errorf("failed quota: %s: %w", q.Name, err))
		}
		if !hasUsage(q, tracked) {
			return nil, admission.NewForbidden(a, fmt.Errorf("status unknown for quota: %s, resources: %s", q.Name, prettyPrintNames(tracked)))
		}
		covering = append(covering, i)
	}
	if len(covering) == 0 {
		return quotas, nil
	}

	if m, err := meta.Accessor(obj); err == nil && m.GetNamespace() == "" {
		m.SetNamespace(a.Namespace)
	}
	usage, err := ev.usage(obj)
	if err != nil {
		return nil, admission.NewForbidden(a, err)
	}
	if neg := negative(usage); len(neg) > 0 {
		return nil, admission.NewForbidden(a, fmt.Errorf("quota usage is negative for resource(s): %s", prettyPrintNames(neg)))
	}

	// On an update, quotas that covered the old object too are charged the
	// difference only.
	deltas := make(map[int]corev1.ResourceList, len(covering))
	for _, i := range covering {
		deltas[i] = usage
	}
	if a.Operation == admission.Update {
		old := a.OldObject
		if old == nil {
			return nil, admission.NewForbidden(a, fmt.Errorf("unable to get previous usage since prior version of object was not found"))
		}
		if m, err := meta.Accessor(old); err == nil && m.GetResourceVersion() != "" {
			oldUsage, err := ev.usage(old)
			if err != nil {
				return nil, admission.NewForbidden(a, err)
			}
			delta := subtractNonNegative(usage, oldUsage)
			for _, i := range covering {
				ok, err := matches(ev, &quotas[i], old)
				if err != nil {
					return nil, admission.NewForbidden(a, fmt.Errorf("error matching scopes of quota %s: %w", quotas[i].Name, err))
				}
				if ok {
					deltas[i] = delta
				}
			}
		}
	}

	out := copyQuotas(quotas)
	for _, i := range covering {
		delta := removeZeros(deltas[i])
		if len(delta) == 0 {
			continue
		}
		q := &out[i]
		requested := mask(delta, names(q.Status.Hard))
		used := add(q.Status.Used, requested)
		if ok, exceeded := lessThanOrEqual(mask(used, names(requested)), q.Status.Hard); !ok {
			return nil, admission.NewForbidden(a, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
				q.Name, prettyPrint(mask(requested, exceeded)), prettyPrint(mask(q.Status.Used, exceeded)), prettyPrint(mask(q.Status.Hard, exceeded))))
		}
		q.Status.Used = used
	}
	return out, nil
}

// matches reports whether quota q covers obj: it tracks one of the
// evaluator's resources and obj is in all its scopes.
func matches(ev evaluator, q *corev1.ResourceQuota, obj runtime.Object) (bool, error) {
	if len(ev.matchingResources(names(q.Status.Hard))) == 0 {
		return false, nil
	}
	for _, sel := range scopeSelectors(q) {
		ok, err := ev.matchesScope(sel, obj)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// scopeSelectors returns q's scopes and scope selector as selector
// requirements.
func scopeSelectors(q *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, scope := range q.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: scope, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		out = append(out, q.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

// hasUsage reports whether q's status shows the usage of every tracked
// resource it limits.
func hasUsage(q *corev1.ResourceQuota, tracked []corev1.ResourceName) bool {
	for _, name := range tracked {
		if _, limited := q.Status.Hard[name]; !limited {
			continue
		}
		if _, ok := q.Status.Used[name]; !ok {
			return false
		}
	}
	return true
}
