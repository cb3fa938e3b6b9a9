package controllerutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Claimer decides which objects belong to one owner, as Kubernetes'
// ControllerRefManager does: objects it controls that still match its
// selector are kept, ones that no longer match are released (their
// ownerReference removed), and orphans that match are adopted (given a
// controller ownerReference). Objects controlled by another owner are
// left alone.
type Claimer struct {
	Owner    metav1.Object
	Kind     schema.GroupVersionKind
	Selector labels.Selector
	// Fresh reads the owner from the API server; it is called once,
	// before the first adoption, so that an owner whose deletion the
	// cache has not shown yet adopts nothing.
	Fresh func(ctx context.Context) (metav1.Object, error)

	adoptErr error
	checked  bool
}

// Patcher applies a strategic merge patch to the named object.
type Patcher func(ctx context.Context, namespace, name string, patch []byte) error

// Claim returns the objects of objs that c's owner controls after
// adopting and releasing as needed. Cached objects are never modified:
// changes go to the API server through patch.
func Claim[T metav1.Object](ctx context.Context, c *Claimer, objs []T, patch Patcher) ([]T, error) {
	var claimed []T
	var errs []error
	for _, obj := range objs {
		ok, err := c.claim(ctx, obj, patch)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			claimed = append(claimed, obj)
		}
	}
	return claimed, errors.Join(errs...)
}

func (c *Claimer) claim(ctx context.Context, obj metav1.Object, patch Patcher) (bool, error) {
	match := c.Selector.Matches(labels.Set(obj.GetLabels()))
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		if ref.UID != c.Owner.GetUID() {
			return false, nil
		}
		if match {
			return true, nil
		}
		// An owner being deleted keeps what it has, so that the garbage
		// collector finds it.
		if c.Owner.GetDeletionTimestamp() != nil {
			return false, nil
		}
		err := patch(ctx, obj.GetNamespace(), obj.GetName(), releasePatch(c.Owner.GetUID(), obj.GetUID()))
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			return false, fmt.Errorf("release %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		return false, nil
	}
	if !match || c.Owner.GetDeletionTimestamp() != nil || obj.GetDeletionTimestamp() != nil ||
		obj.GetNamespace() != c.Owner.GetNamespace() {
		return false, nil
	}
	if err := c.canAdopt(ctx); err != nil {
		return false, err
	}
	ref := metav1.NewControllerRef(c.Owner, c.Kind)
	if err := patch(ctx, obj.GetNamespace(), obj.GetName(), adoptPatch(ref, obj.GetUID())); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("adopt %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return true, nil
}

func (c *Claimer) canAdopt(ctx context.Context) error {
	if c.checked {
		return c.adoptErr
	}
	c.checked = true
	if c.Fresh == nil {
		return nil
	}
	fresh, err := c.Fresh(ctx)
	switch {
	case err != nil:
		c.adoptErr = fmt.Errorf("recheck %s %s/%s before adopting: %w", c.Kind.Kind, c.Owner.GetNamespace(), c.Owner.GetName(), err)
	case fresh.GetUID() != c.Owner.GetUID():
		c.adoptErr = fmt.Errorf("%s %s/%s is gone: uid %s, want %s", c.Kind.Kind, c.Owner.GetNamespace(), c.Owner.GetName(), fresh.GetUID(), c.Owner.GetUID())
	case fresh.GetDeletionTimestamp() != nil:
		c.adoptErr = fmt.Errorf("%s %s/%s is being deleted", c.Kind.Kind, c.Owner.GetNamespace(), c.Owner.GetName())
	}
	return c.adoptErr
}

// adoptPatch adds ref to an object's ownerReferences; the uid makes the
// patch fail if the object was replaced by another of the same name.
func adoptPatch(ref *metav1.OwnerReference, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []*metav1.OwnerReference{ref},
		"uid":             uid,
	}})
	return b
}

// releasePatch removes the ownerReference to owner.
func releasePatch(owner, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": owner}},
		"uid":             uid,
	}})
	return b
}

// PodPatcher patches pods.
func PodPatcher(c kubernetes.Interface) Patcher {
	return func(ctx context.Context, ns, name string, patch []byte) error {
		_, err := c.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}
}

// ReplicaSetPatcher patches ReplicaSets.
func ReplicaSetPatcher(c kubernetes.Interface) Patcher {
	return func(ctx context.Context, ns, name string, patch []byte) error {
		_, err := c.AppsV1().ReplicaSets(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}
}

// RevisionPatcher patches ControllerRevisions.
func RevisionPatcher(c kubernetes.Interface) Patcher {
	return func(ctx context.Context, ns, name string, patch []byte) error {
		_, err := c.AppsV1().ControllerRevisions(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}
}
