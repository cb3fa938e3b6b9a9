package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/controlplane/admission/plugins"
	"skiff.dev/skiff/controlplane/apiserver"
	"skiff.dev/skiff/controlplane/auth"
	"skiff.dev/skiff/controlplane/etcd"
	"skiff.dev/skiff/controlplane/pki"
	"skiff.dev/skiff/controlplane/registry"
	"skiff.dev/skiff/controlplane/resourcemetrics"
	"skiff.dev/skiff/controlplane/storage"
)

// Server is a running (or startable) skiff server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ready    chan struct{}
	started  atomic.Bool
	url      string
	admin    *rest.Config
	client   *clientv3.Client
	stores   map[string]*registry.Store
	registry *prometheus.Registry
	// usage holds the resource metrics the agents report.
	usage *resourcemetrics.Store
}

// New checks cfg, fills in defaults and returns a server ready to Start.
func New(cfg Config) (*Server, error) {
	cfg, err := Defaults(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.NodePortSize < 1 || cfg.NodePortBase+cfg.NodePortSize-1 > 65535 {
		return nil, fmt.Errorf("node port range %d-%d is invalid", cfg.NodePortBase, cfg.NodePortBase+cfg.NodePortSize-1)
	}
	return &Server{cfg: cfg, log: cfg.Logger, ready: make(chan struct{}), stores: map[string]*registry.Store{}}, nil
}

// Config returns the server's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Ready is closed once the API serves and the bootstrap objects exist.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// URL is the API's HTTPS URL; valid once Ready.
func (s *Server) URL() string { return s.url }

// AdminConfig returns a client configuration with administrator rights;
// valid once Ready.
func (s *Server) AdminConfig() *rest.Config { return rest.CopyConfig(s.admin) }

// KubeconfigPath is where the admin kubeconfig is written.
func (s *Server) KubeconfigPath() string { return filepath.Join(s.cfg.DataDir, "kubeconfig") }

// Etcd returns the server's etcd client; valid once Ready.
func (s *Server) Etcd() *clientv3.Client { return s.client }

// Gatherer returns the server's metrics registry; valid once Ready.
func (s *Server) Gatherer() prometheus.Gatherer { return s.registry }

// Start runs the server until ctx is done or a part of it fails.
func (s *Server) Start(ctx context.Context) error {
	if s.started.Swap(true) {
		return errors.New("server: already started")
	}
	cfg := s.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	creds, err := s.bootstrapTLS()
	if err != nil {
		return err
	}

	client, endpoints, closeEtcd, err := s.startEtcd(ctx)
	if err != nil {
		return err
	}
	defer closeEtcd()
	s.client = client

	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	etcdLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "etcd_request_duration_seconds",
		Help:    "etcd request latency by operation and resource.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
	}, []string{"operation", "type"})
	s.registry.MustRegister(etcdLatency)

	host := cfg.BindAddress
	if ip, err := netip.ParseAddr(host); err != nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.url = "https://" + net.JoinHostPort(host, strconv.Itoa(cfg.HTTPSPort))
	loopback := s.loopbackConfig(creds)
	adm, err := plugins.New(plugins.Config{Client: kubernetes.NewForConfigOrDie(loopback)})
	if err != nil {
		return fmt.Errorf("admission: %w", err)
	}

	g, ctx := errgroup.WithContext(ctx)
	st, err := buildStores(ctx, g, client, cfg, etcdLatency, adm.Chain)
	if err != nil {
		return err
	}
	for _, rs := range st.stores {
		s.stores[rs.Resource.GroupVersion.String()+"/"+rs.Resource.Plural] = rs
	}

	tokens := auth.NewTokenAuthenticator()
	if err := tokens.Add(creds.adminToken, auth.User{Name: AdminUser, Groups: []string{auth.GroupMasters}}); err != nil {
		return err
	}
	s.usage = resourcemetrics.NewStore(cfg.MetricsMaxAge)
	api, err := apiserver.New(apiserver.Config{
		Stores:        st.stores,
		Subresources:  apiserver.DefaultSubresources(adm.Evictor),
		Groups:        []apiserver.Group{resourcemetrics.Group(s.usage)},
		Authenticator: auth.UnionAuthenticator(auth.NewX509Authenticator(creds.ca.CertPool()), tokens),
		Authorizer:    auth.UnionAuthorizer(auth.PathAuthorizer(auth.PublicPaths()...), auth.GroupAuthorizer(auth.GroupMasters)),
		OpenAPI:       st.openapi,
		Ready:         s.readyCheck,
		Version:       Version(),
		Profiling:     cfg.Profiling,
		Registry:      s.registry,
		Gatherer:      s.registry,
		Logger:        s.log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.HTTPSPort)))
	if err != nil {
		return fmt.Errorf("listen on %s:%d: %w", cfg.BindAddress, cfg.HTTPSPort, err)
	}
	srv := &http.Server{
		Handler:           api,
		TLSConfig:         creds.tls,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	g.Go(func() error {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve API: %w", err)
		}
		return nil
	})
	// The server's own clients (admission caches, scheduler, controllers)
	// stop before the API does, so that their last calls do not fail.
	var clients sync.WaitGroup
	runClient := func(f func() error) {
		clients.Add(1)
		g.Go(func() error {
			defer clients.Done()
			return f()
		})
	}
	g.Go(func() error {
		<-ctx.Done()
		stopped := make(chan struct{})
		go func() {
			clients.Wait()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			s.log.Warn("the server's own clients did not stop in 10s; stopping the API anyway")
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	})

	// The admission plugins' caches fill once the API listens; the
	// namespace lifecycle plugin holds writes until they have.
	runClient(func() error { return adm.Start(ctx) })

	if err := s.writeKubeconfigs(creds); err != nil {
		return err
	}
	if s.admin, err = clientcmd.BuildConfigFromFlags("", s.KubeconfigPath()); err != nil {
		return fmt.Errorf("load admin kubeconfig: %w", err)
	}

	b := &bootstrapper{stores: s.stores, cfg: cfg, log: s.log}
	if err := b.ensure(ctx); err != nil {
		return fmt.Errorf("bootstrap objects: %w", err)
	}
	g.Go(func() error { return b.Start(ctx) })
	m := &storage.Maintainer{Client: client, Endpoints: endpoints, Interval: cfg.CompactionInterval, DefragThreshold: 64 << 20, Logger: s.log}
	g.Go(func() error { return m.Start(ctx) })

	if err := s.startComponents(ctx, runClient); err != nil {
		return err
	}
	close(s.ready)
	s.log.Info("skiff server ready", "url", s.url, "kubeconfig", s.KubeconfigPath(), "etcd", describeEtcd(cfg))
	return g.Wait()
}

