package controllerutil

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// Owners finds owners of one kind (DaemonSets, Deployments, ...) in the
// informer cache, for the objects they own (pods, ReplicaSets).
type Owners[O metav1.Object] struct {
	// Kind is the owners' kind, as ownerReferences name it.
	Kind string
	// Get returns the cached owner namespace/name.
	Get func(namespace, name string) (O, error)
	// List returns the cached owners of a namespace.
	List func(namespace string) ([]O, error)
	// Selector returns an owner's label selector.
	Selector func(O) *metav1.LabelSelector
}

// NamespaceLister lists and gets the cached objects of one namespace, as
// the typed listers of client-go do.
type NamespaceLister[O any] interface {
	Get(name string) (O, error)
	List(selector labels.Selector) ([]O, error)
}

// OwnersFromLister returns the Owners of kind that a typed lister holds,
// given by its namespace method (appslisters.DaemonSetLister.DaemonSets,
// for example), whose label selector selector returns.
func OwnersFromLister[O metav1.Object, L NamespaceLister[O]](kind string, namespace func(string) L, selector func(O) *metav1.LabelSelector) Owners[O] {
	return Owners[O]{
		Kind:     kind,
		Get:      func(ns, name string) (O, error) { return namespace(ns).Get(name) },
		List:     func(ns string) ([]O, error) { return namespace(ns).List(labels.Everything()) },
		Selector: selector,
	}
}

// Of returns the owner ref names: one of Kind, cached, with ref's UID.
func (o Owners[O]) Of(namespace string, ref *metav1.OwnerReference) (O, bool) {
	var none O
	if ref == nil || ref.Kind != o.Kind {
		return none, false
	}
	owner, err := o.Get(namespace, ref.Name)
	if err != nil || owner.GetUID() != ref.UID {
		return none, false
	}
	return owner, true
}

// Matching returns the owners of namespace whose selector (valid, not
// empty) matches set: those that may adopt an orphan labelled set.
func (o Owners[O]) Matching(namespace string, set map[string]string) []O {
	all, err := o.List(namespace)
	if err != nil {
		return nil
	}
	var out []O
	for _, owner := range all {
		sel, err := metav1.LabelSelectorAsSelector(o.Selector(owner))
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(set)) {
			out = append(out, owner)
		}
	}
	return out
}

// OwnedHandler returns the event handlers of the objects (pods,
// ReplicaSets) whose controllers owners finds, as Kubernetes' workload
// controllers have them: an object queues its controller when it is
// added, changed or deleted, and its old controller too when that
// changes; an orphan queues the owners whose selector matches it, so that
// one adopts it, when it is added or its labels change. An object whose
// deletion has started counts as deleted. When expect is not nil, an
// added object is a creation observed for its controller, and a deleted
// one a deletion observed.
func OwnedHandler[O metav1.Object](q Queue, owners Owners[O], expect *Expectations) cache.ResourceEventHandlerFuncs {
	h := ownedHandler[O]{q: q, owners: owners, expect: expect}
	return cache.ResourceEventHandlerFuncs{AddFunc: h.added, UpdateFunc: h.updated, DeleteFunc: h.deleted}
}

type ownedHandler[O metav1.Object] struct {
	q      Queue
	owners Owners[O]
	expect *Expectations
}

func (h ownedHandler[O]) added(obj any) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	if m.GetDeletionTimestamp() != nil {
		// A restarted controller may first see an object already being
		// deleted.
		h.deleted(m)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		if owner, ok := h.owners.Of(m.GetNamespace(), ref); ok {
			key := Key(owner)
			if h.expect != nil {
				h.expect.CreationObserved(key)
			}
			h.q.Add(key)
		}
		return
	}
	h.enqueueMatching(m)
}

func (h ownedHandler[O]) updated(oldObj, newObj any) {
	old, cur := oldObj.(metav1.Object), newObj.(metav1.Object)
	if old.GetResourceVersion() == cur.GetResourceVersion() {
		return
	}
	labelsChanged := !reflect.DeepEqual(old.GetLabels(), cur.GetLabels())
	if cur.GetDeletionTimestamp() != nil {
		// Graceful deletion started: it counts as the deletion expected.
		h.deleted(cur)
		if labelsChanged {
			h.deleted(old)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(cur), metav1.GetControllerOfNoCopy(old)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if owner, ok := h.owners.Of(old.GetNamespace(), oldRef); ok {
			Enqueue(h.q, owner)
		}
	}
	if curRef != nil {
		if owner, ok := h.owners.Of(cur.GetNamespace(), curRef); ok {
			Enqueue(h.q, owner)
		}
		return
	}
	if labelsChanged || refChanged {
		h.enqueueMatching(cur)
	}
}

func (h ownedHandler[O]) deleted(obj any) {
	m, ok := Unwrap[metav1.Object](obj)
	if !ok {
		return
	}
	owner, ok := h.owners.Of(m.GetNamespace(), metav1.GetControllerOfNoCopy(m))
	if !ok {
		return
	}
	key := Key(owner)
	if h.expect != nil {
		h.expect.DeletionObserved(key, m.GetNamespace()+"/"+m.GetName())
	}
	h.q.Add(key)
}

func (h ownedHandler[O]) enqueueMatching(m metav1.Object) {
	for _, owner := range h.owners.Matching(m.GetNamespace(), m.GetLabels()) {
		Enqueue(h.q, owner)
	}
}
