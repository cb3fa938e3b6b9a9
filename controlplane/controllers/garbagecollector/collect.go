package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/retry"
)

// client reaches the metadata of the object id names.
func (gc *Controller) client(id identity) (metadata.ResourceInterface, error) {
	r, ok := gc.mapper.forRef(id.APIVersion, id.Kind)
	if !ok {
		return nil, fmt.Errorf("no served resource for %s %s", id.APIVersion, id.Kind)
	}
	if !r.namespaced {
		return gc.cfg.Metadata.Resource(r.gvr), nil
	}
	return gc.cfg.Metadata.Resource(r.gvr).Namespace(id.Namespace), nil
}

// getLive reads the metadata of the object id names from the apiserver;
// nil when it is gone or was replaced by another with the same name.
func (gc *Controller) getLive(ctx context.Context, id identity) (*metav1.PartialObjectMetadata, error) {
	c, err := gc.client(id)
	if err != nil {
		return nil, err
	}
	obj, err := c.Get(ctx, id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", id.Kind, id.Namespace, id.Name, err)
	}
	if obj.UID != id.UID {
		return nil, nil
	}
	return obj, nil
}

// attemptToDelete deletes the object with uid if all its owners are gone
// or wait for their dependents' deletion, and finishes the foreground
// deletion of an owner whose blocking dependents are gone.
func (gc *Controller) attemptToDelete(ctx context.Context, uid types.UID) error {
	n, ok := gc.graph.get(uid)
	if !ok || !n.observed {
		return nil
	}
	latest, err := gc.getLive(ctx, n.id)
	if err != nil || latest == nil {
		return err
	}
	finalizers := latest.GetFinalizers()
	if latest.GetDeletionTimestamp() != nil {
		if slices.Contains(finalizers, metav1.FinalizerDeleteDependents) {
			return gc.finishForeground(ctx, n)
		}
		return nil
	}
	owners := latest.GetOwnerReferences()
	if len(owners) == 0 {
		return nil
	}
	var solid, gone []types.UID
	waiting := false
	for _, ref := range owners {
		state, err := gc.ownerState(ctx, latest.GetNamespace(), ref)
		if err != nil {
			return err
		}
		switch state {
		case ownerSolid:
			solid = append(solid, ref.UID)
		case ownerWaiting:
			waiting = true
			gone = append(gone, ref.UID)
		case ownerAbsent:
			gone = append(gone, ref.UID)
		}
	}
	switch {
	case len(solid) > 0:
		// Another owner keeps the object: drop only the references to
		// owners that are gone or deleting their dependents.
		if len(gone) == 0 {
			return nil
		}
		return gc.removeOwnerRefs(ctx, n.id, gone)
	case waiting && len(n.dependents) > 0:
		// An owner waits for this object, which has dependents of its
		// own: delete it in the foreground too.
		return gc.deleteObject(ctx, n.id, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case slices.Contains(finalizers, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case slices.Contains(finalizers, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return gc.deleteObject(ctx, n.id, policy)
	}
}

type ownerStatus int

const (
	ownerSolid ownerStatus = iota
	ownerWaiting
	ownerAbsent
)

// ownerState tells whether the owner ref names exists, and whether it is
// being deleted in the foreground. The graph answers for owners it has
// seen; others are looked up, so that a cache behind never condemns a
// dependent.
func (gc *Controller) ownerState(ctx context.Context, ns string, ref metav1.OwnerReference) (ownerStatus, error) {
	if o, ok := gc.graph.get(ref.UID); ok && o.observed {
		if o.deletingDependents {
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	}
	r, ok := gc.mapper.forRef(ref.APIVersion, ref.Kind)
	if !ok {
		// A kind not served here cannot be checked: keep the dependent.
		gc.log.Info("owner of unknown kind, dependent kept", "apiVersion", ref.APIVersion, "kind", ref.Kind, "owner", ref.Name)
		return ownerSolid, nil
	}
	if !r.namespaced {
		ns = ""
	}
	owner, err := gc.getLive(ctx, identity{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ns, Name: ref.Name, UID: ref.UID})
	switch {
	case err != nil:
		return ownerSolid, err
	case owner == nil:
		return ownerAbsent, nil
	case owner.GetDeletionTimestamp() != nil && slices.Contains(owner.GetFinalizers(), metav1.FinalizerDeleteDependents):
		return ownerWaiting, nil
	default:
		return ownerSolid, nil
	}
}

// finishForeground removes the foregroundDeletion finalizer of an owner
// whose blocking dependents are all gone, and otherwise makes sure they
// are being deleted.
func (gc *Controller) finishForeground(ctx context.Context, owner nodeState) error {
	if len(owner.blockingDependents) == 0 {
		return gc.removeFinalizer(ctx, owner.id, metav1.FinalizerDeleteDependents)
	}
	for _, d := range owner.blockingDependents {
		if dn, ok := gc.graph.get(d.UID); ok && !dn.deleting {
			gc.deleteQ.Add(d.UID)
		}
	}
	return nil
}

// attemptToOrphan removes the references to an owner deleted with the
// orphan policy from its dependents, then its orphan finalizer.
func (gc *Controller) attemptToOrphan(ctx context.Context, uid types.UID) error {
	n, ok := gc.graph.get(uid)
	if !ok || !n.observed || !n.orphaning {
		return nil
	}
	for _, d := range n.dependents {
		if err := gc.removeOwnerRefs(ctx, d, []types.UID{uid}); err != nil {
			return err
		}
	}
	return gc.removeFinalizer(ctx, n.id, metav1.FinalizerOrphanDependents)
}

// deleteObject deletes the object id names, if it is still that object.
func (gc *Controller) deleteObject(ctx context.Context, id identity, policy metav1.DeletionPropagation) error {
	c, err := gc.client(id)
	if err != nil {
		return err
	}
	uid := id.UID
	err = c.Delete(ctx, id.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid},
		PropagationPolicy: &policy,
	})
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		if err == nil {
			gc.log.Debug("deleted garbage", "kind", id.Kind, "namespace", id.Namespace, "name", id.Name, "policy", policy)
		}
		return nil
	}
	return fmt.Errorf("delete %s %s/%s: %w", id.Kind, id.Namespace, id.Name, err)
}

// removeOwnerRefs drops the references to owners from the object id names.
func (gc *Controller) removeOwnerRefs(ctx context.Context, id identity, owners []types.UID) error {
	return gc.update(ctx, id, func(m *metav1.ObjectMeta) bool {
		kept := slices.DeleteFunc(slices.Clone(m.OwnerReferences), func(r metav1.OwnerReference) bool { return slices.Contains(owners, r.UID) })
		if len(kept) == len(m.OwnerReferences) {
			return false
		}
		m.OwnerReferences = kept
		return true
	})
}

// removeFinalizer drops finalizer from the object id names.
func (gc *Controller) removeFinalizer(ctx context.Context, id identity, finalizer string) error {
	return gc.update(ctx, id, func(m *metav1.ObjectMeta) bool {
		kept := slices.DeleteFunc(slices.Clone(m.Finalizers), func(f string) bool { return f == finalizer })
		if len(kept) == len(m.Finalizers) {
			return false
		}
		m.Finalizers = kept
		return true
	})
}

// metadataPatch is a JSON merge patch of the owner references and
// finalizers of the object with uid at resourceVersion: a conflict if the
// object changed since it was read.
type metadataPatch struct {
	Metadata struct {
		UID             types.UID               `json:"uid"`
		ResourceVersion string                  `json:"resourceVersion"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
		Finalizers      []string                `json:"finalizers"`
	} `json:"metadata"`
}

// update applies change to the metadata of the live object id names,
// retrying on conflicts; change reports whether it changed anything.
func (gc *Controller) update(ctx context.Context, id identity, change func(*metav1.ObjectMeta) bool) error {
	c, err := gc.client(id)
	if err != nil {
		return err
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := gc.getLive(ctx, id)
		if err != nil || obj == nil || !change(&obj.ObjectMeta) {
			return err
		}
		var p metadataPatch
		p.Metadata.UID, p.Metadata.ResourceVersion = obj.UID, obj.ResourceVersion
		p.Metadata.OwnerReferences, p.Metadata.Finalizers = obj.OwnerReferences, obj.Finalizers
		data, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("metadata patch: %w", err)
		}
		_, err = c.Patch(ctx, id.Name, types.MergePatchType, data, metav1.PatchOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update %s %s/%s: %w", id.Kind, id.Namespace, id.Name, err)
	}
	return nil
}
