package validation

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// workloadSelector validates a workload's required, non-empty selector and
// returns it parsed (nil if it cannot be).
func workloadSelector(s *metav1.LabelSelector, kind string, fld *field.Path) (labels.Selector, field.ErrorList) {
	var errs field.ErrorList
	if s == nil {
		errs = append(errs, field.Required(fld, ""))
	} else {
		errs = append(errs, strictSelector(s, fld)...)
		if len(s.MatchLabels)+len(s.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(fld, s, fmt.Sprintf("empty selector is invalid for %s", kind)))
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, errs
	}
	return sel, errs
}

// templateForReplicas validates a template whose pods are restarted
// forever: it must match the selector and use restartPolicy Always.
func templateForReplicas(t *corev1.PodTemplateSpec, sel labels.Selector, kind string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(fld.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, podTemplateSpec(t, nil, fld)...)
	return append(errs, restartAlwaysTemplate(t, kind, fld)...)
}

func restartAlwaysTemplate(t *corev1.PodTemplateSpec, kind string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(fld.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(fld.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return errs
}

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := objectMeta(&d.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, deploymentSpec(&d.Spec, field.NewPath("spec"))...)
}

// validateDeploymentUpdate: the selector is immutable in apps/v1.
func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := objectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, deploymentSpec(&d.Spec, field.NewPath("spec"))...)
	return append(errs, immutable(d.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
}

func deploymentSpec(spec *appsv1.DeploymentSpec, fld *field.Path) field.ErrorList {
	errs := nonnegative(replicas(spec.Replicas), fld.Child("replicas"))
	sel, selErrs := workloadSelector(spec.Selector, "deployment", fld.Child("selector"))
	errs = append(errs, selErrs...)
	if sel == nil {
		errs = append(errs, field.Invalid(fld.Child("selector"), spec.Selector, "invalid label selector"))
	} else {
		errs = append(errs, templateForReplicas(&spec.Template, sel, "ReplicaSet", fld.Child("template"))...)
	}
	errs = append(errs, deploymentStrategy(&spec.Strategy, fld.Child("strategy"))...)
	errs = append(errs, nonnegative(spec.MinReadySeconds, fld.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, nonnegative(*spec.RevisionHistoryLimit, fld.Child("revisionHistoryLimit"))...)
	}
	if spec.ProgressDeadlineSeconds != nil {
		errs = append(errs, nonnegative(*spec.ProgressDeadlineSeconds, fld.Child("progressDeadlineSeconds"))...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(fld.Child("progressDeadlineSeconds"), spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func deploymentStrategy(s *appsv1.DeploymentStrategy, fld *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fld.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
		return nil
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fld.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return rollingUpdateDeployment(s.RollingUpdate, fld.Child("rollingUpdate"))
	}
	return field.ErrorList{field.NotSupported(fld, s, []string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)})}
}

func rollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, fld *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := intOrZero(ru.MaxUnavailable), intOrZero(ru.MaxSurge)
	errs := positiveIntOrPercent(maxUnavailable, fld.Child("maxUnavailable"))
	errs = append(errs, positiveIntOrPercent(maxSurge, fld.Child("maxSurge"))...)
	if intOrPercentValue(maxUnavailable) == 0 && intOrPercentValue(maxSurge) == 0 {
		errs = append(errs, field.Invalid(fld.Child("maxUnavailable"), maxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	return append(errs, notMoreThan100Percent(maxUnavailable, fld.Child("maxUnavailable"))...)
}

func intOrZero(v *intstr.IntOrString) intstr.IntOrString {
	if v == nil {
		return intstr.FromInt32(0)
	}
	return *v
}

// positiveIntOrPercent accepts a non-negative integer or a percentage.
func positiveIntOrPercent(v intstr.IntOrString, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(fld, v, msg))
		}
	case intstr.Int:
		errs = append(errs, nonnegative(int64(v.IntValue()), fld)...)
	default:
		errs = append(errs, field.Invalid(fld, v, "must be an integer or percentage (e.g '5%%')"))
	}
	return errs
}

func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, _ := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n, true
}

func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percentValue(v); ok {
		return n
	}
	return v.IntValue()
}

func notMoreThan100Percent(v intstr.IntOrString, fld *field.Path) field.ErrorList {
	if n, ok := percentValue(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(fld, v, "must not be greater than 100%")}
	}
	return nil
}

func validateDeploymentStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := objectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	s, p := &d.Status, field.NewPath("status")
	errs = append(errs, nonnegative(s.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, nonnegative(s.Replicas, p.Child("replicas"))...)
	errs = append(errs, nonnegative(s.UpdatedReplicas, p.Child("updatedReplicas"))...)
	errs = append(errs, nonnegative(s.ReadyReplicas, p.Child("readyReplicas"))...)
	errs = append(errs, nonnegative(s.AvailableReplicas, p.Child("availableReplicas"))...)
	errs = append(errs, nonnegative(s.UnavailableReplicas, p.Child("unavailableReplicas"))...)
	if s.TerminatingReplicas != nil {
		errs = append(errs, nonnegative(*s.TerminatingReplicas, p.Child("terminatingReplicas"))...)
	}
	if s.CollisionCount != nil {
		errs = append(errs, nonnegative(*s.CollisionCount, p.Child("collisionCount"))...)
	}
	const msg = "cannot be greater than status.replicas"
	if s.UpdatedReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("updatedReplicas"), s.UpdatedReplicas, msg))
	}
	if s.ReadyReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), s.ReadyReplicas, msg))
	}
	if s.AvailableReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, msg))
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return append(errs, collisionCountNotDecremented(s.CollisionCount, old.Status.CollisionCount, p)...)
}

func collisionCountNotDecremented(cur, old *int32, statusPath *field.Path) field.ErrorList {
	decremented := (cur == nil && old != nil) || (cur != nil && old != nil && *cur < *old)
	if !decremented {
		return nil
	}
	var v int32
	if cur != nil {
		v = *cur
	}
	return field.ErrorList{field.Invalid(statusPath.Child("collisionCount"), v, "cannot be decremented")}
}

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := objectMeta(&rs.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, replicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := objectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, replicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
	return append(errs, immutable(rs.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
}

func replicaSetSpec(spec *appsv1.ReplicaSetSpec, fld *field.Path) field.ErrorList {
	errs := nonnegative(replicas(spec.Replicas), fld.Child("replicas"))
	errs = append(errs, nonnegative(spec.MinReadySeconds, fld.Child("minReadySeconds"))...)
	// Kubernetes words the empty-selector error for deployments here too.
	sel, selErrs := workloadSelector(spec.Selector, "deployment", fld.Child("selector"))
	errs = append(errs, selErrs...)
	if sel == nil {
		return append(errs, field.Invalid(fld.Child("selector"), spec.Selector, "invalid label selector"))
	}
	return append(errs, templateForReplicas(&spec.Template, sel, "ReplicaSet", fld.Child("template"))...)
}

func validateReplicaSetStatusUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := objectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	s := rs.Status
	errs = append(errs, replicaCounts(s.Replicas, s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas, s.ObservedGeneration, field.NewPath("status"))...)
	if s.TerminatingReplicas != nil {
		errs = append(errs, nonnegative(*s.TerminatingReplicas, field.NewPath("status", "terminatingReplicas"))...)
	}
	return errs
}

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := objectMeta(&ds.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, daemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := objectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, daemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
	return append(errs, immutable(ds.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
}

func daemonSetSpec(spec *appsv1.DaemonSetSpec, fld *field.Path) field.ErrorList {
	errs := strictSelector(spec.Selector, fld.Child("selector"))
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(fld.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fld.Child("selector"), spec.Selector, "empty selector is invalid for daemonset"))
	}
	errs = append(errs, podTemplateSpec(&spec.Template, nil, fld.Child("template"))...)
	errs = append(errs, restartAlwaysTemplate(&spec.Template, "DaemonSet", fld.Child("template"))...)
	errs = append(errs, nonnegative(spec.MinReadySeconds, fld.Child("minReadySeconds"))...)
	errs = append(errs, daemonSetUpdateStrategy(&spec.UpdateStrategy, fld.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, nonnegative(*spec.RevisionHistoryLimit, fld.Child("revisionHistoryLimit"))...)
	}
	return errs
}

func daemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, fld *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fld.Child("rollingUpdate"), "")}
		}
		return rollingUpdateDaemonSet(s.RollingUpdate, fld.Child("rollingUpdate"))
	}
	return field.ErrorList{field.NotSupported(fld, s, []string{string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)})}
}

