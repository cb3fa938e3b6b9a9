package storage

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by Store. The registry maps them onto Kubernetes
// API status codes.
var (
	// ErrNotFound means the key does not exist.
	ErrNotFound = errors.New("storage: key not found")
	// ErrExists means a create found the key already present.
	ErrExists = errors.New("storage: key exists")
	// ErrConflict means a precondition (uid or resourceVersion) failed.
	ErrConflict = errors.New("storage: precondition failed")
	// ErrExpired means the requested revision has been compacted away.
	ErrExpired = errors.New("storage: revision compacted")
	// ErrTooLarge means the request exceeds the store's size limit.
	ErrTooLarge = errors.New("storage: request too large")
	// ErrFutureRevision means the requested revision is newer than the store's.
	ErrFutureRevision = errors.New("storage: revision is in the future")
	// ErrInvalidContinue means a continue token could not be decoded.
	ErrInvalidContinue = errors.New("storage: invalid continue token")
)

// ClaimError reports that a write could not take a claim key (an allocated
// IP address or port, say) because another object holds it.
type ClaimError struct {
	Key string
}

func (e *ClaimError) Error() string { return fmt.Sprintf("storage: claim %q is taken", e.Key) }

// PreconditionError explains which precondition failed; it matches ErrConflict.
type PreconditionError struct {
	Key, Field, Want, Got string
}

func (e *PreconditionError) Error() string {
	return fmt.Sprintf("storage: precondition failed for %s: %s is %q, want %q", e.Key, e.Field, e.Got, e.Want)
}

// Is makes errors.Is(err, ErrConflict) true for precondition failures.
func (e *PreconditionError) Is(target error) bool { return target == ErrConflict }
