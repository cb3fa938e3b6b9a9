// Package printers converts API objects into meta.k8s.io/v1 Tables, the
// server-side printing that kubectl asks for with
// "Accept: application/json;as=Table;v=v1;g=meta.k8s.io". The columns and
// cells are those kube-apiserver returns for each kind (its
// pkg/printers/internalversion), computed over the versioned k8s.io/api
// types; kinds without specific columns get the apiserver's default
// NAME / CREATED AT table.
package printers

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/apis"
)

// Options says how to build a Table. The zero value gives what kube-apiserver
// returns for a request without table options.
type Options struct {
	// NoHeaders leaves out the column definitions (query parameter
	// ?noHeaders=true in kube-apiserver, and every watch event after the
	// first).
	NoHeaders bool
	// IncludeObject says what each row's Object carries: metav1.IncludeNone
	// nothing, metav1.IncludeMetadata (the default when empty) a
	// meta.k8s.io/v1 PartialObjectMetadata, metav1.IncludeObject the whole
	// object with its apiVersion and kind set.
	IncludeObject metav1.IncludeObjectPolicy
	// Now is the clock AGE and other durations are measured against;
	// time.Now when nil.
	Now func() time.Time
}

// ErrInvalidIncludeObject is returned for an IncludeObject policy other than
// None, Metadata, Object or empty; kube-apiserver answers 400 Bad Request.
var ErrInvalidIncludeObject = errors.New("unrecognized includeObject value")

// ErrNoObjectMeta is returned when an object without metadata reaches the
// default table; kube-apiserver answers 406 Not Acceptable.
var ErrNoObjectMeta = errors.New("object has no metadata to print")

// tableGroupVersion is the group version of the Tables and
// PartialObjectMetadata this package builds.
var tableGroupVersion = metav1.SchemeGroupVersion

// ConvertToTable returns obj, a single object or a list of any served kind,
// as a Table. Wide (priority 1) columns are always included, as
// kube-apiserver does; kubectl hides them unless -o wide. The Table's
// ListMeta carries the list's resourceVersion, continue token and remaining
// item count (a single object's resourceVersion). obj is never modified.
func ConvertToTable(obj runtime.Object, opts Options) (*metav1.Table, error) {
	policy := opts.IncludeObject
	switch policy {
	case "":
		policy = metav1.IncludeMetadata
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
	default:
		return nil, fmt.Errorf("%w: %q", ErrInvalidIncludeObject, policy)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}

	items, itemType, err := splitList(obj)
	if err != nil {
		return nil, err
	}
	p, ok := registry[itemType]
	if !ok {
		p = defaultPrinter
	}

	table := &metav1.Table{
		TypeMeta: metav1.TypeMeta{APIVersion: tableGroupVersion.String(), Kind: "Table"},
		Rows:     make([]metav1.TableRow, 0, len(items)),
	}
	if !opts.NoHeaders {
		table.ColumnDefinitions = slices.Clone(p.columns)
	}
	t := now()
	for _, item := range items {
		row, err := p.row(item, t)
		if err != nil {
			return nil, fmt.Errorf("print %T: %w", item, err)
		}
		if row.Object, err = rowObject(item, policy); err != nil {
			return nil, err
		}
		table.Rows = append(table.Rows, row)
	}

	if l, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion = l.GetResourceVersion()
		table.Continue = l.GetContinue()
		table.RemainingItemCount = l.GetRemainingItemCount()
	} else if c, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = c.GetResourceVersion()
	}
	return table, nil
}

// splitList returns the objects to print one row each (obj itself, or the
// items of a list) and the Go type of an item, known even for an empty list
// so that its Table still has the kind's columns.
func splitList(obj runtime.Object) ([]runtime.Object, reflect.Type, error) {
	if !meta.IsListType(obj) {
		return []runtime.Object{obj}, reflect.TypeOf(obj), nil
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("list items of %T: %w", obj, err)
	}
	ptr, err := meta.GetItemsPtr(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("list items of %T: %w", obj, err)
	}
	itemType := reflect.TypeOf(ptr).Elem().Elem()
	if itemType.Kind() == reflect.Struct {
		itemType = reflect.PointerTo(itemType)
	}
	return items, itemType, nil
}

// rowObject is what a row carries for the IncludeObject policy, as
// kube-apiserver's asTable sets it.
func rowObject(obj runtime.Object, policy metav1.IncludeObjectPolicy) (runtime.RawExtension, error) {
	switch policy {
	case metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	case metav1.IncludeObject:
		gvks, _, err := apis.Scheme.ObjectKinds(obj)
		if err != nil {
			return runtime.RawExtension{}, fmt.Errorf("include object %T: %w", obj, err)
		}
		out := obj.DeepCopyObject()
		out.GetObjectKind().SetGroupVersionKind(gvks[0])
		return runtime.RawExtension{Object: out}, nil
	default:
		m, err := meta.Accessor(obj)
		if err != nil {
			return runtime.RawExtension{}, fmt.Errorf("include metadata of %T: %w", obj, err)
		}
		partial := meta.AsPartialObjectMetadata(m)
		partial.SetGroupVersionKind(tableGroupVersion.WithKind("PartialObjectMetadata"))
		return runtime.RawExtension{Object: partial}, nil
	}
}

// defaultPrinter is kube-apiserver's default table convertor, used for
// kinds without specific columns (LimitRange among the served ones).
var defaultPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Created At", Type: "date", Description: objectMetaDoc("creationTimestamp")},
	},
	row: func(obj runtime.Object, _ time.Time) (metav1.TableRow, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return metav1.TableRow{}, fmt.Errorf("%w: %w", ErrNoObjectMeta, err)
		}
		return metav1.TableRow{Cells: []any{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}}, nil
	},
}
