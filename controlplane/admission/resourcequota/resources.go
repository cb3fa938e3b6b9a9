package resourcequota

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Arithmetic on resource lists, as Kubernetes' quota package does it.

// add returns a + b; a name in only one of them keeps its value.
func add(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range a {
		out[name] = q.DeepCopy()
	}
	for name, q := range b {
		if sum, ok := out[name]; ok {
			sum.Add(q)
			out[name] = sum
		} else {
			out[name] = q.DeepCopy()
		}
	}
	return out
}

// subtractNonNegative returns a - b, with no value below zero.
func subtractNonNegative(a, b corev1.ResourceList) corev1.ResourceList {
	zero := resource.MustParse("0")
	out := corev1.ResourceList{}
	for name, q := range a {
		d := q.DeepCopy()
		if other, ok := b[name]; ok {
			d.Sub(other)
		}
		if d.Cmp(zero) < 0 {
			d = zero.DeepCopy()
		}
		out[name] = d
	}
	return out
}

// mask returns the entries of l named in names.
func mask(l corev1.ResourceList, names []corev1.ResourceName) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, name := range names {
		if q, ok := l[name]; ok {
			out[name] = q.DeepCopy()
		}
	}
	return out
}

// lessThanOrEqual reports whether every value of a that b also names is at
// most b's, and the names where it is not.
func lessThanOrEqual(a, b corev1.ResourceList) (bool, []corev1.ResourceName) {
	var exceeded []corev1.ResourceName
	for name, limit := range b {
		if q, ok := a[name]; ok && q.Cmp(limit) > 0 {
			exceeded = append(exceeded, name)
		}
	}
	return len(exceeded) == 0, exceeded
}

// equal reports whether a and b hold the same names and quantities.
func equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		other, ok := b[name]
		if !ok || q.Cmp(other) != 0 {
			return false
		}
	}
	return true
}

// negative returns the names of l's negative values.
func negative(l corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for name, q := range l {
		if q.Sign() < 0 {
			out = append(out, name)
		}
	}
	return out
}

// removeZeros returns l without its zero values.
func removeZeros(l corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range l {
		if !q.IsZero() {
			out[name] = q
		}
	}
	return out
}

// names returns the names of l.
func names(l corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(l))
	for name := range l {
		out = append(out, name)
	}
	return out
}

// nameSet returns names as a set of strings.
func nameSet(names []corev1.ResourceName) sets.Set[string] {
	s := sets.New[string]()
	for _, n := range names {
		s.Insert(string(n))
	}
	return s
}

// prettyPrint formats l as name=value pairs in name order.
func prettyPrint(l corev1.ResourceList) string {
	parts := make([]string, 0, len(l))
	for _, name := range sortedNames(names(l)) {
		q := l[corev1.ResourceName(name)]
		parts = append(parts, name+"="+q.String())
	}
	return strings.Join(parts, ",")
}

// prettyPrintNames joins names in order.
func prettyPrintNames(names []corev1.ResourceName) string {
	return strings.Join(sortedNames(names), ",")
}

func sortedNames(names []corev1.ResourceName) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	slices.Sort(out)
	return out
}