// rollingUpdateDaemonSet: exactly one of maxUnavailable and maxSurge is
// non-zero.
func rollingUpdateDaemonSet(ru *appsv1.RollingUpdateDaemonSet, fld *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := intOrZero(ru.MaxUnavailable), intOrZero(ru.MaxSurge)
	errs := positiveIntOrPercent(maxUnavailable, fld.Child("maxUnavailable"))
	errs = append(errs, positiveIntOrPercent(maxSurge, fld.Child("maxSurge"))...)
	errs = append(errs, notMoreThan100Percent(maxUnavailable, fld.Child("maxUnavailable"))...)
	errs = append(errs, notMoreThan100Percent(maxSurge, fld.Child("maxSurge"))...)
	hasUnavailable, hasSurge := intOrPercentValue(maxUnavailable) != 0, intOrPercentValue(maxSurge) != 0
	switch {
	case hasUnavailable && hasSurge:
		errs = append(errs, field.Invalid(fld.Child("maxSurge"), maxSurge, "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		errs = append(errs, field.Required(fld.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
	}
	return errs
}

func validateDaemonSetStatusUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := objectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	s, p := &ds.Status, field.NewPath("status")
	errs = append(errs, nonnegative(s.CurrentNumberScheduled, p.Child("currentNumberScheduled"))...)
	errs = append(errs, nonnegative(s.NumberMisscheduled, p.Child("numberMisscheduled"))...)
	errs = append(errs, nonnegative(s.DesiredNumberScheduled, p.Child("desiredNumberScheduled"))...)
	errs = append(errs, nonnegative(s.NumberReady, p.Child("numberReady"))...)
	errs = append(errs, nonnegative(s.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, nonnegative(s.UpdatedNumberScheduled, p.Child("updatedNumberScheduled"))...)
	errs = append(errs, nonnegative(s.NumberAvailable, p.Child("numberAvailable"))...)
	errs = append(errs, nonnegative(s.NumberUnavailable, p.Child("numberUnavailable"))...)
	if s.CollisionCount != nil {
		errs = append(errs, nonnegative(*s.CollisionCount, p.Child("collisionCount"))...)
	}
	return append(errs, collisionCountNotDecremented(s.CollisionCount, old.Status.CollisionCount, p)...)
}

// claimTemplateVolumes are the volumes a StatefulSet's claim templates add
// to its pods, so that volume mounts may refer to them.
func claimTemplateVolumes(spec *appsv1.StatefulSetSpec) []corev1.Volume {
	var vols []corev1.Volume
	have := map[string]bool{}
	for _, v := range spec.Template.Spec.Volumes {
		have[v.Name] = true
	}
	for _, c := range spec.VolumeClaimTemplates {
		if have[c.Name] {
			continue
		}
		vols = append(vols, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name},
		}})
	}
	return vols
}

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	errs := objectMeta(&ss.ObjectMeta, true, nameIsDNSLabel, field.NewPath("metadata"))
	return append(errs, statefulSetSpec(&ss.Spec, field.NewPath("spec"), true)...)
}

