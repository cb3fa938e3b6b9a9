package apiserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/controlplane/auth"
)

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	if info == nil {
		return &requestInfo{}
	}
	return info
}

// withAuthorization parses the request info, asks the authorizer, and
// answers 403 when it does not allow the request.
func (s *Server) withAuthorization(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		u, _ := auth.UserFrom(r.Context())
		attrs := auth.Attributes{
			User: u, Verb: info.Verb, APIGroup: info.APIGroup, APIVersion: info.APIVersion,
			Resource: info.Resource, Subresource: info.Subresource, Namespace: info.Namespace,
			Name: info.Name, Path: r.URL.Path, ResourceRequest: info.IsResourceRequest,
		}
		decision, reason, err := s.cfg.Authorizer.Authorize(r.Context(), attrs)
		if decision == auth.DecisionAllow {
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			reason = err.Error()
		}
		name := "unknown"
		if u != nil {
			name = u.Name
		}
		var msg error
		if info.IsResourceRequest {
			msg = fmt.Errorf("User %q cannot %s resource %q in API group %q%s%s", name, info.Verb, info.Resource, info.APIGroup, nsPhrase(info.Namespace), reasonPhrase(reason))
			writeError(w, mediaType{}, apierrors.NewForbidden(schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}, info.Name, msg))
			return
		}
		st := apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("User %q cannot %s path %q%s", name, info.Verb, r.URL.Path, reasonPhrase(reason)))
		st.ErrStatus.Message = "forbidden: " + st.ErrStatus.Details.Causes[0].Message
		writeError(w, mediaType{}, st)
	})
}

func nsPhrase(ns string) string {
	if ns == "" {
		return " at the cluster scope"
	}
	return fmt.Sprintf(" in the namespace %q", ns)
}

func reasonPhrase(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// statusRecorder remembers the response code for metrics and logs, and
// passes flushes and hijacks through for watches and upgrades.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response does not support hijacking")
	}
	return h.Hijack()
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// withMetricsAndRecovery parses the request info, counts and times every
// request, and turns a panic in a handler into a 500 instead of a crash.
func (s *Server) withMetricsAndRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := parseRequestInfo(r)
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.cfg.Logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if rec.code == 0 {
					writeError(rec, mediaType{}, apierrors.NewInternalError(fmt.Errorf("panic: %v", p)))
				}
			}
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			s.metrics.observe(info, strconv.Itoa(code), time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}
