package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/skiff/controlplane/admission"
	"skiff.dev/skiff/controlplane/auth"
	"skiff.dev/skiff/controlplane/storage"
)

// Store serves one resource's REST verbs over the object store.
type Store struct {
	Resource *Resource
	storage  *storage.Store
	strategy Strategy
	// admission is the chain every write passes; nil admits everything.
	admission *admission.Chain
	// fieldManagers track managedFields per subresource ("" and "status").
	fieldManagers map[string]*managedfields.FieldManager
	now           func() time.Time
}

// NewStore returns the REST store of r over s.
func NewStore(r *Resource, s *storage.Store, chain *admission.Chain) *Store {
	return &Store{Resource: r, storage: s, strategy: r.Strategy, admission: chain, now: time.Now}
}

// SetFieldManager makes the store track managedFields for writes through
// subresource ("" for the main resource) and enables server-side apply.
func (s *Store) SetFieldManager(subresource string, fm *managedfields.FieldManager) {
	if s.fieldManagers == nil {
		s.fieldManagers = map[string]*managedfields.FieldManager{}
	}
	s.fieldManagers[subresource] = fm
}

// FieldManager returns the field manager of a subresource, or nil.
func (s *Store) FieldManager(subresource string) *managedfields.FieldManager {
	return s.fieldManagers[subresource]
}

// Storage returns the underlying object store.
func (s *Store) Storage() *storage.Store { return s.storage }

func (s *Store) key(ns, name string) string {
	if !s.Resource.Namespaced {
		ns = ""
	}
	return s.storage.Key(ns, name)
}

// Get returns the named object.
func (s *Store) Get(ctx context.Context, ns, name string) (runtime.Object, error) {
	obj := s.Resource.New()
	if err := s.storage.Get(ctx, s.key(ns, name), obj); err != nil {
		return nil, s.apiError(err, name)
	}
	return obj, nil
}

// ListOptions are the parsed list and watch query parameters.
type ListOptions struct {
	Label                labels.Selector
	Field                fields.Selector
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch
	Limit                int64
	Continue             string
	SendInitialEvents    *bool
	AllowWatchBookmarks  bool
}

func (s *Store) predicate(o ListOptions) storage.Predicate {
	return storage.Predicate{Label: o.Label, Field: o.Field, GetAttrs: s.strategy.GetAttrs}
}

// listPrefix narrows the key range to one object when the field selector
// names it and the namespace is known.
func (s *Store) listPrefix(ns string, p storage.Predicate) string {
	if name, ok := p.MatchesSingle(); ok && (ns != "" || !s.Resource.Namespaced) {
		return s.key(ns, name)
	}
	if !s.Resource.Namespaced {
		ns = ""
	}
	return s.storage.NamespacePrefix(ns)
}

// List returns the matching objects of a namespace (all namespaces when ns
// is empty).
func (s *Store) List(ctx context.Context, ns string, o ListOptions) (runtime.Object, error) {
	p := s.predicate(o)
	list := s.Resource.NewList()
	err := s.storage.List(ctx, s.listPrefix(ns, p), storage.ListOptions{
		ResourceVersion: o.ResourceVersion, Match: o.ResourceVersionMatch,
		Limit: o.Limit, Continue: o.Continue, Predicate: p,
	}, list)
	if err != nil {
		return nil, s.apiError(err, "")
	}
	return list, nil
}

// Watch streams changes to the matching objects.
func (s *Store) Watch(ctx context.Context, ns string, o ListOptions) (watch.Interface, error) {
	p := s.predicate(o)
	w, err := s.storage.Watch(ctx, s.listPrefix(ns, p), storage.WatchOptions{
		ResourceVersion: o.ResourceVersion, SendInitialEvents: o.SendInitialEvents,
		AllowBookmarks: o.AllowWatchBookmarks, Predicate: p,
	})
	if err != nil {
		return nil, s.apiError(err, "")
	}
	return w, nil
}

// WriteOptions are the options common to writes.
type WriteOptions struct {
	DryRun bool
	// FieldManager names the writer in managedFields.
	FieldManager string
	User         *auth.User
}

