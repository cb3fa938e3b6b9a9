package validation

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Messages shared by many rules, worded as Kubernetes words them.
const (
	isNegativeErrorMsg     = apimachineryvalidation.IsNegativeErrorMsg
	fieldImmutableErrorMsg = apimachineryvalidation.FieldImmutableErrorMsg
	isNotIntegerErrorMsg   = "must be an integer"
	isNotPositiveErrorMsg  = "must be greater than zero"
	fileModeErrorMsg       = "must be a number between 0 and 0777 (octal), both inclusive"
)

// The name rules of the kinds, as Kubernetes assigns them.
var (
	nameIsDNSSubdomain = apimachineryvalidation.NameIsDNSSubdomain
	nameIsDNSLabel     = apimachineryvalidation.NameIsDNSLabel
	nameIsDNS1035Label = apimachineryvalidation.NameIsDNS1035Label
)

// objectMeta validates an object's metadata on create with its kind's name
// rule, adding Kubernetes' check of unqualified finalizer names.
func objectMeta(m *metav1.ObjectMeta, namespaced bool, nameFn apimachineryvalidation.ValidateNameFunc, fld *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMeta(m, namespaced, nameFn, fld)
	return append(errs, kubeFinalizers(m.Finalizers, fld.Child("finalizers"))...)
}

// objectMetaUpdate validates the metadata of an update.
func objectMetaUpdate(m, old *metav1.ObjectMeta, fld *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(m, old, fld)
	return append(errs, kubeFinalizers(m.Finalizers, fld.Child("finalizers"))...)
}

func kubeFinalizers(finalizers []string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, f := range finalizers {
		errs = append(errs, kubeFinalizerName(f, fld.Index(i))...)
	}
	return errs
}

var standardFinalizers = sets.New(
	string(corev1.FinalizerKubernetes),
	metav1.FinalizerOrphanDependents,
	metav1.FinalizerDeleteDependents,
)

// kubeFinalizerName rejects unqualified finalizer names other than the
// standard ones.
func kubeFinalizerName(name string, fld *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers.Has(name) {
		return field.ErrorList{field.Invalid(fld, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// nonnegative is ValidateNonnegativeField for any integer width.
func nonnegative[T ~int32 | ~int64](v T, fld *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(int64(v), fld)
}

func immutable(newVal, oldVal any, fld *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fld)
}

// invalidMsgs turns the messages of an apimachinery Is* check into Invalid
// errors on fld.
func invalidMsgs[T any](fld *field.Path, value T, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(fld, value, msg))
	}
	return errs
}

func dns1123Label(value string, fld *field.Path) field.ErrorList {
	return invalidMsgs(fld, value, validation.IsDNS1123Label(value))
}

func dns1123Subdomain(value string, fld *field.Path) field.ErrorList {
	return invalidMsgs(fld, value, validation.IsDNS1123Subdomain(value))
}

func qualifiedName(value string, fld *field.Path) field.ErrorList {
	return invalidMsgs(fld, value, content.IsLabelKey(value))
}

// validName applies a ValidateNameFunc to a reference to another object.
func validName(value string, nameFn apimachineryvalidation.ValidateNameFunc, fld *field.Path) field.ErrorList {
	return invalidMsgs(fld, value, nameFn(value, false))
}

func labelName(key string, fld *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelName(key, fld)
}

func validLabels(l map[string]string, fld *field.Path) field.ErrorList {
	return metav1validation.ValidateLabels(l, fld)
}

// strictSelector validates a label selector without tolerating invalid
// label values, as workloads' selectors are validated.
func strictSelector(s *metav1.LabelSelector, fld *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, fld)
}

func nonnegativeQuantity(q resource.Quantity, fld *field.Path) field.ErrorList {
	if q.Cmp(resource.Quantity{}) < 0 {
		return field.ErrorList{field.Invalid(fld, q.String(), isNegativeErrorMsg)}
	}
	return nil
}

func positiveQuantity(q resource.Quantity, fld *field.Path) field.ErrorList {
	if q.Cmp(resource.Quantity{}) <= 0 {
		return field.ErrorList{field.Invalid(fld, q.String(), isNotPositiveErrorMsg)}
	}
	return nil
}

// templateObjectMeta validates the metadata of an embedded object template
// that only labels and annotations may be set on.
func templateObjectMeta(m *metav1.ObjectMeta, fld *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateAnnotations(m.Annotations, fld.Child("annotations"))
	errs = append(errs, validLabels(m.Labels, fld.Child("labels"))...)
	return append(errs, fieldAllowList(*m, map[string]bool{"Annotations": true, "Labels": true}, "cannot be set", fld)...)
}

// fieldAllowList forbids every field of the struct value that is set and
// not in allowed, naming it by its lower-camel-case Go name.
func fieldAllowList(value any, allowed map[string]bool, detail string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	t, v := reflect.TypeOf(value), reflect.ValueOf(value)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if allowed[f.Name] || reflect.DeepEqual(v.Field(i).Interface(), reflect.Zero(f.Type).Interface()) {
			continue
		}
		r, n := utf8.DecodeRuneInString(f.Name)
		errs = append(errs, field.Forbidden(fld.Child(string(unicode.ToLower(r))+f.Name[n:]), detail))
	}
	return errs
}

// hasLabel requires a label with the expected value on a template.
func hasLabel(m metav1.ObjectMeta, fld *field.Path, key, expected string) field.ErrorList {
	actual, found := m.Labels[key]
	if !found {
		return field.ErrorList{field.Required(fld.Child("labels").Key(key), fmt.Sprintf("must be '%s'", expected))}
	}
	if actual != expected {
		return field.ErrorList{field.Invalid(fld.Child("labels").Key(key), m.Labels, fmt.Sprintf("must be '%s'", expected))}
	}
	return nil
}
