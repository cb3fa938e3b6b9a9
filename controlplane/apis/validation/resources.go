package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource name classes, as Kubernetes' core helper defines them.
var (
	standardContainerResources = sets.New[corev1.ResourceName](
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage)

	standardResources = sets.New[corev1.ResourceName](
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices,
		corev1.ResourceReplicationControllers, corev1.ResourceSecrets, corev1.ResourceConfigMaps,
		corev1.ResourcePersistentVolumeClaims, corev1.ResourceStorage, corev1.ResourceRequestsStorage,
		corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers)

	standardQuotaResources = sets.New[corev1.ResourceName](
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsStorage,
		corev1.ResourceRequestsEphemeralStorage,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices,
		corev1.ResourceReplicationControllers, corev1.ResourceSecrets, corev1.ResourcePersistentVolumeClaims,
		corev1.ResourceConfigMaps, corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers)

	integerResources = sets.New[corev1.ResourceName](
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices,
		corev1.ResourceReplicationControllers, corev1.ResourceSecrets, corev1.ResourceConfigMaps,
		corev1.ResourcePersistentVolumeClaims, corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers)
)

const requestsHugePagesPrefix = "requests." + corev1.ResourceHugePagesPrefix

func isHugePage(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func isQuotaHugePage(name corev1.ResourceName) bool {
	return isHugePage(name) || strings.HasPrefix(string(name), requestsHugePagesPrefix)
}

// isNativeResource: unprefixed names and names in a kubernetes.io domain.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

func isExtendedResourceName(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(content.IsLabelKey(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

func isOvercommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePage(name)
}

func isIntegerResource(name corev1.ResourceName) bool {
	return integerResources.Has(name) || isExtendedResourceName(name)
}

func unqualified(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/")
}

// resourceName validates a compute resource name: qualified, and standard
// unless it is fully qualified.
func resourceName(value corev1.ResourceName, fld *field.Path) field.ErrorList {
	errs := qualifiedName(string(value), fld)
	if len(errs) != 0 {
		return errs
	}
	if unqualified(value) && !standardResources.Has(value) && !isQuotaHugePage(value) {
		errs = append(errs, field.Invalid(fld, value, "must be a standard resource type or fully qualified"))
	}
	return errs
}

// containerResourceName validates a resource a container may request.
func containerResourceName(value corev1.ResourceName, fld *field.Path) field.ErrorList {
	errs := resourceName(value, fld)
	switch {
	case unqualified(value):
		if !standardContainerResources.Has(value) && !isHugePage(value) {
			errs = append(errs, field.Invalid(fld, value, "must be a standard resource for containers"))
		}
	case !isNativeResource(value) && !isExtendedResourceName(value):
		errs = append(errs, field.Invalid(fld, value, "doesn't follow extended resource name standard"))
	}
	return errs
}

func quotaResourceName(value corev1.ResourceName, fld *field.Path) field.ErrorList {
	errs := resourceName(value, fld)
	if unqualified(value) && !standardQuotaResources.Has(value) && !isQuotaHugePage(value) {
		errs = append(errs, field.Invalid(fld, value, "must be a standard resource for quota"))
	}
	return errs
}

// resourceQuantity validates a quantity for a resource: non-negative, and
// whole for resources counted in units.
func resourceQuantity(name corev1.ResourceName, q resource.Quantity, fld *field.Path) field.ErrorList {
	errs := nonnegativeQuantity(q, fld)
	if isIntegerResource(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fld, q, isNotIntegerErrorMsg))
	}
	return errs
}

// hugePageMultiple checks that a huge page quantity is a whole number of pages.
func hugePageMultiple(name corev1.ResourceName, q resource.Quantity) error {
	size, err := resource.ParseQuantity(strings.TrimPrefix(string(name), corev1.ResourceHugePagesPrefix))
	if err != nil || size.Sign() <= 0 || size.MilliValue()%1000 != 0 || q.Value()%size.Value() != 0 {
		return fmt.Errorf("%s is not positive integer multiple of %s", q.String(), name)
	}
	return nil
}

var qosComputeResources = sets.New(corev1.ResourceCPU, corev1.ResourceMemory)

// resourceRequirements validates a container's (or pod's) requests and
// limits: known names, valid quantities, requests no larger than limits and
// equal to them for resources that cannot be overcommitted.
func resourceRequirements(r *corev1.ResourceRequirements, podClaims sets.Set[string], fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := fld.Child("limits"), fld.Child("requests")
	var cpuOrMemory, hugePages bool
	for name, q := range r.Limits {
		p := limPath.Key(string(name))
		errs = append(errs, containerResourceName(name, p)...)
		errs = append(errs, resourceQuantity(name, q, p)...)
		if isHugePage(name) {
			hugePages = true
			if err := hugePageMultiple(name, q); err != nil {
				errs = append(errs, field.Invalid(p, q.String(), err.Error()))
			}
		}
		cpuOrMemory = cpuOrMemory || qosComputeResources.Has(name)
	}
	for name, q := range r.Requests {
		p := reqPath.Key(string(name))
		errs = append(errs, containerResourceName(name, p)...)
		errs = append(errs, resourceQuantity(name, q, p)...)
		if limit, ok := r.Limits[name]; ok {
			if q.Cmp(limit) != 0 && !isOvercommitAllowed(name) {
				errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
			} else if q.Cmp(limit) > 0 {
				errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
			}
		} else if !isOvercommitAllowed(name) {
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
		if isHugePage(name) {
			hugePages = true
			if err := hugePageMultiple(name, q); err != nil {
				errs = append(errs, field.Invalid(p, q.String(), err.Error()))
			}
		}
		cpuOrMemory = cpuOrMemory || qosComputeResources.Has(name)
	}
	if hugePages && !cpuOrMemory {
		errs = append(errs, field.Forbidden(fld, "HugePages require cpu or memory"))
	}
	return append(errs, resourceClaimNames(r.Claims, podClaims, fld.Child("claims"))...)
}

// resourceClaimNames checks that a container's claims name entries of the
// pod's spec.resourceClaims.
func resourceClaimNames(claims []corev1.ResourceClaim, podClaims sets.Set[string], fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, c := range claims {
		if c.Name == "" {
			errs = append(errs, field.Required(fld.Index(i), ""))
			continue
		}
		if names.Has(c.Name) {
			errs = append(errs, field.Duplicate(fld.Index(i), c.Name))
		} else {
			names.Insert(c.Name)
		}
		if !podClaims.Has(c.Name) {
			e := field.NotFound(fld.Index(i), c.Name)
			e.Detail = "must be one of the names in pod.spec.resourceClaims"
			if len(podClaims) == 0 {
				e.Detail += " which is empty"
			} else {
				e.Detail += ": " + strings.Join(sets.List(podClaims), ", ")
			}
			errs = append(errs, e)
		}
	}
	return errs
}