// Create stores a new object in namespace ns.
func (s *Store) Create(ctx context.Context, ns string, obj runtime.Object, o WriteOptions) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if err := s.checkNamespace(m, ns); err != nil {
		return nil, err
	}
	generated := m.GetName() == "" && m.GetGenerateName() != ""
	for attempt := 0; ; attempt++ {
		if generated {
			m.SetName(m.GetGenerateName() + utilrand.String(5))
		}
		out, err := s.create(ctx, obj, o)
		if generated && apierrors.IsAlreadyExists(err) && attempt < 8 {
			continue
		}
		return out, err
	}
}

func (s *Store) checkNamespace(m metav1.Object, ns string) error {
	if !s.Resource.Namespaced {
		m.SetNamespace("")
		return nil
	}
	switch {
	case m.GetNamespace() == "":
		m.SetNamespace(ns)
	case ns != "" && m.GetNamespace() != ns:
		return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the provided object (%s) does not match the namespace sent on the request (%s)", m.GetNamespace(), ns))
	}
	return nil
}

func (s *Store) create(ctx context.Context, obj runtime.Object, o WriteOptions) (runtime.Object, error) {
	obj, err := s.prepareCreate(ctx, obj, o, true)
	if err != nil {
		return nil, err
	}
	m, _ := meta.Accessor(obj)
	key := s.key(m.GetNamespace(), m.GetName())
	for attempt := 0; ; attempt++ {
		// Claims fill allocated values in, so each attempt starts afresh.
		toStore := obj
		if _, ok := s.strategy.(Claimer); ok {
			toStore = obj.DeepCopyObject()
		}
		extras, err := s.claims(ctx, toStore, nil)
		if err != nil {
			return nil, err
		}
		if t, ok := s.strategy.(TTLStrategy); ok {
			if extras == nil {
				extras = &storage.Extras{}
			}
			extras.TTL = t.TTL(toStore)
		}
		if o.DryRun {
			return toStore, nil
		}
		// toStore is ours: the store fills in its resourceVersion instead of
		// decoding what it wrote into a new object.
		err = s.storage.Create(ctx, key, toStore, toStore, extras)
		if err == nil {
			return toStore, nil
		}
		if s.retryClaim(err, obj) && attempt < maxClaimRetries {
			continue
		}
		return nil, s.writeError(err, obj, m.GetName())
	}
}

// maxClaimRetries bounds the retries of a write whose server-picked value
// (an IP, a port) was taken by a concurrent write.
const maxClaimRetries = 16

// retryClaim reports whether err is a taken claim on a value the server
// picked, so that the write can be retried with another.
func (s *Store) retryClaim(err error, requested runtime.Object) bool {
	var claim *storage.ClaimError
	c, ok := s.strategy.(Claimer)
	return ok && errors.As(err, &claim) && c.ClaimError(requested, claim) == nil
}

