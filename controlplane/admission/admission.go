// Package admission defines the admission chain: plugins that see every
// write after decoding and defaulting and may change it (mutating) or
// refuse it (validating) before it reaches storage. The plugins live in
// subpackages, one each; package plugins builds them in Kubernetes' order.
//
// # Where admission sits
//
// A request passes authentication (auth.Authenticator), then
// authorization (auth.Authorizer, asked by the apiserver's filter before
// any handler runs), then, for a write, the registry: defaulting, the
// mutating plugins (Chain.Admit), the kind's validation, the validating
// plugins (Chain.Validate), storage. Deletes reach only Chain.Validate,
// with OldObject set.
//
// # Authorization and admission
//
// The two answer different questions, as in Kubernetes. The authorizer
// sees only the request's attributes (user, verb, resource, namespace,
// name, path) and decides whether the user may make such a request at
// all: RBAC and the node authorizer are auth.Authorizers, combined with
// auth.UnionAuthorizer where the server builds its authorizer, and need
// nothing from this package. Admission sees the objects: rules that
// depend on an object's content or on the stored object are plugins in
// this chain that read Attributes.User. Node authorization has both
// halves in Kubernetes: the node authorizer (which objects a node may
// read and write at all) and the NodeRestriction admission plugin (a node
// changes only its own Node and the pods bound to it, and only some
// fields); the latter goes in the chain right after ServiceAccount. A
// plugin that needs an authorization decision about something a write
// implies (Kubernetes' OwnerReferencesPermissionEnforcement asks whether
// the user may delete the owner it references) takes an auth.Authorizer in
// its configuration and asks it with auth.Attributes built from
// Attributes.User.
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
