package validation

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	resourcehelper "k8s.io/component-helpers/resource"
	netutils "k8s.io/utils/net"
)

// Annotations with meaning for pods.
const (
	mirrorPodAnnotation          = "kubernetes.io/config.mirror"
	tolerationsAnnotation        = "scheduler.alpha.kubernetes.io/tolerations"
	podDeletionCostAnnotation    = "controller.kubernetes.io/pod-deletion-cost"
	appArmorContainerAnnotation  = "container.apparmor.security.beta.kubernetes.io/"
	seccompPodAnnotation         = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerAnnotation   = "container.seccomp.security.alpha.kubernetes.io/"
	seccompRuntimeDefault        = "runtime/default"
	seccompDockerDefault         = "docker/default"
	seccompUnconfined            = "unconfined"
	seccompLocalhostPrefix       = "localhost/"
	appArmorRuntimeDefault       = "runtime/default"
	appArmorUnconfined           = "unconfined"
	appArmorLocalhostPrefix      = "localhost/"
	maxDNSNameservers            = 3
	maxDNSSearchPaths            = 32
	maxDNSSearchListChars        = 2048
	serviceAccountTokenForbidden = "must not be specified when serviceAccountName is not set"
)

// validatePodCreate is ValidatePodCreate.
func validatePodCreate(pod *corev1.Pod) field.ErrorList {
	errs := podMetadataAndSpec(pod)
	specPath := field.NewPath("spec")
	// Ephemeral containers are added through their own subresource.
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if pod.Spec.NodeName != "" && len(pod.Spec.SchedulingGates) != 0 {
		errs = append(errs, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return errs
}

// podMetadataAndSpec validates what a pod's create and update share.
func podMetadataAndSpec(pod *corev1.Pod) field.ErrorList {
	metaPath, specPath := field.NewPath("metadata"), field.NewPath("spec")
	errs := objectMeta(&pod.ObjectMeta, true, nameIsDNSSubdomain, metaPath)
	errs = append(errs, podAnnotations(pod.Annotations, &pod.Spec, metaPath.Child("annotations"))...)
	errs = append(errs, podSpec(&pod.Spec, &pod.ObjectMeta, specPath, true)...)
	if pod.Spec.ServiceAccountName == "" {
		for i, v := range pod.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for j, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					p := specPath.Child("volumes").Index(i).Child("projected", "sources").Index(j).Child("serviceAccountToken")
					errs = append(errs, field.Forbidden(p, serviceAccountTokenForbidden))
				}
			}
		}
	}
	// Ephemeral containers get this check in their own validation.
	for i := range pod.Spec.Containers {
		errs = append(errs, imageWhitespace(&pod.Spec.Containers[i], specPath.Child("containers").Index(i))...)
	}
	for i := range pod.Spec.InitContainers {
		errs = append(errs, imageWhitespace(&pod.Spec.InitContainers[i], specPath.Child("initContainers").Index(i))...)
	}
	return errs
}

