// Package auth authenticates API requests (bearer tokens, client
// certificates) and defines the authorizer the apiserver asks whether an
// authenticated user may make a request.
package auth

import (
	"context"
	"slices"
)

// Well-known user and group names, as in Kubernetes.
const (
	// GroupMasters holds cluster administrators; it is allowed everything.
	GroupMasters = "system:masters"
	// GroupAuthenticated is added to every authenticated user.
	GroupAuthenticated = "system:authenticated"
	// GroupUnauthenticated holds the anonymous user.
	GroupUnauthenticated = "system:unauthenticated"
	// GroupNodes holds node agents (user names system:node:<name>).
	GroupNodes = "system:nodes"
	// UserAnonymous is the user of requests without credentials.
	UserAnonymous = "system:anonymous"
)

// User is an authenticated (or anonymous) user.
type User struct {
	Name   string
	UID    string
	Groups []string
}

// InGroup reports whether u is a member of group.
func (u *User) InGroup(group string) bool {
	return slices.Contains(u.Groups, group)
}

// clone returns a copy of u that shares nothing with it.
func (u *User) clone() *User {
	c := *u
	c.Groups = slices.Clone(u.Groups)
	return &c
}

// withGroup returns a copy of u that is a member of group.
func (u *User) withGroup(group string) *User {
	c := u.clone()
	if !c.InGroup(group) {
		c.Groups = append(c.Groups, group)
	}
	return c
}

type userKey struct{}

// WithUser returns a context carrying u.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user ctx carries.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok
}