// validateStatefulSetUpdate: only replicas, ordinals, template,
// updateStrategy, persistentVolumeClaimRetentionPolicy and minReadySeconds
// may change. The pod template and claim templates are checked only when
// the old object passed those checks, as Kubernetes ratchets them.
func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := objectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	strict := len(statefulSetTemplates(&old.Spec, specPath)) == 0
	errs = append(errs, statefulSetSpec(&ss.Spec, specPath, strict)...)
	clone := ss.Spec.DeepCopy()
	clone.Replicas = old.Spec.Replicas
	clone.Template = old.Spec.Template
	clone.UpdateStrategy = old.Spec.UpdateStrategy
	clone.MinReadySeconds = old.Spec.MinReadySeconds
	clone.Ordinals = old.Spec.Ordinals
	clone.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	if !apiequality.Semantic.DeepEqual(*clone, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

func statefulSetSpec(spec *appsv1.StatefulSetSpec, fld *field.Path, strict bool) field.ErrorList {
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(fld.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(fld.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	us, usPath := spec.UpdateStrategy, fld.Child("updateStrategy")
	switch us.Type {
	case "":
		errs = append(errs, field.Required(usPath, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if us.RollingUpdate != nil {
			errs = append(errs, field.Invalid(usPath.Child("rollingUpdate"), us.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := us.RollingUpdate; ru != nil {
			errs = append(errs, rollingUpdateStatefulSet(ru, usPath.Child("rollingUpdate"))...)
		}
	default:
		errs = append(errs, field.Invalid(usPath, us, fmt.Sprintf("must be '%s' or '%s'",
			appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		pp := fld.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, retentionPolicyType(p.WhenDeleted, pp.Child("whenDeleted"))...)
		errs = append(errs, retentionPolicyType(p.WhenScaled, pp.Child("whenScaled"))...)
	}
	errs = append(errs, nonnegative(replicas(spec.Replicas), fld.Child("replicas"))...)
	errs = append(errs, nonnegative(spec.MinReadySeconds, fld.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, nonnegative(spec.Ordinals.Start, fld.Child("ordinals.start"))...)
	}
	sel, selErrs := workloadSelector(spec.Selector, "statefulset", fld.Child("selector"))
	errs = append(errs, selErrs...)
	tp := fld.Child("template")
	if sel == nil {
		errs = append(errs, field.Invalid(fld.Child("selector"), spec.Selector, ""))
	} else {
		if !sel.Empty() && !sel.Matches(labels.Set(spec.Template.Labels)) {
			errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
		}
		if strict {
			errs = append(errs, statefulSetTemplates(spec, fld)...)
		} else {
			errs = append(errs, validLabels(spec.Template.Labels, tp.Child("labels"))...)
		}
	}
	return append(errs, restartAlwaysTemplate(&spec.Template, "StatefulSet", tp)...)
}

// statefulSetTemplates validates the pod template (with the claim
// templates' volumes) and the claim templates.
func statefulSetTemplates(spec *appsv1.StatefulSetSpec, fld *field.Path) field.ErrorList {
	errs := podTemplateSpec(&spec.Template, claimTemplateVolumes(spec), fld.Child("template"))
	for i := range spec.VolumeClaimTemplates {
		errs = append(errs, claimSpec(&spec.VolumeClaimTemplates[i].Spec, fld.Child("volumeClaimTemplates").Index(i).Child("spec"))...)
	}
	return errs
}

func rollingUpdateStatefulSet(ru *appsv1.RollingUpdateStatefulSetStrategy, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ru.Partition != nil {
		errs = append(errs, nonnegative(*ru.Partition, fld.Child("partition"))...)
	}
	if ru.MaxUnavailable != nil {
		p := fld.Child("maxUnavailable")
		errs = append(errs, positiveIntOrPercent(*ru.MaxUnavailable, p)...)
		if intOrPercentValue(*ru.MaxUnavailable) == 0 {
			errs = append(errs, field.Invalid(p, *ru.MaxUnavailable, "cannot be 0"))
		}
		errs = append(errs, notMoreThan100Percent(*ru.MaxUnavailable, p)...)
	}
	return errs
}

func retentionPolicyType(t appsv1.PersistentVolumeClaimRetentionPolicyType, fld *field.Path) field.ErrorList {
	switch t {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	}
	return field.ErrorList{field.NotSupported(fld, t, []string{string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType), string(appsv1.DeletePersistentVolumeClaimRetentionPolicyType)})}
}

func validateStatefulSetStatusUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	s, p := &ss.Status, field.NewPath("status")
	errs := nonnegative(s.Replicas, p.Child("replicas"))
	errs = append(errs, nonnegative(s.ReadyReplicas, p.Child("readyReplicas"))...)
	errs = append(errs, nonnegative(s.CurrentReplicas, p.Child("currentReplicas"))...)
	errs = append(errs, nonnegative(s.UpdatedReplicas, p.Child("updatedReplicas"))...)
	errs = append(errs, nonnegative(s.AvailableReplicas, p.Child("availableReplicas"))...)
	errs = append(errs, nonnegative(s.ObservedGeneration, p.Child("observedGeneration"))...)
	if s.CollisionCount != nil {
		errs = append(errs, nonnegative(*s.CollisionCount, p.Child("collisionCount"))...)
	}
	const msg = "cannot be greater than status.replicas"
	for _, c := range []struct {
		name  string
		value int32
	}{{"readyReplicas", s.ReadyReplicas}, {"currentReplicas", s.CurrentReplicas}, {"updatedReplicas", s.UpdatedReplicas}, {"availableReplicas", s.AvailableReplicas}} {
		if c.value > s.Replicas {
			errs = append(errs, field.Invalid(p.Child(c.name), c.value, msg))
		}
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	errs = append(errs, objectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))...)
	return append(errs, collisionCountNotDecremented(s.CollisionCount, old.Status.CollisionCount, p)...)
}

func validateControllerRevision(r *appsv1.ControllerRevision) field.ErrorList {
	errs := objectMeta(&r.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	if r.Data.Raw == nil && r.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, nonnegative(r.Revision, field.NewPath("revision"))...)
}

// validateControllerRevisionUpdate: a revision's data never changes.
func validateControllerRevisionUpdate(r, old *appsv1.ControllerRevision) field.ErrorList {
	errs := objectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateControllerRevision(r)...)
	return append(errs, immutable(r.Data, old.Data, field.NewPath("data"))...)
}
