package validation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// affinity validates node, pod and pod anti-affinity.
func affinity(a *corev1.Affinity, fld *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	if na := a.NodeAffinity; na != nil {
		p := fld.Child("nodeAffinity")
		if na.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			errs = append(errs, nodeSelector(na.RequiredDuringSchedulingIgnoredDuringExecution, p.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		}
		for i, term := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			tp := p.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			if term.Weight <= 0 || term.Weight > 100 {
				errs = append(errs, field.Invalid(tp.Child("weight"), term.Weight, "must be in the range 1-100"))
			}
			errs = append(errs, nodeSelectorTerm(term.Preference, tp.Child("preference"))...)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		p := fld.Child("podAffinity")
		errs = append(errs, podAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, p.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		errs = append(errs, weightedPodAffinityTerms(pa.PreferredDuringSchedulingIgnoredDuringExecution, p.Child("preferredDuringSchedulingIgnoredDuringExecution"))...)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		p := fld.Child("podAntiAffinity")
		errs = append(errs, podAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, p.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		errs = append(errs, weightedPodAffinityTerms(pa.PreferredDuringSchedulingIgnoredDuringExecution, p.Child("preferredDuringSchedulingIgnoredDuringExecution"))...)
	}
	return errs
}

func nodeSelector(s *corev1.NodeSelector, fld *field.Path) field.ErrorList {
	termsPath := fld.Child("nodeSelectorTerms")
	if len(s.NodeSelectorTerms) == 0 {
		return field.ErrorList{field.Required(termsPath, "must have at least one node selector term")}
	}
	var errs field.ErrorList
	for i, term := range s.NodeSelectorTerms {
		errs = append(errs, nodeSelectorTerm(term, termsPath.Index(i))...)
	}
	return errs
}

func nodeSelectorTerm(term corev1.NodeSelectorTerm, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for j, req := range term.MatchExpressions {
		errs = append(errs, nodeSelectorRequirement(req, fld.Child("matchExpressions").Index(j))...)
	}
	for j, req := range term.MatchFields {
		errs = append(errs, nodeFieldSelectorRequirement(req, fld.Child("matchFields").Index(j))...)
	}
	return errs
}

func nodeSelectorRequirement(rq corev1.NodeSelectorRequirement, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch rq.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if len(rq.Values) == 0 {
			errs = append(errs, field.Required(fld.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
		}
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		if len(rq.Values) > 0 {
			errs = append(errs, field.Forbidden(fld.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
		}
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(rq.Values) != 1 {
			errs = append(errs, field.Required(fld.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
		}
	default:
		errs = append(errs, field.Invalid(fld.Child("operator"), rq.Operator, "not a valid selector operator"))
	}
	return append(errs, labelName(rq.Key, fld.Child("key"))...)
}

func nodeFieldSelectorRequirement(rq corev1.NodeSelectorRequirement, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch rq.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if len(rq.Values) != 1 {
			errs = append(errs, field.Required(fld.Child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
		}
	default:
		errs = append(errs, field.Invalid(fld.Child("operator"), rq.Operator, "not a valid selector operator"))
	}
	// metadata.name is the only node field a selector may use.
	if rq.Key != metav1.ObjectNameField {
		return append(errs, field.Invalid(fld.Child("key"), rq.Key, "not a valid field selector key"))
	}
	for i, v := range rq.Values {
		errs = append(errs, validName(v, nameIsDNSSubdomain, fld.Child("values").Index(i))...)
	}
	return errs
}

func podAffinityTerms(terms []corev1.PodAffinityTerm, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range terms {
		errs = append(errs, podAffinityTerm(t, fld.Index(i))...)
	}
	return errs
}

func weightedPodAffinityTerms(terms []corev1.WeightedPodAffinityTerm, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range terms {
		if t.Weight <= 0 || t.Weight > 100 {
			errs = append(errs, field.Invalid(fld.Index(i).Child("weight"), t.Weight, "must be in the range 1-100"))
		}
		errs = append(errs, podAffinityTerm(t.PodAffinityTerm, fld.Index(i).Child("podAffinityTerm"))...)
	}
	return errs
}

func podAffinityTerm(t corev1.PodAffinityTerm, fld *field.Path) field.ErrorList {
	errs := strictSelector(t.LabelSelector, fld.Child("labelSelector"))
	errs = append(errs, strictSelector(t.NamespaceSelector, fld.Child("namespaceSelector"))...)
	for _, ns := range t.Namespaces {
		errs = append(errs, validName(ns, apimachineryvalidation.ValidateNamespaceName, fld.Child("namespace"))...)
	}
	errs = append(errs, matchLabelKeys(fld, t.MatchLabelKeys, t.MismatchLabelKeys, t.LabelSelector)...)
	if t.TopologyKey == "" {
		errs = append(errs, field.Required(fld.Child("topologyKey"), "can not be empty"))
	}
	return append(errs, labelName(t.TopologyKey, fld.Child("topologyKey"))...)
}

// matchLabelKeys validates the label keys pod affinity terms copy from the
// incoming pod.
func matchLabelKeys(fld *field.Path, match, mismatch []string, selector *metav1.LabelSelector) field.ErrorList {
	var errs field.ErrorList
	for _, keys := range []struct {
		list []string
		path *field.Path
	}{{match, fld.Child("matchLabelKeys")}, {mismatch, fld.Child("mismatchLabelKeys")}} {
		if len(keys.list) == 0 {
			continue
		}
		if selector == nil {
			errs = append(errs, field.Forbidden(keys.path, "must not be specified when labelSelector is not set"))
			continue
		}
		for i, k := range keys.list {
			errs = append(errs, labelName(k, keys.path.Index(i))...)
		}
	}
	if selector != nil {
		index := map[string]int{}
		for i, k := range match {
			index[k] = i
		}
		selectorKeys := sets.New[string]()
		for k := range selector.MatchLabels {
			selectorKeys.Insert(k)
		}
		for _, e := range selector.MatchExpressions {
			if i, ok := index[e.Key]; ok && selectorKeys.Has(e.Key) {
				errs = append(errs, field.Invalid(fld.Index(i), e.Key, "exists in both matchLabelKeys and labelSelector"))
			}
			selectorKeys.Insert(e.Key)
		}
	}
	mismatched := sets.New(mismatch...)
	for i, k := range match {
		if mismatched.Has(k) {
			errs = append(errs, field.Invalid(fld.Child("matchLabelKeys").Index(i), k, "exists in both matchLabelKeys and mismatchLabelKeys"))
		}
	}
	return errs
}

var (
	supportedScheduleActions = sets.New(corev1.DoNotSchedule, corev1.ScheduleAnyway)
	supportedNodePolicies    = sets.New(corev1.NodeInclusionPolicyIgnore, corev1.NodeInclusionPolicyHonor)
)

func topologySpreadConstraints(constraints []corev1.TopologySpreadConstraint, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range constraints {
		p := fld.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(p.Child("maxSkew"), c.MaxSkew, isNotPositiveErrorMsg))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
		}
		if !supportedScheduleActions.Has(c.WhenUnsatisfiable) {
			errs = append(errs, field.NotSupported(p.Child("whenUnsatisfiable"), c.WhenUnsatisfiable, sets.List(supportedScheduleActions)))
		}
		for _, rest := range constraints[i+1:] {
			if c.TopologyKey == rest.TopologyKey && c.WhenUnsatisfiable == rest.WhenUnsatisfiable {
				errs = append(errs, field.Duplicate(p.Child("{topologyKey, whenUnsatisfiable}"), fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)))
				break
			}
		}
		if c.MinDomains != nil {
			if *c.MinDomains <= 0 {
				errs = append(errs, field.Invalid(p.Child("minDomains"), c.MinDomains, isNotPositiveErrorMsg))
			}
			if c.WhenUnsatisfiable != corev1.DoNotSchedule {
				errs = append(errs, field.Invalid(p.Child("minDomains"), c.MinDomains,
					fmt.Sprintf("can only use minDomains if whenUnsatisfiable=%s, not %s", corev1.DoNotSchedule, c.WhenUnsatisfiable)))
			}
		}
		if pol := c.NodeAffinityPolicy; pol != nil && !supportedNodePolicies.Has(*pol) {
			errs = append(errs, field.NotSupported(p.Child("nodeAffinityPolicy"), pol, sets.List(supportedNodePolicies)))
		}
		if pol := c.NodeTaintsPolicy; pol != nil && !supportedNodePolicies.Has(*pol) {
			errs = append(errs, field.NotSupported(p.Child("nodeTaintsPolicy"), pol, sets.List(supportedNodePolicies)))
		}
		errs = append(errs, spreadMatchLabelKeys(p.Child("matchLabelKeys"), c.MatchLabelKeys, c.LabelSelector)...)
		errs = append(errs, strictSelector(c.LabelSelector, p.Child("labelSelector"))...)
	}
	return errs
}

func spreadMatchLabelKeys(fld *field.Path, keys []string, selector *metav1.LabelSelector) field.ErrorList {
	if len(keys) == 0 {
		return nil
	}
	var errs field.ErrorList
	selectorKeys := sets.New[string]()
	if selector != nil {
		for k := range selector.MatchLabels {
			selectorKeys.Insert(k)
		}
		for _, e := range selector.MatchExpressions {
			selectorKeys.Insert(e.Key)
		}
	} else {
		errs = append(errs, field.Forbidden(fld, "must not be specified when labelSelector is not set"))
	}
	for i, k := range keys {
		errs = append(errs, labelName(k, fld.Index(i))...)
		if selectorKeys.Has(k) {
			errs = append(errs, field.Invalid(fld.Index(i), k, "exists in both matchLabelKeys and labelSelector"))
		}
	}
	return errs
}
