package registry

import (
	"context"
	"errors"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/admission"
	"skiff.dev/skiff/controlplane/storage"
)

// DeleteOptions are the options of a delete.
type DeleteOptions struct {
	WriteOptions
	Options *metav1.DeleteOptions
}

// Delete deletes the named object, or starts its deletion when finalizers
// or a grace period hold it. It returns the object and whether it is gone.
func (s *Store) Delete(ctx context.Context, ns, name string, o DeleteOptions) (runtime.Object, bool, error) {
	opts := o.Options
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	var gone bool
	var result runtime.Object
	out := s.Resource.New()
	err := s.storage.GuaranteedUpdate(ctx, s.key(ns, name), out, false, Preconditions(opts.Preconditions), func(cur runtime.Object) (runtime.Object, *storage.Extras, error) {
		if err := s.admission.Validate(ctx, s.attributes(admission.Delete, "", nil, cur, o.WriteOptions)); err != nil {
			return nil, nil, err
		}
		obj := cur.DeepCopyObject()
		pending := s.markDeleting(obj, opts)
		result = obj
		if o.DryRun {
			gone = !pending
			return nil, nil, errDryRun
		}
		if pending {
			gone = false
			return obj, nil, nil
		}
		gone = true
		extras := &storage.Extras{Delete: true}
		if c, ok := s.strategy.(Claimer); ok {
			extras.Releases = c.Releases(cur)
		}
		return obj, extras, nil
	})
	switch {
	case errors.Is(err, errDryRun):
		return result, gone, nil
	case err != nil:
		return nil, false, s.writeError(err, nil, name)
	}
	return out, gone, nil
}

// markDeleting records a delete request on obj: finalizers from the
// propagation policy, the deletion timestamp and grace period. It reports
// whether the object must stay (finalizers or grace period pending).
func (s *Store) markDeleting(obj runtime.Object, opts *metav1.DeleteOptions) bool {
	m, _ := meta.Accessor(obj)
	finalizers := m.GetFinalizers()
	policy := opts.PropagationPolicy
	if policy == nil && opts.OrphanDependents != nil {
		p := metav1.DeletePropagationBackground
		if *opts.OrphanDependents {
			p = metav1.DeletePropagationOrphan
		}
		policy = &p
	}
	if policy != nil && m.GetDeletionTimestamp() == nil {
		finalizers = slices.DeleteFunc(slices.Clone(finalizers), func(f string) bool {
			return f == metav1.FinalizerOrphanDependents || f == metav1.FinalizerDeleteDependents
		})
		switch *policy {
		case metav1.DeletePropagationOrphan:
			finalizers = append(finalizers, metav1.FinalizerOrphanDependents)
		case metav1.DeletePropagationForeground:
			finalizers = append(finalizers, metav1.FinalizerDeleteDependents)
		}
		m.SetFinalizers(finalizers)
	}
	var grace int64
	if g, ok := s.strategy.(GracefulDeleter); ok {
		grace = g.GracePeriod(obj, opts)
	}
	f, finalizing := s.strategy.(Finalizing)
	if finalizing {
		f.PrepareForDelete(obj)
	}
	hold := len(finalizers) > 0 || (finalizing && f.HasPendingFinalizers(obj))
	now := s.now()
	if ts := m.GetDeletionTimestamp(); ts != nil {
		// Already deleting: a shorter grace period may bring it forward.
		if cur := m.GetDeletionGracePeriodSeconds(); cur != nil && grace < *cur {
			due := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
			if due.Before(ts) {
				m.SetDeletionTimestamp(&due)
			}
			m.SetDeletionGracePeriodSeconds(&grace)
		}
		g := m.GetDeletionGracePeriodSeconds()
		return hold || (g != nil && *g > 0)
	}
	if !hold && grace == 0 {
		return false
	}
	due := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
	m.SetDeletionTimestamp(&due)
	m.SetDeletionGracePeriodSeconds(&grace)
	if gen := m.GetGeneration(); gen > 0 {
		m.SetGeneration(gen + 1)
	}
	return true
}

// DeleteCollection deletes every matching object in namespace ns and
// returns those it deleted or started deleting.
func (s *Store) DeleteCollection(ctx context.Context, ns string, lo ListOptions, o DeleteOptions) (runtime.Object, error) {
	listObj, err := s.List(ctx, ns, lo)
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(listObj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var deleted []runtime.Object
	for _, item := range items {
		m, _ := meta.Accessor(item)
		obj, _, err := s.Delete(ctx, m.GetNamespace(), m.GetName(), o)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		deleted = append(deleted, obj)
	}
	out := s.Resource.NewList()
	if err := meta.SetList(out, deleted); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return out, nil
}