// podTemplateSpec validates a workload's pod template (ValidatePodTemplateSpec).
func podTemplateSpec(t *corev1.PodTemplateSpec, extraVolumes []corev1.Volume, fld *field.Path) field.ErrorList {
	errs := validLabels(t.Labels, fld.Child("labels"))
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(t.Annotations, fld.Child("annotations"))...)
	errs = append(errs, podAnnotations(t.Annotations, &t.Spec, fld.Child("annotations"))...)
	spec := &t.Spec
	if len(extraVolumes) > 0 {
		withVolumes := *spec
		withVolumes.Volumes = append(append([]corev1.Volume{}, spec.Volumes...), extraVolumes...)
		spec = &withVolumes
	}
	errs = append(errs, podSpec(spec, nil, fld.Child("spec"), false)...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(fld.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

// podAnnotations validates the annotations that carry pod settings.
func podAnnotations(annotations map[string]string, spec *corev1.PodSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v, ok := annotations[mirrorPodAnnotation]; ok && spec.NodeName == "" {
		errs = append(errs, field.Invalid(fld.Key(mirrorPodAnnotation), v, "must set spec.nodeName if mirror pod annotation is set"))
	}
	if v := annotations[tolerationsAnnotation]; v != "" {
		var tolerations []corev1.Toleration
		if err := json.Unmarshal([]byte(v), &tolerations); err != nil {
			errs = append(errs, field.Invalid(fld, tolerationsAnnotation, err.Error()))
		} else {
			errs = append(errs, validateTolerations(tolerations, fld.Child(tolerationsAnnotation))...)
		}
	}
	if v, ok := annotations[podDeletionCostAnnotation]; ok {
		if !validDeletionCost(v) {
			errs = append(errs, field.Invalid(fld.Key(podDeletionCostAnnotation), v, "must be a 32bit integer"))
		}
	}
	if p, ok := annotations[seccompPodAnnotation]; ok {
		errs = append(errs, seccompAnnotation(p, fld.Child(seccompPodAnnotation))...)
	}
	for k, p := range annotations {
		if strings.HasPrefix(k, seccompContainerAnnotation) {
			errs = append(errs, seccompAnnotation(p, fld.Child(k))...)
		}
		if strings.HasPrefix(k, appArmorContainerAnnotation) {
			container := strings.TrimPrefix(k, appArmorContainerAnnotation)
			if !hasContainer(spec, container) {
				errs = append(errs, field.Invalid(fld.Key(k), container, "container not found"))
			}
			if p != "" && p != appArmorRuntimeDefault && p != appArmorUnconfined && !strings.HasPrefix(p, appArmorLocalhostPrefix) {
				errs = append(errs, field.Invalid(fld.Key(k), p, fmt.Sprintf("invalid AppArmor profile name: %q", p)))
			}
		}
	}
	return errs
}

// validDeletionCost accepts a 32-bit integer without a plus sign or
// leading zeros.
func validDeletionCost(v string) bool {
	if v == "" || !(v[0] == '-' || v == "0" || (v[0] >= '1' && v[0] <= '9')) {
		return false
	}
	_, err := strconv.ParseInt(v, 10, 32)
	return err == nil
}

func seccompAnnotation(p string, fld *field.Path) field.ErrorList {
	switch {
	case p == seccompRuntimeDefault || p == seccompDockerDefault || p == seccompUnconfined:
		return nil
	case strings.HasPrefix(p, seccompLocalhostPrefix):
		return localDescendingPath(strings.TrimPrefix(p, seccompLocalhostPrefix), fld)
	}
	return field.ErrorList{field.Invalid(fld, p, "must be a valid seccomp profile")}
}

func hasContainer(spec *corev1.PodSpec, containerName string) bool {
	found := false
	visitContainers(spec, field.NewPath("spec"), func(c *corev1.Container, _ *field.Path) {
		found = found || c.Name == containerName
	})
	return found
}

// podSpec is ValidatePodSpec. podMeta is set for pods, nil for templates;
// isPod also enables the checks Kubernetes applies to pods only.
func podSpec(spec *corev1.PodSpec, podMeta *metav1.ObjectMeta, fld *field.Path, isPod bool) field.ErrorList {
	var errs field.ErrorList
	if spec.TerminationGracePeriodSeconds == nil {
		errs = append(errs, field.Required(fld.Child("terminationGracePeriodSeconds"), ""))
	}
	vols, vErrs := volumes(spec.Volumes, podMeta, fld.Child("volumes"))
	errs = append(errs, vErrs...)
	claims := sets.New[string]()
	for _, c := range spec.ResourceClaims {
		if c.Name != "" {
			claims.Insert(c.Name)
		}
	}
	errs = append(errs, podResourceClaims(spec.ResourceClaims, fld.Child("resourceClaims"))...)
	cc := containerContext{
		volumes:       vols,
		claims:        claims,
		gracePeriod:   spec.TerminationGracePeriodSeconds,
		restartPolicy: spec.RestartPolicy,
		hostUsers:     spec.HostUsers == nil || *spec.HostUsers,
	}
	errs = append(errs, containers(spec.Containers, cc, fld.Child("containers"))...)
	errs = append(errs, initContainers(spec.InitContainers, spec.Containers, cc, fld.Child("initContainers"))...)
	errs = append(errs, ephemeralContainers(spec.EphemeralContainers, spec, cc, fld.Child("ephemeralContainers"))...)
	errs = append(errs, hostNetworkPorts(spec, fld, isPod)...)
	errs = append(errs, restartPolicy(spec.RestartPolicy, fld.Child("restartPolicy"))...)
	errs = append(errs, dnsPolicy(spec.DNSPolicy, fld.Child("dnsPolicy"))...)
	errs = append(errs, validLabels(spec.NodeSelector, fld.Child("nodeSelector"))...)
	errs = append(errs, podSecurityContext(spec, fld)...)
	for i, s := range spec.ImagePullSecrets {
		if s != (corev1.LocalObjectReference{Name: s.Name}) {
			errs = append(errs, field.Invalid(fld.Child("imagePullSecrets").Index(i), s, "only name may be set"))
		}
	}
	errs = append(errs, affinity(spec.Affinity, fld.Child("affinity"))...)
	errs = append(errs, podDNSConfig(spec.DNSConfig, spec.DNSPolicy, fld.Child("dnsConfig"))...)
	for i, g := range spec.ReadinessGates {
		errs = append(errs, qualifiedName(string(g.ConditionType), fld.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	errs = append(errs, schedulingGates(spec.SchedulingGates, fld.Child("schedulingGates"))...)
	errs = append(errs, topologySpreadConstraints(spec.TopologySpreadConstraints, fld.Child("topologySpreadConstraints"))...)
	errs = append(errs, hostUsers(spec, fld)...)
	if spec.ServiceAccountName != "" {
		errs = append(errs, validName(spec.ServiceAccountName, apimachineryvalidation.ValidateServiceAccountName, fld.Child("serviceAccountName"))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, validName(spec.NodeName, nameIsDNSSubdomain, fld.Child("nodeName"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fld.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, dns1123Label(spec.Hostname, fld.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, dns1123Label(spec.Subdomain, fld.Child("subdomain"))...)
	}
	if len(spec.Tolerations) > 0 {
		errs = append(errs, validateTolerations(spec.Tolerations, fld.Child("tolerations"))...)
	}
	for i, a := range spec.HostAliases {
		p := fld.Child("hostAliases").Index(i)
		errs = append(errs, validation.IsValidIP(p.Child("ip"), a.IP)...)
		for j, h := range a.Hostnames {
			errs = append(errs, dns1123Subdomain(h, p.Child("hostnames").Index(j))...)
		}
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, validName(spec.PriorityClassName, nameIsDNSSubdomain, fld.Child("priorityClassName"))...)
	}
	if spec.RuntimeClassName != nil {
		errs = append(errs, validName(*spec.RuntimeClassName, nameIsDNSSubdomain, fld.Child("runtimeClassName"))...)
	}
	if p := spec.PreemptionPolicy; p != nil {
		errs = append(errs, preemptionPolicy(*p, fld.Child("preemptionPolicy"))...)
	}
	if spec.Overhead != nil {
		errs = append(errs, resourceRequirements(&corev1.ResourceRequirements{Limits: spec.Overhead}, nil, fld.Child("overhead"))...)
	}
	if spec.Resources != nil {
		errs = append(errs, podLevelResources(spec.Resources, fld.Child("resources"))...)
	}
	if spec.HostnameOverride != nil {
		errs = append(errs, dns1123Subdomain(*spec.HostnameOverride, fld.Child("hostnameOverride"))...)
	}
	return append(errs, podOS(spec, fld)...)
}

// podLevelResources validates spec.resources: only cpu, memory and huge
// pages may be set at pod level.
func podLevelResources(r *corev1.ResourceRequirements, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	supported := sets.List(resourcehelper.SupportedPodLevelResources())
	check := func(list corev1.ResourceList, p *field.Path) {
		for _, name := range sets.List(sets.KeySet(list)) {
			if !resourcehelper.IsSupportedPodLevelResource(name) && !isHugePage(name) {
				errs = append(errs, field.NotSupported(p.Key(string(name)), name, supported))
			}
		}
	}
	check(r.Limits, fld.Child("limits"))
	check(r.Requests, fld.Child("requests"))
	return append(errs, resourceRequirements(r, nil, fld)...)
}

func podResourceClaims(claims []corev1.PodResourceClaim, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, c := range claims {
		p := fld.Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case names.Has(c.Name):
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		default:
			errs = append(errs, dns1123Label(c.Name, p.Child("name"))...)
			names.Insert(c.Name)
		}
		switch {
		case c.ResourceClaimName != nil && c.ResourceClaimTemplateName != nil:
			errs = append(errs, field.Invalid(p, c, "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified"))
		case c.ResourceClaimName == nil && c.ResourceClaimTemplateName == nil:
			errs = append(errs, field.Invalid(p, c, "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`"))
		}
		if c.ResourceClaimName != nil {
			errs = append(errs, validName(*c.ResourceClaimName, nameIsDNSSubdomain, p.Child("resourceClaimName"))...)
		}
		if c.ResourceClaimTemplateName != nil {
			errs = append(errs, validName(*c.ResourceClaimTemplateName, nameIsDNSSubdomain, p.Child("resourceClaimTemplateName"))...)
		}
	}
	return errs
}

// hostNetworkPorts: with hostNetwork, a pod's hostPorts must equal its
// containerPorts; templates may leave them 0 to be defaulted on the pod.
func hostNetworkPorts(spec *corev1.PodSpec, fld *field.Path, isPod bool) field.ErrorList {
	if !spec.HostNetwork {
		return nil
	}
	var errs field.ErrorList
	for i, c := range spec.Containers {
		for j, port := range c.Ports {
			if (isPod || port.HostPort != 0) && port.HostPort != port.ContainerPort {
				p := fld.Child("containers").Index(i).Child("ports").Index(j).Child("hostPort")
				errs = append(errs, field.Invalid(p, port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
			}
		}
	}
	return errs
}

func restartPolicy(p corev1.RestartPolicy, fld *field.Path) field.ErrorList {
	switch p {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
		return nil
	case "":
		return field.ErrorList{field.Required(fld, "")}
	}
	return field.ErrorList{field.NotSupported(fld, p, []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever})}
}

func dnsPolicy(p corev1.DNSPolicy, fld *field.Path) field.ErrorList {
	switch p {
	case corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone:
		return nil
	case "":
		return field.ErrorList{field.Required(fld, "")}
	}
	return field.ErrorList{field.NotSupported(fld, p, []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone})}
}

func podDNSConfig(c *corev1.PodDNSConfig, policy corev1.DNSPolicy, fld *field.Path) field.ErrorList {
	if policy == corev1.DNSNone {
		if c == nil {
			return field.ErrorList{field.Required(fld, fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone))}
		}
		if len(c.Nameservers) == 0 {
			return field.ErrorList{field.Required(fld.Child("nameservers"), fmt.Sprintf("must provide at least one DNS nameserver when `dnsPolicy` is %s", corev1.DNSNone))}
		}
	}
	if c == nil {
		return nil
	}
	var errs field.ErrorList
	if len(c.Nameservers) > maxDNSNameservers {
		errs = append(errs, field.Invalid(fld.Child("nameservers"), c.Nameservers, fmt.Sprintf("must not have more than %v nameservers", maxDNSNameservers)))
	}
	for i, ns := range c.Nameservers {
		errs = append(errs, validation.IsValidIP(fld.Child("nameservers").Index(i), ns)...)
	}
	if len(c.Searches) > maxDNSSearchPaths {
		errs = append(errs, field.Invalid(fld.Child("searches"), c.Searches, fmt.Sprintf("must not have more than %v search paths", maxDNSSearchPaths)))
	}
	if len(strings.Join(c.Searches, " ")) > maxDNSSearchListChars {
		errs = append(errs, field.Invalid(fld.Child("searches"), c.Searches, fmt.Sprintf("must not have more than %v characters (including spaces) in the search list", maxDNSSearchListChars)))
	}
	for i, s := range c.Searches {
		errs = append(errs, dns1123Subdomain(strings.TrimSuffix(s, "."), fld.Child("searches").Index(i))...)
	}
	for i, o := range c.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(fld.Child("options").Index(i), "must not be empty"))
		}
	}
	return errs
}

func schedulingGates(gates []corev1.PodSchedulingGate, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, g := range gates {
		errs = append(errs, qualifiedName(g.Name, fld.Index(i))...)
		if seen.Has(g.Name) {
			errs = append(errs, field.Duplicate(fld.Index(i), g.Name))
		}
		seen.Insert(g.Name)
	}
	return errs
}

// validateTolerations validates pod tolerations.
func validateTolerations(tolerations []corev1.Toleration, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tolerations {
		p := fld.Index(i)
		if t.Key != "" {
			errs = append(errs, labelName(t.Key, p.Child("key"))...)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, strings.Join(msgs, ";")))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("operator"), t, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator, []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
		}
		if t.Effect != "" {
			errs = append(errs, taintEffect(t.Effect, true, p.Child("effect"))...)
		}
	}
	return errs
}

