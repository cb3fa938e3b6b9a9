package auth

import (
	"context"
	"errors"
)

// Decision is an authorizer's answer.
type Decision int

const (
	// DecisionDeny forbids the request.
	DecisionDeny Decision = iota
	// DecisionAllow permits the request.
	DecisionAllow
	// DecisionNoOpinion leaves the decision to the next authorizer.
	DecisionNoOpinion
)

// String returns "deny", "allow" or "no opinion".
func (d Decision) String() string {
	switch d {
	case DecisionAllow:
		return "allow"
	case DecisionNoOpinion:
		return "no opinion"
	default:
		return "deny"
	}
}

// Attributes describe a request to authorize, as kube-apiserver's
// authorizers see it.
type Attributes struct {
	// User makes the request.
	User *User
	// Verb is the API verb (get, list, watch, create, update, patch,
	// delete, deletecollection) for resource requests and the lower-case
	// HTTP method for other requests.
	Verb string
	// APIGroup, APIVersion, Resource, Subresource, Namespace and Name
	// locate the object of a resource request.
	APIGroup, APIVersion, Resource, Subresource, Namespace, Name string
	// Path is the request path.
	Path string
	// ResourceRequest is true for requests for API objects and false for
	// other paths (/healthz, /version, discovery).
	ResourceRequest bool
}

// Authorizer decides whether a request is allowed. It returns the
// decision, a reason for humans and an error if it could not decide.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (Decision, string, error)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, a Attributes) (Decision, string, error)

// Authorize calls f(ctx, a).
func (f AuthorizerFunc) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	return f(ctx, a)
}

// AlwaysAllow returns an authorizer that allows every request.
func AlwaysAllow() Authorizer {
	return AuthorizerFunc(func(context.Context, Attributes) (Decision, string, error) {
		return DecisionAllow, "", nil
	})
}

// GroupAuthorizer returns an authorizer that allows members of any of
// groups and has no opinion on other users.
func GroupAuthorizer(groups ...string) Authorizer {
	return AuthorizerFunc(func(_ context.Context, a Attributes) (Decision, string, error) {
		if a.User != nil {
			for _, g := range groups {
				if a.User.InGroup(g) {
					return DecisionAllow, "member of " + g, nil
				}
			}
		}
		return DecisionNoOpinion, "", nil
	})
}

// PathAuthorizer returns an authorizer that allows anyone, anonymous users
// included, to get (or head) the non-resource paths; an entry ending in "*"
// matches every path starting with what precedes it. It has no opinion on
// other requests. With PublicPaths it does what Kubernetes's
// system:public-info-viewer role does.
func PathAuthorizer(paths ...string) Authorizer {
	match := pathMatcher(paths)
	return AuthorizerFunc(func(_ context.Context, a Attributes) (Decision, string, error) {
		if !a.ResourceRequest && (a.Verb == "get" || a.Verb == "head") && match(a.Path) {
			return DecisionAllow, "public path", nil
		}
		return DecisionNoOpinion, "", nil
	})
}

// UnionAuthorizer asks each authorizer in order. The first to allow or
// deny decides, with its error if it returned one; one with no opinion
// passes the request on. If none decides, the request is denied, with the
// errors of those that failed. An authorizer that fails and wants the next
// one asked must say DecisionNoOpinion: the zero Decision denies.
func UnionAuthorizer(authorizers ...Authorizer) Authorizer {
	return AuthorizerFunc(func(ctx context.Context, a Attributes) (Decision, string, error) {
		var errs []error
		for _, z := range authorizers {
			d, reason, err := z.Authorize(ctx, a)
			if d != DecisionNoOpinion {
				return d, reason, err
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		return DecisionDeny, "no authorizer allowed the request", errors.Join(errs...)
	})
}
