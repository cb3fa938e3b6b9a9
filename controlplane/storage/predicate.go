package storage

import (
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// AttrFunc returns the labels and the selectable fields of an object.
type AttrFunc func(obj runtime.Object) (labels.Set, fields.Set, error)

// Predicate selects objects by label and field selectors.
type Predicate struct {
	Label    labels.Selector
	Field    fields.Selector
	GetAttrs AttrFunc
}

// Empty reports whether p selects everything.
func (p Predicate) Empty() bool {
	return (p.Label == nil || p.Label.Empty()) && (p.Field == nil || p.Field.Empty())
}

// Matches reports whether obj passes both selectors. Objects whose
// attributes cannot be read do not match.
func (p Predicate) Matches(obj runtime.Object) bool {
	if p.Empty() {
		return true
	}
	l, f, err := p.GetAttrs(obj)
	if err != nil {
		return false
	}
	if p.Label != nil && !p.Label.Matches(l) {
		return false
	}
	if p.Field != nil && !p.Field.Matches(f) {
		return false
	}
	return true
}

// MatchesSingle returns the object name the field selector pins down with
// metadata.name=<name>, so that a caller can narrow the key range it reads.
func (p Predicate) MatchesSingle() (string, bool) {
	if p.Field == nil {
		return "", false
	}
	return p.Field.RequiresExactMatch("metadata.name")
}
