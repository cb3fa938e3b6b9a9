// Package apiserver is skiff's Kubernetes-compatible HTTP API: request
// parsing, authentication and authorization filters, content negotiation,
// the REST verbs over the registry, watch streaming, patches, discovery,
// /version, health and metrics.
package apiserver

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"skiff.dev/skiff/controlplane/auth"
	"skiff.dev/skiff/controlplane/registry"
)

// Config configures the API handler.
type Config struct {
	// Stores serve the registered resources, one per group version and
	// resource.
	Stores []*registry.Store
	// Subresources serve the special subresources (binding, eviction, ...),
	// keyed by "<group>/<version>/<resource>/<subresource>".
	Subresources map[string]SubresourceHandler
	// Groups are group versions served by handlers of their own rather
	// than by stores (the resource metrics API).
	Groups []Group
	// Authenticator identifies callers; Authorizer decides what they may do.
	Authenticator auth.Authenticator
	Authorizer    auth.Authorizer
	// OpenAPI serves /openapi/v2 and /openapi/v3 (nil: 404).
	OpenAPI http.Handler
	// Ready reports whether the server can serve (etcd reachable, bootstrap
	// done); nil means always.
	Ready func(ctx context.Context) error
	// Version is what /version reports.
	Version version.Info
	// Profiling serves Go's profiles under /debug/pprof/.
	Profiling bool
	// MaxRequestBodyBytes bounds request bodies (default 3 MiB).
	MaxRequestBodyBytes int64
	// MinRequestTimeout bounds watches without timeoutSeconds: each lasts
	// between one and two of it (default 30 min).
	MinRequestTimeout time.Duration
	// Registry receives the server's metrics; Gatherer serves /metrics.
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
}

// Group is a group version served outside the registry. Its handler sees
// authenticated, authorized requests; RequestInfoFrom tells it what they
// mean, and WriteObject and WriteError answer them.
type Group struct {
	GroupVersion schema.GroupVersion
	// Resources describe the group version in discovery.
	Resources []metav1.APIResource
	Handler   http.Handler
}

// SubresourceHandler serves a subresource request for one object.
type SubresourceHandler func(w http.ResponseWriter, r *http.Request, req *Request)

// Server is the API HTTP handler.
type Server struct {
	cfg     Config
	stores  map[string]*registry.Store // "<group>/<version>/<plural>"
	groups  []groupInfo
	metrics *metrics
	handler http.Handler
}

// groupInfo is a served API group and its versions, in discovery order.
type groupInfo struct {
	name     string
	versions []string
}

// New builds the API handler.
func New(cfg Config) (*Server, error) {
	if cfg.MaxRequestBodyBytes == 0 {
		cfg.MaxRequestBodyBytes = 3 << 20
	}
	if cfg.MinRequestTimeout == 0 {
		cfg.MinRequestTimeout = 30 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, stores: map[string]*registry.Store{}}
	seen := map[string]int{}
	gvs := make([]schema.GroupVersion, 0, len(cfg.Stores)+len(cfg.Groups))
	for _, st := range cfg.Stores {
		s.stores[storeKey(st.Resource.GroupVersion, st.Resource.Plural)] = st
		gvs = append(gvs, st.Resource.GroupVersion)
	}
	for _, g := range cfg.Groups {
		gvs = append(gvs, g.GroupVersion)
	}
	for _, gv := range gvs {
		i, ok := seen[gv.Group]
		if !ok {
			i = len(s.groups)
			seen[gv.Group] = i
			s.groups = append(s.groups, groupInfo{name: gv.Group})
		}
		if !contains(s.groups[i].versions, gv.Version) {
			s.groups[i].versions = append(s.groups[i].versions, gv.Version)
		}
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.handler = s.buildHandler()
	return s, nil
}

func storeKey(gv schema.GroupVersion, plural string) string {
	return gv.Group + "/" + gv.Version + "/" + plural
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.serveHealth)
	mux.HandleFunc("/healthz/", s.serveHealth)
	mux.HandleFunc("/livez", s.serveLive)
	mux.HandleFunc("/livez/", s.serveLive)
	mux.HandleFunc("/readyz", s.serveHealth)
	mux.HandleFunc("/readyz/", s.serveHealth)
	mux.HandleFunc("/version", s.serveVersion)
	mux.HandleFunc("/version/", s.serveVersion)
	if s.cfg.Gatherer != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	if s.cfg.OpenAPI != nil {
		mux.Handle("/openapi/", s.cfg.OpenAPI)
	}
	if s.cfg.Profiling {
		// Go's profiles, for administrators (authorization applies), as
		// kube-apiserver's --profiling serves them.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/api", s.serveAPI)
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/apis", s.serveAPI)
	mux.HandleFunc("/apis/", s.serveAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, mediaType{}, notFoundPath(r.URL.Path))
	})
	var h http.Handler = mux
	h = s.withAuthorization(h)
	h = auth.WithAuthentication(h, s.cfg.Authenticator, auth.PublicPaths())
	h = s.withMetricsAndRecovery(h)
	return h
}

// serveAPI serves discovery and resource requests.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	info := requestInfoFrom(r.Context())
	if !info.IsResourceRequest {
		s.serveDiscovery(w, r, info)
		return
	}
	s.serveResource(w, r, info)
}

func (s *Server) serveLive(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	s.serveLive(w, r)
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	mt, err := negotiate(r, false)
	if err != nil {
		writeError(w, mt, err)
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Version)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
