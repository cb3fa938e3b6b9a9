package validation

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/controlplane/apis/defaults"
)

// want is one expected error: its type and field path as a client sees
// them in a 422 Status cause.
type want struct {
	typ  field.ErrorType
	path string
}

func required(path string) want     { return want{field.ErrorTypeRequired, path} }
func invalid(path string) want      { return want{field.ErrorTypeInvalid, path} }
func forbidden(path string) want    { return want{field.ErrorTypeForbidden, path} }
func duplicate(path string) want    { return want{field.ErrorTypeDuplicate, path} }
func notSupported(path string) want { return want{field.ErrorTypeNotSupported, path} }
func notFound(path string) want     { return want{field.ErrorTypeNotFound, path} }
func tooLong(path string) want      { return want{field.ErrorTypeTooLong, path} }
func tooMany(path string) want      { return want{field.ErrorTypeTooMany, path} }

// expect fails unless errs holds exactly the wanted (type, path) pairs.
func expect(t *testing.T, errs field.ErrorList, wants ...want) {
	t.Helper()
	got := map[want]bool{}
	for _, e := range errs {
		got[want{e.Type, e.Field}] = true
	}
	exp := map[want]bool{}
	for _, w := range wants {
		exp[w] = true
	}
	var missing, extra []string
	for w := range exp {
		if !got[w] {
			missing = append(missing, fmt.Sprintf("%s %s", w.path, w.typ))
		}
	}
	for w := range got {
		if !exp[w] {
			extra = append(extra, fmt.Sprintf("%s %s", w.path, w.typ))
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		sort.Strings(missing)
		sort.Strings(extra)
		t.Errorf("missing errors %v, unexpected errors %v; all errors:\n%s", missing, extra, describe(errs))
	}
}

func describe(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  %s\n", e.Error())
	}
	return b.String()
}

// detail returns the detail of the first error at path, for message checks.
func detail(t *testing.T, errs field.ErrorList, path string) string {
	t.Helper()
	for _, e := range errs {
		if e.Field == path {
			return e.Detail
		}
	}
	t.Fatalf("no error at %s in:\n%s", path, describe(errs))
	return ""
}

// defaulted applies the defaults to obj and returns it.
func defaulted[T runtime.Object](obj T) T {
	defaults.Default(obj)
	return obj
}

// createCase is a table case that mutates a valid object before create.
type createCase[T runtime.Object] struct {
	name   string
	mutate func(T)
	want   []want
}

// runCreate validates fresh valid objects mutated by each case.
func runCreate[T runtime.Object](t *testing.T, valid func() T, cases []createCase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := valid()
			if c.mutate != nil {
				c.mutate(obj)
			}
			expect(t, ValidateCreate(obj), c.want...)
		})
	}
}

// updateCase is a table case that mutates a copy of a valid, stored object.
type updateCase[T runtime.Object] struct {
	name   string
	old    func(T)
	mutate func(T)
	want   []want
}

// runUpdate validates mutated copies of a stored object as updates of it,
// through ValidateUpdate, or ValidateStatusUpdate when status is set.
func runUpdate[T runtime.Object](t *testing.T, valid func() T, status bool, cases []updateCase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old := valid()
			if c.old != nil {
				c.old(old)
			}
			obj := old.DeepCopyObject().(T)
			if c.mutate != nil {
				c.mutate(obj)
			}
			if status {
				expect(t, ValidateStatusUpdate(obj, old), c.want...)
			} else {
				expect(t, ValidateUpdate(obj, old), c.want...)
			}
		})
	}
}