func taintEffect(effect corev1.TaintEffect, allowEmpty bool, fld *field.Path) field.ErrorList {
	if !allowEmpty && effect == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	switch effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return nil
	}
	return field.ErrorList{field.NotSupported(fld, effect, []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute})}
}

// updatablePodSpecFields are the fields a pod update may change, as the
// Kubernetes error message lists them (resources change via /resize).
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// validatePodUpdate is ValidatePodUpdate: the spec is immutable except for
// images, activeDeadlineSeconds (set or decreased), added tolerations (and
// tolerationSeconds), removed scheduling gates, scheduling directives of
// gated pods and a negative grace period set to 1.
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	metaPath, specPath := field.NewPath("metadata"), field.NewPath("spec")
	errs := objectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta, metaPath)
	errs = append(errs, podMetadataAndSpec(pod)...)
	errs = append(errs, podAnnotationUpdates(pod, old, metaPath.Child("annotations"))...)

	containerErrs, stop := containerUpdates(pod.Spec.Containers, old.Spec.Containers, specPath.Child("containers"))
	errs = append(errs, containerErrs...)
	if stop {
		return errs
	}
	containerErrs, stop = containerUpdates(pod.Spec.InitContainers, old.Spec.InitContainers, specPath.Child("initContainers"))
	errs = append(errs, containerErrs...)
	if stop {
		return errs
	}

	// activeDeadlineSeconds may be set, or lowered, but not removed.
	adsPath := specPath.Child("activeDeadlineSeconds")
	if ads := pod.Spec.ActiveDeadlineSeconds; ads != nil {
		if *ads < 0 || *ads > math.MaxInt32 {
			return append(errs, field.Invalid(adsPath, *ads, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if o := old.Spec.ActiveDeadlineSeconds; o != nil && *o < *ads {
			return append(errs, field.Invalid(adsPath, *ads, "must be less than or equal to previous value"))
		}
	} else if old.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(adsPath, pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}

	errs = append(errs, onlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, onlyDeletedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if apiequality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		return errs
	}
	if podQOS(old) != computePodQOS(pod) {
		errs = append(errs, field.Invalid(metaPath, pod.Status.QOSClass, "Pod QoS is immutable"))
	}

	munged := *pod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	munged.SchedulingGates = old.Spec.SchedulingGates
	munged.Tolerations = old.Spec.Tolerations
	if o := old.Spec.TerminationGracePeriodSeconds; o != nil && *o < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = o
	}
	if len(old.Spec.SchedulingGates) > 0 {
		errs = append(errs, gatedSchedulingDirectives(&munged, &old.Spec, specPath)...)
	}
	if !apiequality.Semantic.DeepEqual(munged, old.Spec) {
		diff := cmp.Diff(old.Spec, munged)
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v", strings.Join(updatablePodSpecFields, ","), diff)))
	}
	return errs
}

// gatedSchedulingDirectives lets a pod that still has scheduling gates gain
// node selector entries and node affinity requirements, and munges them
// away from the spec comparison.
func gatedSchedulingDirectives(munged, old *corev1.PodSpec, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !apiequality.Semantic.DeepEqual(munged.NodeSelector, old.NodeSelector) {
		for k, v := range old.NodeSelector {
			if nv, ok := munged.NodeSelector[k]; !ok || nv != v {
				errs = append(errs, field.Invalid(specPath.Child("nodeSelector"), munged.NodeSelector, "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
				break
			}
		}
		munged.NodeSelector = old.NodeSelector
	}
	var oldNA, newNA *corev1.NodeAffinity
	if old.Affinity != nil {
		oldNA = old.Affinity.NodeAffinity
	}
	if munged.Affinity != nil {
		newNA = munged.Affinity.NodeAffinity
	}
	if apiequality.Semantic.DeepEqual(oldNA, newNA) {
		return errs
	}
	errs = append(errs, nodeAffinityMutation(specPath.Child("affinity", "nodeAffinity"), newNA, oldNA)...)
	switch {
	case munged.Affinity == nil && oldNA == nil:
	case munged.Affinity == nil:
		munged.Affinity = &corev1.Affinity{NodeAffinity: oldNA}
	case old.Affinity == nil && munged.Affinity.PodAntiAffinity == nil && munged.Affinity.PodAffinity == nil:
		munged.Affinity = nil
	default:
		a := *munged.Affinity
		a.NodeAffinity = oldNA
		munged.Affinity = &a
	}
	return errs
}

func nodeAffinityMutation(fld *field.Path, newNA, oldNA *corev1.NodeAffinity) field.ErrorList {
	if oldNA == nil || oldNA.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	oldTerms := oldNA.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	var newTerms []corev1.NodeSelectorTerm
	if newNA != nil && newNA.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		newTerms = newNA.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	}
	termsPath := fld.Child("requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
	if len(oldTerms) > 0 && len(oldTerms) != len(newTerms) {
		return field.ErrorList{field.Invalid(termsPath, newTerms, "no additions/deletions to non-empty NodeSelectorTerms list are allowed")}
	}
	var errs field.ErrorList
	for i := range oldTerms {
		if !onlyAdditions(newTerms[i], oldTerms[i]) {
			errs = append(errs, field.Invalid(termsPath.Index(i), newTerms[i], "only additions are allowed (no mutations or deletions)"))
		}
	}
	return errs
}

func onlyAdditions(newTerm, oldTerm corev1.NodeSelectorTerm) bool {
	if len(oldTerm.MatchExpressions) == 0 && len(oldTerm.MatchFields) == 0 && (len(newTerm.MatchExpressions) > 0 || len(newTerm.MatchFields) > 0) {
		return false
	}
	if l := len(oldTerm.MatchExpressions); l > 0 && (len(newTerm.MatchExpressions) < l || !apiequality.Semantic.DeepEqual(newTerm.MatchExpressions[:l], oldTerm.MatchExpressions)) {
		return false
	}
	if l := len(oldTerm.MatchFields); l > 0 && (len(newTerm.MatchFields) < l || !apiequality.Semantic.DeepEqual(newTerm.MatchFields[:l], oldTerm.MatchFields)) {
		return false
	}
	return true
}

// containerUpdates forbids adding or removing containers and checks images.
func containerUpdates(list, old []corev1.Container, fld *field.Path) (field.ErrorList, bool) {
	if len(list) != len(old) {
		return field.ErrorList{field.Forbidden(fld, "pod updates may not add or remove containers")}, true
	}
	var errs field.ErrorList
	for i, c := range list {
		if c.Image == "" {
			errs = append(errs, field.Required(fld.Index(i).Child("image"), ""))
		}
		errs = append(errs, imageWhitespace(&c, fld.Index(i))...)
	}
	return errs, false
}

// onlyAddedTolerations: existing tolerations may only change their
// tolerationSeconds.
func onlyAddedTolerations(tolerations, old []corev1.Toleration, fld *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			c := o
			c.TolerationSeconds = t.TolerationSeconds
			if apiequality.Semantic.DeepEqual(c, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fld, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return validateTolerations(tolerations, fld)
}

func onlyDeletedSchedulingGates(gates, old []corev1.PodSchedulingGate, fld *field.Path) field.ErrorList {
	oldNames := sets.New[string]()
	for _, g := range old {
		oldNames.Insert(g.Name)
	}
	var errs field.ErrorList
	for i, g := range gates {
		if !oldNames.Has(g.Name) {
			errs = append(errs, field.Forbidden(fld.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

// podAnnotationUpdates forbids changing mirror pod and AppArmor annotations.
func podAnnotationUpdates(pod, old *corev1.Pod, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for k, ov := range old.Annotations {
		if nv, ok := pod.Annotations[k]; ok && nv == ov {
			continue
		}
		if strings.HasPrefix(k, appArmorContainerAnnotation) {
			errs = append(errs, field.Forbidden(fld.Key(k), "may not remove or update AppArmor annotations"))
		}
		if k == mirrorPodAnnotation {
			errs = append(errs, field.Forbidden(fld.Key(k), "may not remove or update mirror pod annotation"))
		}
	}
	for k := range pod.Annotations {
		if _, ok := old.Annotations[k]; ok {
			continue
		}
		if strings.HasPrefix(k, appArmorContainerAnnotation) {
			errs = append(errs, field.Forbidden(fld.Key(k), "may not add AppArmor annotations"))
		}
		if k == mirrorPodAnnotation {
			errs = append(errs, field.Forbidden(fld.Key(k), "may not add mirror pod annotation"))
		}
	}
	return append(errs, podAnnotations(pod.Annotations, &pod.Spec, fld)...)
}

// podQOS is the QoS class recorded in status, or computed from the spec.
func podQOS(p *corev1.Pod) corev1.PodQOSClass {
	if p.Status.QOSClass != "" {
		return p.Status.QOSClass
	}
	return computePodQOS(p)
}

// computePodQOS classifies a pod as Kubernetes does from its cpu and memory
// requests and limits (pod-level ones when set).
func computePodQOS(p *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(dst corev1.ResourceList, src corev1.ResourceList) {
		for name, q := range src {
			if !qosComputeResources.Has(name) || q.Sign() <= 0 {
				continue
			}
			q = q.DeepCopy()
			if cur, ok := dst[name]; ok {
				q.Add(cur)
			}
			dst[name] = q
		}
	}
	if r := p.Spec.Resources; r != nil && (len(r.Requests) > 0 || len(r.Limits) > 0) {
		add(requests, r.Requests)
		add(limits, r.Limits)
		guaranteed = len(limits) == len(qosComputeResources)
	} else {
		for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for _, c := range list {
				add(requests, c.Resources.Requests)
				add(limits, c.Resources.Limits)
				set := 0
				for name, q := range c.Resources.Limits {
					if qosComputeResources.Has(name) && q.Sign() > 0 {
						set++
					}
				}
				guaranteed = guaranteed && set == len(qosComputeResources)
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, q := range requests {
			if l, ok := limits[name]; !ok || l.Cmp(q) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

var podPhases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}

// validatePodStatusUpdate is ValidatePodStatusUpdate, plus a check that the
// phase is one of the defined values.
func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	metaPath, statusPath := field.NewPath("metadata"), field.NewPath("status")
	errs := objectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta, metaPath)
	errs = append(errs, podAnnotationUpdates(pod, old, metaPath.Child("annotations"))...)
	// Kubernetes reports condition types under metadata.conditions.
	for i, c := range pod.Status.Conditions {
		switch c.Type {
		case corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized:
		default:
			errs = append(errs, qualifiedName(string(c.Type), metaPath.Child("conditions").Index(i).Child("Type"))...)
		}
	}
	if ph := pod.Status.Phase; ph != "" && !sets.New(podPhases...).Has(ph) {
		errs = append(errs, field.NotSupported(statusPath.Child("phase"), ph, podPhases))
	}
	if pod.Spec.NodeName != old.Spec.NodeName {
		errs = append(errs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if n := pod.Status.NominatedNodeName; n != old.Status.NominatedNodeName && n != "" {
		errs = append(errs, validName(n, nameIsDNSSubdomain, statusPath.Child("nominatedNodeName"))...)
	}
	errs = append(errs, containerStateTransitions(pod.Status.ContainerStatuses, old.Status.ContainerStatuses, statusPath.Child("containerStatuses"), old.Spec.RestartPolicy, nil)...)
	errs = append(errs, containerStateTransitions(pod.Status.InitContainerStatuses, old.Status.InitContainerStatuses, statusPath.Child("initContainerStatuses"), old.Spec.RestartPolicy, old.Spec.InitContainers)...)
	// The kubelet never restarts ephemeral containers.
	errs = append(errs, containerStateTransitions(pod.Status.EphemeralContainerStatuses, old.Status.EphemeralContainerStatuses, statusPath.Child("ephemeralContainerStatuses"), corev1.RestartPolicyNever, nil)...)
	errs = append(errs, podIPs(pod.Status.PodIPs, statusPath.Child("podIPs"))...)
	return append(errs, hostIPs(pod.Status.HostIP, pod.Status.HostIPs, statusPath.Child("hostIPs"))...)
}

// containerStateTransitions forbids terminated containers from running
// again when the pod will not restart them. initContainers identifies the
// restartable (sidecar) init containers, which may.
func containerStateTransitions(statuses, old []corev1.ContainerStatus, fld *field.Path, policy corev1.RestartPolicy, initContainers []corev1.Container) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	sidecars := sets.New[string]()
	for _, c := range initContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Insert(c.Name)
		}
	}
	var errs field.ErrorList
	for i, o := range old {
		if o.State.Terminated == nil || (o.State.Terminated.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure) || sidecars.Has(o.Name) {
			continue
		}
		for _, s := range statuses {
			if s.Name == o.Name && s.State.Terminated == nil {
				errs = append(errs, field.Forbidden(fld.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

func podIPs(ips []corev1.PodIP, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	list := make([]string, 0, len(ips))
	for i, ip := range ips {
		errs = append(errs, validation.IsValidIP(fld.Index(i), ip.IP)...)
		list = append(list, ip.IP)
	}
	if len(ips) > 1 {
		errs = append(errs, dualStack(list, ips, fld)...)
		seen := sets.New[string]()
		for i, ip := range ips {
			if seen.Has(ip.IP) {
				errs = append(errs, field.Duplicate(fld.Index(i), ip))
			}
			seen.Insert(ip.IP)
		}
	}
	return errs
}

func hostIPs(hostIP string, ips []corev1.HostIP, fld *field.Path) field.ErrorList {
	if len(ips) == 0 {
		return nil
	}
	var errs field.ErrorList
	if hostIP != ips[0].IP {
		errs = append(errs, field.Invalid(fld.Index(0).Child("ip"), ips[0].IP, "must be equal to `hostIP`"))
	}
	list := make([]string, 0, len(ips))
	for i, ip := range ips {
		errs = append(errs, validation.IsValidIP(fld.Index(i), ip.IP)...)
		list = append(list, ip.IP)
	}
	if len(ips) > 1 {
		seen := sets.New[string]()
		for i, ip := range ips {
			if seen.Has(ip.IP) {
				errs = append(errs, field.Duplicate(fld.Index(i), ip))
			}
			seen.Insert(ip.IP)
		}
		errs = append(errs, dualStack(list, ips, fld)...)
	}
	return errs
}

// dualStack allows at most one address of each IP family.
func dualStack(list []string, value any, fld *field.Path) field.ErrorList {
	ok, err := netutils.IsDualStackIPStrings(list)
	var errs field.ErrorList
	if err != nil {
		errs = append(errs, field.InternalError(fld, fmt.Errorf("failed to check for dual stack with error:%v", err)))
	}
	if !ok || len(list) > 2 {
		errs = append(errs, field.Invalid(fld, value, "may specify no more than one IP for each IP family"))
	}
	return errs
}
