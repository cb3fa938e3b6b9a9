package registry

import (
	"context"
	"reflect"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/controlplane/storage"
)

// Strategy holds the per-kind rules the generic store applies.
type Strategy interface {
	// Default fills in defaults on a create or update body.
	Default(obj runtime.Object)
	// PrepareForCreate clears what clients may not set on create and sets
	// what the server owns.
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	// PrepareForUpdate does the same on an update of the main resource,
	// given the stored object.
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	// PrepareForStatusUpdate keeps everything but status from old.
	PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object)
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	// AllowCreateOnUpdate lets a PUT create a missing object.
	AllowCreateOnUpdate() bool
	// AllowUnconditionalUpdate lets a PUT without resourceVersion win.
	AllowUnconditionalUpdate() bool
	// GetAttrs returns labels and selectable fields.
	GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error)
}

// GracefulDeleter is implemented by strategies whose objects are deleted
// gracefully (pods): it returns the grace period for a delete request.
type GracefulDeleter interface {
	GracePeriod(obj runtime.Object, opts *metav1.DeleteOptions) int64
}

// Finalizing is implemented by strategies whose objects carry finalizers
// outside metadata (namespaces' spec.finalizers).
type Finalizing interface {
	// PrepareForDelete marks obj as being deleted (a phase, say).
	PrepareForDelete(obj runtime.Object)
	// HasPendingFinalizers reports whether obj must stay until they clear.
	HasPendingFinalizers(obj runtime.Object) bool
}

// Claimer is implemented by strategies whose objects hold claim keys
// (allocated service IPs and node ports).
type Claimer interface {
	// Claims returns the keys to take and release when obj replaces old
	// (old is nil on create). It may fill allocated values into obj.
	Claims(ctx context.Context, obj, old runtime.Object) (*storage.Extras, error)
	// Releases returns the keys to free when obj is deleted.
	Releases(obj runtime.Object) []string
	// ClaimError explains a taken claim as an API error; requested is the
	// object as the client sent it. It returns nil when the taken value was
	// picked by the server rather than requested, and the write should be
	// retried with another pick.
	ClaimError(requested runtime.Object, err *storage.ClaimError) error
}

// TTLStrategy is implemented by strategies whose objects expire (events).
type TTLStrategy interface {
	TTL(obj runtime.Object) int64
}

// DefaultStrategy implements Strategy for kinds with no rules of their
// own beyond the common ones, and is embedded by those with more.
type DefaultStrategy struct {
	// Namespaced is whether objects live in namespaces.
	Namespaced bool
	// ResetStatusOnCreate clears status on create (workloads); nodes keep it.
	ResetStatusOnCreate bool
	// StatusSubresource makes updates of the main resource keep the stored
	// status.
	StatusSubresource bool
	// TrackGeneration sets metadata.generation to 1 on create and bumps it
	// when spec changes.
	TrackGeneration bool
	// CreateOnUpdate lets a PUT create the object.
	CreateOnUpdate bool
	// Defaulter fills defaults; nil means none.
	Defaulter func(obj runtime.Object)
	// Validator, UpdateValidator and StatusValidator check whole objects,
	// metadata included. Without them only the generic metadata rules
	// apply.
	Validator       func(obj runtime.Object) field.ErrorList
	UpdateValidator func(obj, old runtime.Object) field.ErrorList
	StatusValidator func(obj, old runtime.Object) field.ErrorList
	// Fields adds selectable fields beyond metadata.name and
	// metadata.namespace.
	Fields func(obj runtime.Object) fields.Set
}

var _ Strategy = &DefaultStrategy{}

// Default implements Strategy.
func (s *DefaultStrategy) Default(obj runtime.Object) {
	if s.Defaulter != nil {
		s.Defaulter(obj)
	}
}

// PrepareForCreate implements Strategy.
func (s *DefaultStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if s.ResetStatusOnCreate {
		if st := structField(obj, "Status"); st.IsValid() {
			st.Set(reflect.Zero(st.Type()))
		}
	}
	if s.TrackGeneration {
		m, _ := meta.Accessor(obj)
		m.SetGeneration(1)
	}
}

// PrepareForUpdate implements Strategy.
func (s *DefaultStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	if s.StatusSubresource {
		copyField(obj, old, "Status")
	}
	if s.TrackGeneration {
		m, _ := meta.Accessor(obj)
		om, _ := meta.Accessor(old)
		gen := om.GetGeneration()
		if !fieldsEqual(obj, old, "Spec") {
			gen++
		}
		m.SetGeneration(gen)
	}
}

// PrepareForStatusUpdate implements Strategy.
func (s *DefaultStrategy) PrepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	copyField(obj, old, "Spec")
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(old)
	// A status write changes no metadata a user owns.
	m.SetLabels(om.GetLabels())
	m.SetAnnotations(om.GetAnnotations())
	m.SetFinalizers(om.GetFinalizers())
	m.SetOwnerReferences(om.GetOwnerReferences())
	m.SetGeneration(om.GetGeneration())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
}

// Validate implements Strategy.
func (s *DefaultStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	if s.Validator != nil {
		return s.Validator(obj)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return apimachineryvalidation.ValidateObjectMetaAccessor(m, s.Namespaced, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// ValidateUpdate implements Strategy.
func (s *DefaultStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	if s.UpdateValidator != nil {
		return s.UpdateValidator(obj, old)
	}
	return validateMetaUpdate(obj, old)
}

// ValidateStatusUpdate implements Strategy.
func (s *DefaultStrategy) ValidateStatusUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	if s.StatusValidator != nil {
		return s.StatusValidator(obj, old)
	}
	return validateMetaUpdate(obj, old)
}

func validateMetaUpdate(obj, old runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	om, err := meta.Accessor(old)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return apimachineryvalidation.ValidateObjectMetaAccessorUpdate(m, om, field.NewPath("metadata"))
}

// AllowCreateOnUpdate implements Strategy.
func (s *DefaultStrategy) AllowCreateOnUpdate() bool { return s.CreateOnUpdate }

// AllowUnconditionalUpdate implements Strategy.
func (s *DefaultStrategy) AllowUnconditionalUpdate() bool { return true }

// GetAttrs implements Strategy.
func (s *DefaultStrategy) GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	f := fields.Set{"metadata.name": m.GetName()}
	if s.Namespaced {
		f["metadata.namespace"] = m.GetNamespace()
	}
	if s.Fields != nil {
		for k, v := range s.Fields(obj) {
			f[k] = v
		}
	}
	return m.GetLabels(), f, nil
}

// structField returns the named field of the struct obj points to, or an
// invalid Value.
func structField(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

func copyField(dst, src runtime.Object, name string) {
	d, s := structField(dst, name), structField(src, name)
	if d.IsValid() && s.IsValid() && d.CanSet() {
		d.Set(s)
	}
}

func fieldsEqual(a, b runtime.Object, name string) bool {
	fa, fb := structField(a, name), structField(b, name)
	if !fa.IsValid() || !fb.IsValid() {
		return true
	}
	return apiequality.Semantic.DeepEqual(fa.Interface(), fb.Interface())
}
