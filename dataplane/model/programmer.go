package model

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
)

// Programmer is a dataplane back end: it makes the kernel carry the
// desired services. The eBPF and the iptables back ends implement it.
type Programmer interface {
	// Replace makes the programmed state exactly these services, writing
	// only what differs from what is already programmed.
	Replace(ctx context.Context, services []Service) error
	// Update applies a batch of changes in one sync: each service in
	// upsert replaces what was programmed for it, the services named in
	// remove go away, the rest stay as they are.
	Update(ctx context.Context, upsert []Service, remove []types.NamespacedName) error
}

// ServiceError is the failure of one service within a sync (a full map,
// a frontend another service holds); the sync's other services may have
// been programmed. Programmers return it, joined with errors.Join, for
// what they can attribute to a service.
type ServiceError struct {
	Service types.NamespacedName
	Err     error
}

// Error names the service.
func (e *ServiceError) Error() string { return fmt.Sprintf("service %s: %v", e.Service, e.Err) }

// Unwrap returns the service's error.
func (e *ServiceError) Unwrap() error { return e.Err }

// SplitErrors sorts the error of a sync: the errors of single services
// (ServiceErrors, possibly joined) by service, and the rest, which
// concern the whole sync (nil when there is none).
func SplitErrors(err error) (byService map[types.NamespacedName]error, rest error) {
	byService = make(map[types.NamespacedName]error)
	var others []error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if se, ok := err.(*ServiceError); ok {
			byService[se.Service] = errors.Join(byService[se.Service], se.Err)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		others = append(others, err)
	}
	walk(err)
	return byService, errors.Join(others...)
}
