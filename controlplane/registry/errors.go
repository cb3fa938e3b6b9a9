package registry

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/storage"
)

// apiError maps a storage error on a read to a Kubernetes API error.
func (s *Store) apiError(err error, name string) error {
	var st apierrors.APIStatus
	switch {
	case errors.As(err, &st):
		return err
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(s.Resource.GroupResource(), name)
	case errors.Is(err, storage.ErrExpired):
		return apierrors.NewResourceExpired(fmt.Sprintf("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. (%v)", err))
	case errors.Is(err, storage.ErrInvalidContinue):
		return apierrors.NewBadRequest(fmt.Sprintf("invalid continue parameter: %v", err))
	case errors.Is(err, storage.ErrFutureRevision):
		return apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %v", err), 1)
	case errors.Is(err, storage.ErrTooLarge):
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", 3*1024*1024/2))
	}
	return apierrors.NewInternalError(err)
}

// writeError maps a storage error on a write to a Kubernetes API error.
func (s *Store) writeError(err error, obj runtime.Object, name string) error {
	var claim *storage.ClaimError
	switch {
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(s.Resource.GroupResource(), name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(s.Resource.GroupResource(), name, err)
	case errors.As(err, &claim):
		if c, ok := s.strategy.(Claimer); ok && obj != nil {
			return c.ClaimError(obj, claim)
		}
		return apierrors.NewConflict(s.Resource.GroupResource(), name, err)
	}
	return s.apiError(err, name)
}
