// Package admission defines the admission chain: plugins that see every
// write after decoding and defaulting and may change it (mutating) or
// refuse it (validating) before it reaches storage. Node authorization and
// RBAC-aware plugins plug in here too.
package admission

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/controlplane/auth"
)

// Operation is the kind of write being admitted.
type Operation string

// The operations admission sees.
const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT"
)

// Attributes describe one write.
type Attributes struct {
	Operation   Operation
	Resource    schema.GroupVersionResource
	Kind        schema.GroupVersionKind
	Subresource string
	Namespace   string
	Name        string
	// Object is the new state (nil on delete); OldObject the stored one
	// (nil on create).
	Object, OldObject runtime.Object
	User              *auth.User
	DryRun            bool
}

// Mutator may change a write's object.
type Mutator interface {
	Admit(ctx context.Context, a *Attributes) error
}

// Validator may refuse a write but not change it.
type Validator interface {
	Validate(ctx context.Context, a *Attributes) error
}

// Chain runs every mutating plugin, then every validating plugin, in order;
// the first error stops the write. A nil *Chain admits everything.
type Chain struct {
	Mutators   []Mutator
	Validators []Validator
}

// Admit runs the mutating plugins.
func (c *Chain) Admit(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, m := range c.Mutators {
		if err := m.Admit(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// Validate runs the validating plugins.
func (c *Chain) Validate(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, v := range c.Validators {
		if err := v.Validate(ctx, a); err != nil {
			return err
		}
	}
	return nil
}
