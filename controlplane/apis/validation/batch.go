package validation

import (
	"fmt"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/apis/defaults"
)

const (
	// maxParallelismForIndexedJob caps the length of status.completedIndexes.
	maxParallelismForIndexedJob      = 100000
	maxFailedIndexesForIndexedJob    = 100_000
	completionsSoftLimit             = 100_000
	parallelismLimitHighCompletions  = 10_000
	maxFailedIndexesHighCompletions  = 10_000
	maxPodFailurePolicyRules         = 20
	maxOnExitCodesValues             = 255
	maxOnPodConditionsPatterns       = 20
	maxManagedByLength               = 63
	maxSuccessPolicySucceededIndexes = 64 * 1024
	maxSuccessPolicyRules            = 20
)

var (
	supportedPodFailurePolicyActions = sets.New(batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex,
		batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore)
	supportedOnExitCodesOperators = sets.New(batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn)
	supportedConditionStatuses    = sets.New(corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown)
	supportedPodReplacement       = sets.New(batchv1.Failed, batchv1.TerminatingOrFailed)
)

// validateJob is ValidateJob. A Job without manualSelector must carry the
// selector and labels the server generates (defaults.GenerateJobSelector).
func validateJob(j *batchv1.Job) field.ErrorList {
	errs := objectMeta(&j.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, generatedSelector(j)...)
	errs = append(errs, jobSpec(&j.Spec, field.NewPath("spec"))...)
	if ptr.Deref(j.Spec.CompletionMode, "") == batchv1.IndexedCompletion && j.Spec.Completions != nil && *j.Spec.Completions > 0 {
		// Indexed pods are named "<job>-<index>"; the largest must be a label.
		hostname := fmt.Sprintf("%s-%d", j.Name, *j.Spec.Completions-1)
		if len(validation.IsDNS1123Label(hostname)) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), j.Name, fmt.Sprintf("will not able to create pod with invalid DNS label: %s", hostname)))
		}
	}
	return errs
}