func describeEtcd(cfg Config) string {
	if len(cfg.EtcdEndpoints) > 0 {
		return fmt.Sprint(cfg.EtcdEndpoints)
	}
	return "embedded"
}

// startEtcd starts the embedded member or connects to the external cluster
// and returns the client, the member endpoints to maintain and a function
// that closes everything.
func (s *Server) startEtcd(ctx context.Context) (*clientv3.Client, []string, func(), error) {
	cfg := s.cfg
	if len(cfg.EtcdEndpoints) > 0 {
		c, err := etcd.Connect(ctx, etcd.ExternalConfig{Endpoints: cfg.EtcdEndpoints, CAFile: cfg.EtcdCAFile, CertFile: cfg.EtcdCertFile, Key: cfg.EtcdKeyFile})
		if err != nil {
			return nil, nil, nil, err
		}
		return c, cfg.EtcdEndpoints, func() { _ = c.Close() }, nil
	}
	e, err := etcd.StartEmbedded(ctx, etcd.EmbeddedConfig{
		Name: cfg.NodeName, DataDir: filepath.Join(cfg.DataDir, "etcd"),
		ClientPort: cfg.EtcdClientPort, PeerPort: cfg.EtcdPeerPort,
		ProgressNotifyInterval: cfg.WatchBookmarkInterval, LogLevel: cfg.EtcdLogLevel,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	go func() {
		if err, ok := <-e.Err(); ok && err != nil {
			s.log.Error("embedded etcd failed", "err", err)
		}
	}()
	return e.Client, []string{e.Endpoint()}, e.Close, nil
}

// readyCheck backs /readyz: etcd answers and the bootstrap is done.
func (s *Server) readyCheck(ctx context.Context) error {
	select {
	case <-s.ready:
	default:
		return errors.New("bootstrap not finished")
	}
	if _, err := s.client.Get(ctx, "/registry/health", clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	return nil
}

// credentials are the TLS material of a server.
type credentials struct {
	ca         *pki.CA
	tls        *tls.Config
	adminCert  []byte
	adminKey   []byte
	adminToken string
}

// AdminUser is the name in the admin credentials.
const AdminUser = "skiff-admin"

func (s *Server) bootstrapTLS() (*credentials, error) {
	dir := filepath.Join(s.cfg.DataDir, "tls")
	ca, err := pki.EnsureCA(dir)
	if err != nil {
		return nil, err
	}
	hosts, err := pki.DefaultServingHosts(FirstServiceIP(s.cfg.ServiceCIDR).AsSlice())
	if err != nil {
		return nil, err
	}
	if s.cfg.AdvertiseAddress.IsValid() {
		hosts = append(hosts, s.cfg.AdvertiseAddress.String())
	}
	if ip, err := netip.ParseAddr(s.cfg.BindAddress); err == nil && !ip.IsUnspecified() {
		hosts = append(hosts, ip.String())
	}
	hosts = append(hosts, s.cfg.NodeName)
	serving, servingKey := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	if err := ca.EnsureServingCert(serving, servingKey, hosts); err != nil {
		return nil, err
	}
	adminCert, adminKey := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	if err := ca.EnsureClientCert(adminCert, adminKey, AdminUser, []string{auth.GroupMasters}); err != nil {
		return nil, err
	}
	token, err := pki.EnsureToken(filepath.Join(dir, "admin.token"))
	if err != nil {
		return nil, err
	}
	tlsCfg, err := ca.TLSServerConfig(serving, servingKey)
	if err != nil {
		return nil, err
	}
	c := &credentials{ca: ca, tls: tlsCfg, adminToken: token}
	if c.adminCert, err = os.ReadFile(adminCert); err != nil {
		return nil, err
	}
	if c.adminKey, err = os.ReadFile(adminKey); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Server) writeKubeconfigs(c *credentials) error {
	spec := pki.KubeconfigSpec{Server: s.url, CAPEM: c.ca.CertPEM, ClientCertPEM: c.adminCert, ClientKeyPEM: c.adminKey}
	if err := pki.WriteKubeconfig(s.KubeconfigPath(), spec); err != nil {
		return err
	}
	if p := s.cfg.WriteKubeconfig; p != "" {
		if err := pki.WriteKubeconfig(p, spec); err != nil {
			return err
		}
		if err := os.Chmod(p, s.cfg.KubeconfigMode); err != nil {
			return fmt.Errorf("kubeconfig mode: %w", err)
		}
	}
	return nil
}

// loopbackConfig is the client configuration of the server's own parts
// (admission plugins, scheduler, controllers): the admin token over the
// serving URL, verified against the CA.
func (s *Server) loopbackConfig(c *credentials) *rest.Config {
	rc := &rest.Config{
		Host: s.url, BearerToken: c.adminToken, UserAgent: "skiff-server",
		TLSClientConfig: rest.TLSClientConfig{CAData: c.ca.CertPEM},
		QPS:             -1, // no client-side rate limit for the server's own parts
	}
	UseProtobuf(rc)
	return rc
}

// UseProtobuf makes a component's client speak protobuf, as Kubernetes'
// own components do (its decoding costs a fraction of JSON's in every
// informer), taking JSON for the kinds that have no protobuf encoding.
func UseProtobuf(rc *rest.Config) {
	rc.ContentType = runtime.ContentTypeProtobuf
	rc.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
}

// AdminToken returns the admin bearer token, for tests of token
// authentication.
func (s *Server) AdminToken() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, "tls", "admin.token"))
	return strings.TrimSpace(string(b)), err
}
