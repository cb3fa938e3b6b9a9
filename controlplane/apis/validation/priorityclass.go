package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/controlplane/apis"
)

// validatePriorityClass: the name is a DNS subdomain; names starting with
// "system-" are reserved for the built-in classes, which must keep their
// value and globalDefault; other classes go up to
// HighestUserDefinablePriority.
func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	errs := objectMeta(&pc.ObjectMeta, false, nameIsDNSSubdomain, field.NewPath("metadata"))
	if strings.HasPrefix(pc.Name, apis.SystemPriorityClassPrefix) {
		if err := knownSystemPriorityClass(pc); err != nil {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				fmt.Sprintf("priority class names with '%s' prefix are reserved for system use only. error: %v", apis.SystemPriorityClassPrefix, err)))
		}
	} else if pc.Value > apis.HighestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"),
			fmt.Sprintf("maximum allowed value of a user defined priority is %d", apis.HighestUserDefinablePriority)))
	}
	if p := pc.PreemptionPolicy; p != nil {
		errs = append(errs, preemptionPolicy(*p, field.NewPath("preemptionPolicy"))...)
	}
	return errs
}

// validatePriorityClassUpdate: value and preemptionPolicy never change.
func validatePriorityClassUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	errs := append(objectMetaUpdate(&pc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata")), validatePriorityClass(pc)...)
	if pc.Value != old.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	return append(errs, immutable(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
}

// knownSystemPriorityClass explains how pc differs from the built-in class
// of its name, or that there is none.
func knownSystemPriorityClass(pc *schedulingv1.PriorityClass) error {
	sys := apis.SystemPriorityClass(pc.Name)
	switch {
	case sys == nil:
		return fmt.Errorf("%s is not a known system priority class", pc.Name)
	case sys.Value != pc.Value:
		return fmt.Errorf("value of %s PriorityClass must be %d", sys.Name, sys.Value)
	case sys.GlobalDefault != pc.GlobalDefault:
		return fmt.Errorf("globalDefault of %s PriorityClass must be %t", sys.Name, sys.GlobalDefault)
	}
	return nil
}

// preemptionPolicy checks a pod's or a class's preemption policy.
func preemptionPolicy(p corev1.PreemptionPolicy, fld *field.Path) field.ErrorList {
	switch p {
	case corev1.PreemptLowerPriority, corev1.PreemptNever:
		return nil
	case "":
		return field.ErrorList{field.Required(fld, "")}
	}
	return field.ErrorList{field.NotSupported(fld, p, []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever})}
}
