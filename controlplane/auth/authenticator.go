package auth

import (
	"errors"
	"net/http"
)

// Authenticator identifies the user making a request from one kind of
// credential. It returns ok=false and a nil error if the request carries no
// credential of its kind, and an error if it carries one that is invalid.
type Authenticator interface {
	Authenticate(r *http.Request) (u *User, ok bool, err error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*User, bool, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*User, bool, error) { return f(r) }

// UnionAuthenticator tries each authenticator in order. The first to
// authenticate the request wins; if none does, the errors of those that
// found invalid credentials are returned, so an invalid credential fails
// the request even when credentials of other kinds are absent.
func UnionAuthenticator(authenticators ...Authenticator) Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (*User, bool, error) {
		var errs []error
		for _, a := range authenticators {
			u, ok, err := a.Authenticate(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ok {
				return u, true, nil
			}
		}
		return nil, false, errors.Join(errs...)
	})
}