func generatedSelector(j *batchv1.Job) field.ErrorList {
	if ptr.Deref(j.Spec.ManualSelector, false) || j.Spec.Selector == nil {
		return nil
	}
	var errs field.ErrorList
	if j.UID == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	tp := field.NewPath("spec", "template", "metadata")
	expected := map[string]string{
		defaults.LegacyControllerUIDLabel: string(j.UID),
		defaults.LegacyJobNameLabel:       j.Name,
		batchv1.ControllerUidLabel:        string(j.UID),
		batchv1.JobNameLabel:              j.Name,
	}
	for _, k := range []string{defaults.LegacyControllerUIDLabel, defaults.LegacyJobNameLabel, batchv1.ControllerUidLabel, batchv1.JobNameLabel} {
		errs = append(errs, hasLabel(j.Spec.Template.ObjectMeta, tp, k, expected[k])...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector); err == nil && !sel.Matches(labels.Set(expected)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

func jobSpec(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	errs := jobSpecFields(spec, fld)
	if spec.Selector == nil {
		errs = append(errs, field.Required(fld.Child("selector"), ""))
	} else {
		errs = append(errs, strictSelector(spec.Selector, fld.Child("selector"))...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(fld.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

func jobSpecFields(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		v    *int32
		name string
	}{{spec.Parallelism, "parallelism"}, {spec.Completions, "completions"}, {spec.BackoffLimit, "backoffLimit"},
		{spec.TTLSecondsAfterFinished, "ttlSecondsAfterFinished"}, {spec.BackoffLimitPerIndex, "backoffLimitPerIndex"}} {
		if f.v != nil {
			errs = append(errs, nonnegative(*f.v, fld.Child(f.name))...)
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, nonnegative(*spec.ActiveDeadlineSeconds, fld.Child("activeDeadlineSeconds"))...)
	}
	if spec.MaxFailedIndexes != nil {
		errs = append(errs, nonnegative(*spec.MaxFailedIndexes, fld.Child("maxFailedIndexes"))...)
		if spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(fld.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
	}
	if spec.ManagedBy != nil {
		errs = append(errs, validation.IsDomainPrefixedPath(fld.Child("managedBy"), *spec.ManagedBy)...)
		if len(*spec.ManagedBy) > maxManagedByLength {
			errs = append(errs, field.TooLong(fld.Child("managedBy"), *spec.ManagedBy, maxManagedByLength))
		}
	}
	errs = append(errs, completionMode(spec, fld)...)
	if spec.PodFailurePolicy != nil {
		errs = append(errs, podFailurePolicy(spec, fld.Child("podFailurePolicy"))...)
	}
	if spec.SuccessPolicy != nil {
		if ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) != batchv1.IndexedCompletion {
			errs = append(errs, field.Invalid(fld.Child("successPolicy"), *spec.SuccessPolicy, "requires indexed completion mode"))
		} else {
			errs = append(errs, successPolicy(spec, fld.Child("successPolicy"))...)
		}
	}
	if p := spec.PodReplacementPolicy; p != nil {
		if spec.PodFailurePolicy != nil {
			if *p != batchv1.Failed {
				errs = append(errs, field.NotSupported(fld.Child("podReplacementPolicy"), *p, []batchv1.PodReplacementPolicy{batchv1.Failed}))
			}
		} else if !supportedPodReplacement.Has(*p) {
			errs = append(errs, field.NotSupported(fld.Child("podReplacementPolicy"), *p, sets.List(supportedPodReplacement)))
		}
	}
	tp := fld.Child("template")
	errs = append(errs, podTemplateSpec(&spec.Template, nil, tp)...)
	// restartPolicy defaults to Always, which a Job cannot use.
	rp, rpPath := spec.Template.Spec.RestartPolicy, tp.Child("spec", "restartPolicy")
	switch {
	case rp == corev1.RestartPolicyAlways || rp == "":
		errs = append(errs, field.Required(rpPath, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(rpPath, rp, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case spec.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(rpPath, rp, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

func completionMode(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m := spec.CompletionMode; m != nil {
		if *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
			errs = append(errs, field.NotSupported(fld.Child("completionMode"), m, []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
		}
		if *m == batchv1.IndexedCompletion {
			errs = append(errs, indexedLimits(spec, fld)...)
		}
	}
	if ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.NonIndexedCompletion {
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(fld.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
	}
	return errs
}

func indexedLimits(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Completions == nil {
		errs = append(errs, field.Required(fld.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
	}
	if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
		errs = append(errs, field.Invalid(fld.Child("parallelism"), *spec.Parallelism,
			fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
	}
	if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
		errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
	}
	if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesForIndexedJob {
		errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesForIndexedJob)))
	}
	if spec.Completions != nil && *spec.Completions > completionsSoftLimit && spec.BackoffLimitPerIndex != nil {
		if spec.MaxFailedIndexes == nil {
			errs = append(errs, field.Required(fld.Child("maxFailedIndexes"), fmt.Sprintf("must be specified when completions is above %d", completionsSoftLimit)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > parallelismLimitHighCompletions {
			errs = append(errs, field.Invalid(fld.Child("parallelism"), *spec.Parallelism, fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", parallelismLimitHighCompletions, completionsSoftLimit)))
		}
		if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesHighCompletions {
			errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", maxFailedIndexesHighCompletions, completionsSoftLimit)))
		}
	}
	return errs
}

func podFailurePolicy(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := fld.Child("rules")
	rules := spec.PodFailurePolicy.Rules
	if len(rules) > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(rules), maxPodFailurePolicyRules))
	}
	names := sets.New[string]()
	for _, c := range append(append([]corev1.Container{}, spec.Template.Spec.Containers...), spec.Template.Spec.InitContainers...) {
		names.Insert(c.Name)
	}
	for i := range rules {
		errs = append(errs, podFailurePolicyRule(spec, &rules[i], rulesPath.Index(i), names)...)
	}
	return errs
}

func podFailurePolicyRule(spec *batchv1.JobSpec, r *batchv1.PodFailurePolicyRule, p *field.Path, containerNames sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	ap := p.Child("action")
	switch {
	case r.Action == "":
		errs = append(errs, field.Required(ap, fmt.Sprintf("valid values: %q", sets.List(supportedPodFailurePolicyActions))))
	case r.Action == batchv1.PodFailurePolicyActionFailIndex:
		if spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Invalid(ap, r.Action, "requires the backoffLimitPerIndex to be set"))
		}
	case !supportedPodFailurePolicyActions.Has(r.Action):
		errs = append(errs, field.NotSupported(ap, r.Action, sets.List(supportedPodFailurePolicyActions)))
	}
	if r.OnExitCodes != nil {
		errs = append(errs, onExitCodes(r.OnExitCodes, p.Child("onExitCodes"), containerNames)...)
	}
	if len(r.OnPodConditions) > 0 {
		cp := p.Child("onPodConditions")
		if len(r.OnPodConditions) > maxOnPodConditionsPatterns {
			errs = append(errs, field.TooMany(cp, len(r.OnPodConditions), maxOnPodConditionsPatterns))
		}
		for j, pat := range r.OnPodConditions {
			pp := cp.Index(j)
			errs = append(errs, qualifiedName(string(pat.Type), pp.Child("type"))...)
			if pat.Status == "" {
				errs = append(errs, field.Required(pp.Child("status"), fmt.Sprintf("valid values: %q", sets.List(supportedConditionStatuses))))
			} else if !supportedConditionStatuses.Has(pat.Status) {
				errs = append(errs, field.NotSupported(pp.Child("status"), pat.Status, sets.List(supportedConditionStatuses)))
			}
		}
	}
	if r.OnExitCodes != nil && len(r.OnPodConditions) > 0 {
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
	}
	if r.OnExitCodes == nil && len(r.OnPodConditions) == 0 {
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
	}
	return errs
}

func onExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, p *field.Path, containerNames sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	if req.Operator == "" {
		errs = append(errs, field.Required(p.Child("operator"), fmt.Sprintf("valid values: %q", sets.List(supportedOnExitCodesOperators))))
	} else if !supportedOnExitCodesOperators.Has(req.Operator) {
		errs = append(errs, field.NotSupported(p.Child("operator"), req.Operator, sets.List(supportedOnExitCodesOperators)))
	}
	if req.ContainerName != nil && !containerNames.Has(*req.ContainerName) {
		errs = append(errs, field.Invalid(p.Child("containerName"), *req.ContainerName, "must be one of the container or initContainer names in the pod template"))
	}
	vp := p.Child("values")
	if len(req.Values) == 0 {
		errs = append(errs, field.Invalid(vp, req.Values, "at least one value is required"))
	} else if len(req.Values) > maxOnExitCodesValues {
		errs = append(errs, field.TooMany(vp, len(req.Values), maxOnExitCodesValues))
	}
	ordered := true
	seen := sets.New[int32]()
	for j, v := range req.Values {
		if req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
			errs = append(errs, field.Invalid(vp.Index(j), v, "must not be 0 for the In operator"))
		}
		if seen.Has(v) {
			errs = append(errs, field.Duplicate(vp.Index(j), v))
		} else {
			seen.Insert(v)
		}
		if j > 0 && req.Values[j-1] > v {
			ordered = false
		}
	}
	if !ordered {
		errs = append(errs, field.Invalid(vp, req.Values, "must be ordered"))
	}
	return errs
}

func successPolicy(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := fld.Child("rules")
	rules := spec.SuccessPolicy.Rules
	if len(rules) == 0 {
		errs = append(errs, field.Required(rulesPath, "at least one rules must be specified when the successPolicy is specified"))
	}
	if len(rules) > maxSuccessPolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(rules), maxSuccessPolicyRules))
	}
	completions := ptr.Deref(spec.Completions, 0)
	for i, r := range rules {
		p := rulesPath.Index(i)
		if r.SucceededCount == nil && r.SucceededIndexes == nil {
			errs = append(errs, field.Required(p, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		var total int32
		if r.SucceededIndexes != nil {
			ip := p.Child("succeededIndexes")
			if len(*r.SucceededIndexes) > maxSuccessPolicySucceededIndexes {
				errs = append(errs, field.TooLong(ip, *r.SucceededIndexes, maxSuccessPolicySucceededIndexes))
			}
			var err error
			if total, err = indexesFormat(*r.SucceededIndexes, completions); err != nil {
				errs = append(errs, field.Invalid(ip, *r.SucceededIndexes, fmt.Sprintf("error parsing succeededIndexes: %s", err.Error())))
			}
		}
		if r.SucceededCount != nil {
			cp := p.Child("succeededCount")
			errs = append(errs, nonnegative(*r.SucceededCount, cp)...)
			if *r.SucceededCount > completions {
				errs = append(errs, field.Invalid(cp, *r.SucceededCount, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", completions)))
			}
			if r.SucceededIndexes != nil && *r.SucceededCount > total {
				errs = append(errs, field.Invalid(cp, *r.SucceededCount, fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", total)))
			}
		}
	}
	return errs
}

// indexesFormat parses an index list such as "1,3-5" and counts its indexes.
func indexesFormat(s string, completions int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	var last *int32
	var total int32
	for _, interval := range strings.Split(s, ",") {
		x, y, err := indexInterval(interval, completions)
		if err != nil {
			return 0, err
		}
		if last != nil && *last >= x {
			return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", *last, x)
		}
		total += y - x + 1
		last = &y
	}
	return total, nil
}

func indexInterval(s string, completions int32) (int32, int32, error) {
	limits := strings.Split(s, "-")
	if len(limits) > 2 {
		return 0, 0, fmt.Errorf("the fragment %q violates the requirement that an index interval can have at most two parts separated by '-'", s)
	}
	x, err := strconv.Atoi(limits[0])
	if err != nil {
		return 0, 0, fmt.Errorf("cannot convert string to integer for index: %q", limits[0])
	}
	if x >= int(completions) {
		return 0, 0, fmt.Errorf("too large index: %q", limits[0])
	}
	if len(limits) == 1 {
		return int32(x), int32(x), nil
	}
	y, err := strconv.Atoi(limits[1])
	if err != nil {
		return 0, 0, fmt.Errorf("cannot convert string to integer for index: %q", limits[1])
	}
	if y >= int(completions) {
		return 0, 0, fmt.Errorf("too large index: %q", limits[1])
	}
	if x >= y {
		return 0, 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", x, y)
	}
	return int32(x), int32(y), nil
}

// validateJobUpdate: the selector, template, completion mode, failure and
// success policies, backoffLimitPerIndex and managedBy are immutable, and
// completions too except for Indexed Jobs scaled with parallelism. The
// template's scheduling directives may change while the Job is suspended
// and has not started.
func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	fld := field.NewPath("spec")
	spec, oldSpec := &j.Spec, &old.Spec
	errs := objectMetaUpdate(&j.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, jobSpec(spec, fld)...)
	errs = append(errs, completionsUpdate(spec, oldSpec, fld.Child("completions"))...)
	errs = append(errs, immutable(spec.Selector, oldSpec.Selector, fld.Child("selector"))...)
	template := &oldSpec.Template
	if ptr.Deref(old.Spec.Suspend, false) && old.Status.StartTime == nil {
		template = mutableSchedulingDirectives(&spec.Template, &oldSpec.Template)
	}
	errs = append(errs, immutable(spec.Template, *template, fld.Child("template"))...)
	errs = append(errs, immutable(spec.CompletionMode, oldSpec.CompletionMode, fld.Child("completionMode"))...)
	errs = append(errs, immutable(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, fld.Child("podFailurePolicy"))...)
	errs = append(errs, immutable(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, fld.Child("backoffLimitPerIndex"))...)
	errs = append(errs, immutable(spec.ManagedBy, oldSpec.ManagedBy, fld.Child("managedBy"))...)
	return append(errs, immutable(spec.SuccessPolicy, oldSpec.SuccessPolicy, fld.Child("successPolicy"))...)
}

// mutableSchedulingDirectives returns the old template with the fields a
// suspended Job may change taken from the new one.
func mutableSchedulingDirectives(t, old *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	out := old.DeepCopy()
	switch {
	case t.Spec.Affinity == nil && out.Spec.Affinity != nil:
		out.Spec.Affinity.NodeAffinity = nil
		if *out.Spec.Affinity == (corev1.Affinity{}) {
			out.Spec.Affinity = nil
		}
	case t.Spec.Affinity != nil && out.Spec.Affinity == nil:
		out.Spec.Affinity = &corev1.Affinity{NodeAffinity: t.Spec.Affinity.NodeAffinity}
	case t.Spec.Affinity != nil && out.Spec.Affinity != nil:
		out.Spec.Affinity.NodeAffinity = t.Spec.Affinity.NodeAffinity
	}
	out.Spec.NodeSelector = t.Spec.NodeSelector
	out.Spec.Tolerations = t.Spec.Tolerations
	out.Annotations = t.Annotations
	out.Labels = t.Labels
	out.Spec.SchedulingGates = t.Spec.SchedulingGates
	return out
}

func completionsUpdate(spec, old *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	if ptr.Deref(spec.CompletionMode, "") != batchv1.IndexedCompletion {
		return immutable(spec.Completions, old.Completions, fld)
	}
	// Elastic Indexed Jobs scale completions together with parallelism.
	if apiequality.Semantic.DeepEqual(spec.Completions, old.Completions) || spec.Completions == nil {
		return nil
	}
	if spec.Parallelism == nil || *spec.Completions != *spec.Parallelism {
		return field.ErrorList{field.Invalid(fld, spec.Completions, fmt.Sprintf("can only be modified in tandem with %s", fld.Root().Child("parallelism").String()))}
	}
	return nil
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobFinished(j *batchv1.Job) bool {
	return jobCondition(j, batchv1.JobComplete) || jobCondition(j, batchv1.JobFailed)
}

// validateJobStatusUpdate validates status transitions as Kubernetes does
// now that Jobs may be managed by external controllers: a rule is enforced
// when the fields it concerns change.
func validateJobStatusUpdate(j, old *batchv1.Job) field.ErrorList {
	errs := objectMetaUpdate(&j.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	s, o := &j.Status, &old.Status
	p := field.NewPath("status")
	errs = append(errs, nonnegative(s.Active, p.Child("active"))...)
	errs = append(errs, nonnegative(s.Succeeded, p.Child("succeeded"))...)
	errs = append(errs, nonnegative(s.Failed, p.Child("failed"))...)
	if s.Ready != nil {
		errs = append(errs, nonnegative(*s.Ready, p.Child("ready"))...)
	}
	if s.Terminating != nil {
		errs = append(errs, nonnegative(*s.Terminating, p.Child("terminating"))...)
	}
	errs = append(errs, uncountedTerminatedPods(s.UncountedTerminatedPods, p.Child("uncountedTerminatedPods"))...)

	complete, failed := jobCondition(j, batchv1.JobComplete), jobCondition(j, batchv1.JobFailed)
	failureTarget, criteriaMet := jobCondition(j, batchv1.JobFailureTarget), jobCondition(j, batchv1.JobSuccessCriteriaMet)
	finished := jobFinished(j)
	completeChanged := complete != jobCondition(old, batchv1.JobComplete)
	failedChanged := failed != jobCondition(old, batchv1.JobFailed)
	failureTargetChanged := failureTarget != jobCondition(old, batchv1.JobFailureTarget)
	finishedChanged := finished != jobFinished(old)
	startChanged := !ptr.Equal(s.StartTime, o.StartTime)
	completionChanged := !ptr.Equal(s.CompletionTime, o.CompletionTime)
	condPath := p.Child("conditions")
	omit := field.OmitValueType{}

	if (completeChanged || failedChanged) && complete && failed {
		errs = append(errs, field.Invalid(condPath, omit, "cannot set Complete=True and Failed=true conditions"))
	}
	if (completeChanged || failureTargetChanged) && complete && failureTarget {
		errs = append(errs, field.Invalid(condPath, omit, "cannot set Complete=True and FailureTarget=true conditions"))
	}
	if (completeChanged || completionChanged) && s.CompletionTime != nil && !complete {
		errs = append(errs, field.Invalid(p.Child("completionTime"), s.CompletionTime, "cannot set completionTime when there is no Complete=True condition"))
	}
	if (completeChanged || completionChanged) && s.CompletionTime == nil && complete {
		errs = append(errs, field.Required(p.Child("completionTime"), "completionTime is required for Complete jobs"))
	}
	if (startChanged || completionChanged) && s.StartTime != nil && s.CompletionTime != nil && s.CompletionTime.Before(s.StartTime) {
		errs = append(errs, field.Invalid(p.Child("completionTime"), s.CompletionTime, "completionTime cannot be set before startTime"))
	}
	if (failedChanged || !ptr.Equal(s.FailedIndexes, o.FailedIndexes)) && failed && !failureTarget {
		errs = append(errs, field.Invalid(condPath, omit, "cannot set Failed=True condition without the FailureTarget=true condition"))
	}
	if completeChanged && complete && !criteriaMet {
		errs = append(errs, field.Invalid(condPath, omit, "cannot set Complete=True condition without the SuccessCriteriaMet=true condition"))
	}
	if (finishedChanged || s.Active != o.Active) && s.Active > 0 && finished {
		errs = append(errs, field.Invalid(p.Child("active"), s.Active, "active>0 is invalid for finished job"))
	}
	if (finishedChanged || !ptr.Equal(s.Terminating, o.Terminating)) && ptr.Deref(s.Terminating, 0) > 0 && finished {
		errs = append(errs, field.Invalid(p.Child("terminating"), s.Terminating, "terminating>0 is invalid for finished job"))
	}
	if (finishedChanged || startChanged) && s.StartTime == nil && finished {
		errs = append(errs, field.Required(p.Child("startTime"), "startTime is required for finished job"))
	}
	if u := s.UncountedTerminatedPods; (finishedChanged || !apiequality.Semantic.DeepEqual(u, o.UncountedTerminatedPods)) && finished && u != nil && len(u.Failed)+len(u.Succeeded) > 0 {
		errs = append(errs, field.Invalid(p.Child("uncountedTerminatedPods"), u, "uncountedTerminatedPods needs to be empty for finished job"))
	}
	errs = append(errs, jobIndexes(j, old, p)...)
	if (!ptr.Equal(s.Ready, o.Ready) || s.Active != o.Active) && s.Ready != nil && *s.Ready > s.Active {
		errs = append(errs, field.Invalid(p.Child("ready"), *s.Ready, "cannot set more ready pods than active"))
	}
	if criteriaMet && failed {
		errs = append(errs, field.Invalid(condPath, omit, "cannot set SuccessCriteriaMet=True and Failed=true conditions"))
	}
	if criteriaMet && failureTarget {
		errs = append(errs, field.Invalid(condPath, omit, "cannot set SuccessCriteriaMet=True and FailureTarget=true conditions"))
	}
	if j.Spec.SuccessPolicy != nil && !criteriaMet && complete {
		errs = append(errs, field.Invalid(condPath, omit, "cannot set Complete=True for Job with SuccessPolicy unless SuccessCriteriaMet=True"))
	}
	// Transitions that may never happen.
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailureTarget} {
		if jobCondition(old, t) && !jobCondition(j, t) {
			errs = append(errs, field.Invalid(condPath, omit, fmt.Sprintf("cannot disable the terminal %s=True condition", t)))
		}
	}
	if s.Failed < o.Failed {
		errs = append(errs, field.Invalid(p.Child("failed"), s.Failed, "cannot decrease the failed counter"))
	}
	// Elastic Indexed Jobs (completions == parallelism) may scale down.
	isIndexed := ptr.Deref(j.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	if (!isIndexed || !ptr.Equal(j.Spec.Completions, j.Spec.Parallelism)) && s.Succeeded < o.Succeeded {
		errs = append(errs, field.Invalid(p.Child("succeeded"), s.Succeeded, "cannot decrease the succeeded counter"))
	}
	if s.CompletionTime != nil && o.CompletionTime != nil && !ptr.Equal(s.CompletionTime, o.CompletionTime) {
		errs = append(errs, field.Invalid(p.Child("completionTime"), s.CompletionTime, "completionTime cannot be mutated"))
	}
	if o.StartTime != nil && startChanged && !ptr.Deref(j.Spec.Suspend, false) {
		errs = append(errs, field.Required(p.Child("startTime"), "startTime cannot be removed for unsuspended job"))
	}
	if jobCondition(old, batchv1.JobSuccessCriteriaMet) && !criteriaMet {
		errs = append(errs, field.Invalid(condPath, omit, "cannot disable the SuccessCriteriaMet=True condition"))
	}
	if jobCondition(old, batchv1.JobComplete) && !jobCondition(old, batchv1.JobSuccessCriteriaMet) && criteriaMet {
		errs = append(errs, field.Invalid(condPath, omit, "cannot set SuccessCriteriaMet=True for Job already has Complete=true conditions"))
	}
	return errs
}

func uncountedTerminatedPods(u *batchv1.UncountedTerminatedPods, fld *field.Path) field.ErrorList {
	if u == nil {
		return nil
	}
	var errs field.ErrorList
	seen := sets.New[types.UID]()
	for _, l := range []struct {
		name string
		uids []types.UID
	}{{"succeeded", u.Succeeded}, {"failed", u.Failed}} {
		for i, uid := range l.uids {
			p := fld.Child(l.name).Index(i)
			switch {
			case uid == "":
				errs = append(errs, field.Invalid(p, uid, "must not be empty"))
			case seen.Has(uid):
				errs = append(errs, field.Duplicate(p, uid))
			default:
				seen.Insert(uid)
			}
		}
	}
	return errs
}

// jobIndexes validates completedIndexes and failedIndexes when they change.
func jobIndexes(j, old *batchv1.Job, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	s, o := &j.Status, &old.Status
	completedChanged := s.CompletedIndexes != o.CompletedIndexes
	failedChanged := !ptr.Equal(s.FailedIndexes, o.FailedIndexes)
	isIndexed := ptr.Deref(j.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	completions := j.Spec.Completions
	if completedChanged && completions != nil {
		if _, err := indexesFormat(s.CompletedIndexes, *completions); err != nil {
			errs = append(errs, field.Invalid(p.Child("completedIndexes"), s.CompletedIndexes, fmt.Sprintf("error parsing completedIndexes: %s", err.Error())))
		}
	}
	if failedChanged && completions != nil && j.Spec.BackoffLimitPerIndex != nil && s.FailedIndexes != nil {
		if _, err := indexesFormat(*s.FailedIndexes, *completions); err != nil {
			errs = append(errs, field.Invalid(p.Child("failedIndexes"), s.FailedIndexes, fmt.Sprintf("error parsing failedIndexes: %s", err.Error())))
		}
	}
	if completedChanged && s.CompletedIndexes != "" && !isIndexed {
		errs = append(errs, field.Invalid(p.Child("completedIndexes"), s.CompletedIndexes, "cannot set non-empty completedIndexes when non-indexed completion mode"))
	}
	if failedChanged && j.Spec.BackoffLimitPerIndex == nil && s.FailedIndexes != nil {
		errs = append(errs, field.Invalid(p.Child("failedIndexes"), *s.FailedIndexes, "cannot set non-null failedIndexes when backoffLimitPerIndex is null"))
	}
	return errs
}
