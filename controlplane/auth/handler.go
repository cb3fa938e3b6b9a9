package auth

import (
	"encoding/json"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PublicPaths are the paths Kubernetes serves to anonymous users: health
// checks and the version.
func PublicPaths() []string {
	return []string{"/healthz", "/livez", "/readyz", "/version"}
}

// WithAuthentication authenticates each request with a before passing it
// to next with the user in its context (see UserFrom) and without its
// Authorization header. Authenticated users are members of
// GroupAuthenticated. Requests to anonymousPaths without valid credentials
// pass as UserAnonymous in GroupUnauthenticated; other requests without
// valid credentials get 401 Unauthorized and a Kubernetes Status body.
// An entry ending in "*" matches every path starting with what precedes it.
func WithAuthentication(next http.Handler, a Authenticator, anonymousPaths []string) http.Handler {
	anonymous := pathMatcher(anonymousPaths)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := a.Authenticate(r)
		switch {
		case ok:
			u = u.withGroup(GroupAuthenticated)
		case anonymous(r.URL.Path):
			u = &User{Name: UserAnonymous, Groups: []string{GroupUnauthenticated}}
		case err != nil:
			writeUnauthorized(w, err.Error())
			return
		default:
			writeUnauthorized(w, "no credentials provided")
			return
		}
		r = r.WithContext(WithUser(r.Context(), u))
		if r.Header.Get("Authorization") != "" {
			r.Header = r.Header.Clone()
			r.Header.Del("Authorization")
		}
		next.ServeHTTP(w, r)
	})
}

// pathMatcher returns a function reporting whether a path is one of paths
// or starts with an entry ending in "*" without its "*".
func pathMatcher(paths []string) func(string) bool {
	exact := make(map[string]bool, len(paths))
	var prefixes []string
	for _, p := range paths {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			prefixes = append(prefixes, prefix)
		} else {
			exact[p] = true
		}
	}
	return func(path string) bool {
		if exact[path] {
			return true
		}
		for _, prefix := range prefixes {
			if strings.HasPrefix(path, prefix) {
				return true
			}
		}
		return false
	}
}

func writeUnauthorized(w http.ResponseWriter, message string) {
	status := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  "Unauthorized: " + message,
		Reason:   metav1.StatusReasonUnauthorized,
		Code:     http.StatusUnauthorized,
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusUnauthorized)
	// A failed write means the client went away; there is no one to tell.
	_ = json.NewEncoder(w).Encode(status)
}
