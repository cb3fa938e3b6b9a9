// Package server runs `skiff server`: it bootstraps TLS and credentials,
// starts embedded etcd (or connects to an external cluster), serves the
// Kubernetes API over HTTPS, keeps the bootstrap objects, and compacts
// etcd. It is startable from a test with a Config and a ready channel.
package server

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"skiff.dev/skiff/controlplane/controllers"
)

// Config configures a server. The zero value of each field means its
// default (see Defaults).
type Config struct {
	// DataDir holds etcd's data, the TLS material and the kubeconfig.
	DataDir string
	// NodeName names this server (and its etcd member); default hostname.
	NodeName string
	// BindAddress is where the API listens; HTTPSPort its port.
	BindAddress string
	HTTPSPort   int
	// AdvertiseAddress is the address the kubernetes Service's endpoints
	// point at; default the host's primary address.
	AdvertiseAddress netip.Addr
	// EtcdClientPort and EtcdPeerPort are the embedded member's ports, on
	// localhost.
	EtcdClientPort, EtcdPeerPort int
	// EtcdEndpoints, when set, use an external etcd cluster instead of the
	// embedded member, with the given client TLS files.
	EtcdEndpoints                         []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// ServiceCIDR gives cluster IPs; the first address is the kubernetes
	// Service's. ClusterCIDR is the pod network, split per node.
	ServiceCIDR, ClusterCIDR netip.Prefix
	// NodePortBase and NodePortSize give the node port range.
	NodePortBase, NodePortSize int
	// EventTTL is how long events live.
	EventTTL time.Duration
	// WriteKubeconfig is an extra path for the admin kubeconfig, written
	// with KubeconfigMode.
	WriteKubeconfig string
	KubeconfigMode  os.FileMode
	// CompactionInterval paces etcd compaction.
	CompactionInterval time.Duration
	// WatchBookmarkInterval paces the BOOKMARK events of watches that allow
	// them (embedded etcd's progress notifications; default 1m).
	WatchBookmarkInterval time.Duration
	// EtcdLogLevel is embedded etcd's log level.
	EtcdLogLevel string
	// DisableScheduler and DisableControllers leave those parts out (tests
	// of the bare API; a cluster whose scheduler runs elsewhere).
	DisableScheduler, DisableControllers bool
	// Controllers, when set, replaces the controller manager's list
	// (ControllerConstructors).
	Controllers []controllers.Constructor
	// ObservedUsageWeight is how much nodes' real usage counts in
	// scheduling, against requests (0: the scheduler's default).
	ObservedUsageWeight int64
	// Profiling serves Go's profiles under /debug/pprof/ to
	// administrators.
	Profiling bool
	// MetricsMaxAge is how long reported resource metrics stay valid
	// (default 1m: a few agent report intervals).
	MetricsMaxAge time.Duration
	Logger        *slog.Logger
}

// Defaults returns cfg with every unset field given its default.
func Defaults(cfg Config) (Config, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "/var/lib/skiff"
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("node name: %w", err)
		}
		cfg.NodeName = h
	}
	if cfg.BindAddress == "" {
		cfg.BindAddress = "0.0.0.0"
	}
	setInt(&cfg.HTTPSPort, 6443)
	setInt(&cfg.EtcdClientPort, 2379)
	setInt(&cfg.EtcdPeerPort, 2380)
	if !cfg.ServiceCIDR.IsValid() {
		cfg.ServiceCIDR = netip.MustParsePrefix("10.43.0.0/16")
	}
	if !cfg.ClusterCIDR.IsValid() {
		cfg.ClusterCIDR = netip.MustParsePrefix("10.42.0.0/16")
	}
	if cfg.NodePortBase == 0 {
		cfg.NodePortBase, cfg.NodePortSize = 30000, 2768
	}
	if cfg.EventTTL == 0 {
		cfg.EventTTL = time.Hour
	}
	if cfg.KubeconfigMode == 0 {
		cfg.KubeconfigMode = 0o600
	}
	if cfg.MetricsMaxAge == 0 {
		cfg.MetricsMaxAge = time.Minute
	}
	if cfg.WatchBookmarkInterval == 0 {
		cfg.WatchBookmarkInterval = time.Minute
	}
	if cfg.CompactionInterval == 0 {
		cfg.CompactionInterval = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

// FirstServiceIP is the kubernetes Service's cluster IP: the first host
// address of the service CIDR.
func FirstServiceIP(cidr netip.Prefix) netip.Addr {
	return cidr.Masked().Addr().Next()
}