// prepareCreate sets the server-owned metadata of a new object, applies the
// strategy, records field ownership (unless an apply already did), admits
// and validates it.
func (s *Store) prepareCreate(ctx context.Context, obj runtime.Object, o WriteOptions, manageFields bool) (runtime.Object, error) {
	m, _ := meta.Accessor(obj)
	s.strategy.Default(obj)
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.NewTime(s.now().Truncate(time.Second)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetResourceVersion("")
	m.SetGeneration(0)
	s.strategy.PrepareForCreate(ctx, obj)
	if fm := s.fieldManagers[""]; fm != nil && manageFields {
		obj = fm.UpdateNoErrors(s.Resource.New(), obj, o.FieldManager)
		m, _ = meta.Accessor(obj)
	}
	attrs := s.attributes(admission.Create, "", obj, nil, o)
	if err := s.admission.Admit(ctx, attrs); err != nil {
		return nil, err
	}
	if errs := s.strategy.Validate(ctx, obj); len(errs) > 0 {
		return nil, apierrors.NewInvalid(s.Resource.GroupVersionKind().GroupKind(), m.GetName(), errs)
	}
	if err := s.admission.Validate(ctx, attrs); err != nil {
		return nil, err
	}
	return obj, nil
}

func (s *Store) claims(ctx context.Context, obj, old runtime.Object) (*storage.Extras, error) {
	if c, ok := s.strategy.(Claimer); ok {
		return c.Claims(ctx, obj, old)
	}
	return nil, nil
}

func (s *Store) attributes(op admission.Operation, sub string, obj, old runtime.Object, o WriteOptions) *admission.Attributes {
	a := &admission.Attributes{
		Operation: op, Resource: s.Resource.GroupVersionResource(), Kind: s.Resource.GroupVersionKind(),
		Subresource: sub, Object: obj, OldObject: old, User: o.User, DryRun: o.DryRun,
	}
	for _, x := range []runtime.Object{obj, old} {
		if x == nil {
			continue
		}
		if m, err := meta.Accessor(x); err == nil {
			a.Namespace, a.Name = m.GetNamespace(), m.GetName()
			break
		}
	}
	return a
}

// UpdateFunc computes the object to store from the current one, which is
// nil when the object does not exist yet.
type UpdateFunc func(ctx context.Context, current runtime.Object) (runtime.Object, error)

// UpdateOptions are the options of an update.
type UpdateOptions struct {
	WriteOptions
	// Subresource is "" for the main resource or "status".
	Subresource string
	// ForceAllowCreate lets this update create a missing object (apply).
	ForceAllowCreate bool
	// SkipFieldManager says the update function already recorded field
	// ownership (server-side apply does).
	SkipFieldManager bool
}

// Update replaces the named object with what update computes from the
// stored one, retrying on concurrent writes. It reports whether the object
// was created.
func (s *Store) Update(ctx context.Context, ns, name string, update UpdateFunc, o UpdateOptions) (runtime.Object, bool, error) {
	for attempt := 0; ; attempt++ {
		out, created, requested, err := s.update(ctx, ns, name, update, o)
		if err != nil && s.retryClaim(err, requested) && attempt < maxClaimRetries {
			continue
		}
		if err != nil {
			return nil, false, s.writeError(err, requested, name)
		}
		return out, created, nil
	}
}

// update is one attempt of Update; it also returns the object to store as
// computed before claims were filled in.
func (s *Store) update(ctx context.Context, ns, name string, update UpdateFunc, o UpdateOptions) (runtime.Object, bool, runtime.Object, error) {
	key := s.key(ns, name)
	var requested runtime.Object
	allowCreate := o.Subresource == "" && (o.ForceAllowCreate || s.strategy.AllowCreateOnUpdate())
	var created bool
	var result runtime.Object
	out := s.Resource.New()
	err := s.storage.GuaranteedUpdate(ctx, key, out, allowCreate, nil, func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
		cm, _ := meta.Accessor(cur)
		exists := cm.GetResourceVersion() != ""
		var current runtime.Object
		if exists {
			current = cur
		}
		obj, err := update(ctx, current)
		if err != nil {
			return nil, nil, err
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
		if err := s.checkNamespace(m, ns); err != nil {
			return nil, nil, err
		}
		if m.GetName() != name {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
		}
		if !exists {
			created = true
			result, err = s.prepareCreate(ctx, obj, o.WriteOptions, !o.SkipFieldManager)
			if err != nil {
				return nil, nil, err
			}
			requested = result.DeepCopyObject()
			extras, err := s.claims(ctx, result, nil)
			if err != nil {
				return nil, nil, err
			}
			if o.DryRun {
				return nil, nil, errDryRun
			}
			return result, extras, nil
		}
		created = false
		result, err = s.prepareUpdate(ctx, obj, cur, o)
		if err != nil {
			return nil, nil, err
		}
		requested = result.DeepCopyObject()
		extras, err := s.claims(ctx, result, cur)
		if err != nil {
			return nil, nil, err
		}
		if s.readyToDelete(result) {
			if extras == nil {
				extras = &storage.Extras{}
			}
			extras.Delete = true
			if c, ok := s.strategy.(Claimer); ok {
				extras.Releases = append(extras.Releases, c.Releases(cur)...)
			}
		}
		if o.DryRun {
			return nil, nil, errDryRun
		}
		return result, extras, nil
	})
	if errors.Is(err, errDryRun) {
		return result, created, requested, nil
	}
	if err != nil {
		return nil, false, requested, err
	}
	return out, created, requested, nil
}

// errDryRun stops a dry-run update just before its write.
var errDryRun = errors.New("dry run")

func (s *Store) prepareUpdate(ctx context.Context, obj, old runtime.Object, o UpdateOptions) (runtime.Object, error) {
	ctx = context.WithValue(ctx, subresourceKey{}, o.Subresource)
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(old)
	gk := s.Resource.GroupVersionKind().GroupKind()
	switch rv := m.GetResourceVersion(); {
	case rv == "" && !s.strategy.AllowUnconditionalUpdate():
		return nil, apierrors.NewInvalid(gk, m.GetName(), field.ErrorList{field.Required(field.NewPath("metadata", "resourceVersion"), "must be specified for an update")})
	case rv != "" && rv != om.GetResourceVersion():
		return nil, apierrors.NewConflict(s.Resource.GroupResource(), m.GetName(),
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	s.strategy.Default(obj)
	// Server-owned metadata always comes from the stored object.
	if m.GetUID() == "" {
		m.SetUID(om.GetUID())
	}
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetResourceVersion(om.GetResourceVersion())
	if o.Subresource == "status" {
		s.strategy.PrepareForStatusUpdate(ctx, obj, old)
	} else {
		m.SetGeneration(om.GetGeneration())
		s.strategy.PrepareForUpdate(ctx, obj, old)
	}
	if fm := s.fieldManagers[o.Subresource]; fm != nil && !o.SkipFieldManager {
		obj = fm.UpdateNoErrors(old, obj, o.FieldManager)
		m, _ = meta.Accessor(obj)
	}
	attrs := s.attributes(admission.Update, o.Subresource, obj, old, o.WriteOptions)
	if err := s.admission.Admit(ctx, attrs); err != nil {
		return nil, err
	}
	var errs = s.strategy.ValidateUpdate(ctx, obj, old)
	if o.Subresource == "status" {
		errs = s.strategy.ValidateStatusUpdate(ctx, obj, old)
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(gk, m.GetName(), errs)
	}
	if err := s.admission.Validate(ctx, attrs); err != nil {
		return nil, err
	}
	return obj, nil
}

// readyToDelete reports whether an object being deleted has nothing left
// holding it: no finalizers and no grace period still running.
func (s *Store) readyToDelete(obj runtime.Object) bool {
	m, _ := meta.Accessor(obj)
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	if f, ok := s.strategy.(Finalizing); ok && f.HasPendingFinalizers(obj) {
		return false
	}
	g := m.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}

// Mutate applies fn to the stored object under the metadata rules of an
// update but without the strategy (bindings use it to set spec.nodeName).
func (s *Store) Mutate(ctx context.Context, ns, name string, pre *storage.Preconditions, fn func(obj runtime.Object) error) (runtime.Object, error) {
	out := s.Resource.New()
	err := s.storage.GuaranteedUpdate(ctx, s.key(ns, name), out, false, pre, func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
		obj := cur.DeepCopyObject()
		if err := fn(obj); err != nil {
			return nil, nil, err
		}
		return obj, nil, nil
	})
	if err != nil {
		return nil, s.writeError(err, nil, name)
	}
	return out, nil
}

// Preconditions converts API delete preconditions for the store.
func Preconditions(p *metav1.Preconditions) *storage.Preconditions {
	if p == nil {
		return nil
	}
	return &storage.Preconditions{UID: p.UID, ResourceVersion: p.ResourceVersion}
}

// UIDPrecondition returns preconditions requiring uid.
func UIDPrecondition(uid types.UID) *storage.Preconditions {
	return &storage.Preconditions{UID: &uid}
}

type subresourceKey struct{}

// SubresourceFrom returns the subresource an update goes through ("" for
// the main resource), for strategies with subresource-specific rules.
func SubresourceFrom(ctx context.Context) string {
	s, _ := ctx.Value(subresourceKey{}).(string)
	return s
}
