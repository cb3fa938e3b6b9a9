// Package etcd runs skiff's embedded single-member etcd and connects to
// external etcd clusters. Only the apiserver side of the control plane uses
// it; every other component is a client of the apiserver.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EmbeddedConfig configures the embedded member.
type EmbeddedConfig struct {
	// Name of the member; also the node's name.
	Name string
	// DataDir holds the member's WAL and database.
	DataDir string
	// ClientPort and PeerPort listen on localhost only.
	ClientPort, PeerPort int
	// QuotaBytes is the backend quota (0: etcd's default of 2 GiB).
	QuotaBytes int64
	// SnapshotCount is how many applied entries trigger a snapshot; kept
	// modest to bound memory.
	SnapshotCount uint64
	// ProgressNotifyInterval paces the progress notifications watches turn
	// into bookmarks.
	ProgressNotifyInterval time.Duration
	// LogLevel is zap's level for etcd's own log (default "warn").
	LogLevel string
}

// Embedded is a running embedded etcd member.
type Embedded struct {
	etcd *embed.Etcd
	// Client talks to the member over its localhost client port.
	Client *clientv3.Client
	// ClientURL is the member's localhost client URL, for tools.
	ClientURL string
	level     zap.AtomicLevel
}

// StartEmbedded starts the member and waits until it is ready to serve.
func StartEmbedded(ctx context.Context, c EmbeddedConfig) (*Embedded, error) {
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.DataDir
	cu := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ClientPort))}
	pu := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.PeerPort))}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(c.Name)
	cfg.QuotaBackendBytes = c.QuotaBytes
	if c.SnapshotCount > 0 {
		cfg.SnapshotCount = c.SnapshotCount
	} else {
		cfg.SnapshotCount = 10000
	}
	if c.ProgressNotifyInterval > 0 {
		cfg.WatchProgressNotifyInterval = c.ProgressNotifyInterval
	}
	// etcd logs through zap; the level is raised when the member is shut
	// down, so that a clean stop does not print errors about its closed
	// listeners.
	level := zap.NewAtomicLevelAt(zap.WarnLevel)
	if c.LogLevel != "" {
		if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
			return nil, fmt.Errorf("etcd log level %q: %w", c.LogLevel, err)
		}
	}
	zc := zap.NewProductionConfig()
	zc.Level = level
	zc.Sampling = nil
	lg, err := zc.Build()
	if err != nil {
		return nil, fmt.Errorf("etcd logger: %w", err)
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", c.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("embedded etcd: not ready after 60s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	// A gRPC client over localhost rather than the in-process v3client:
	// the in-process channel adapter deadlocks when many watches are
	// cancelled at once (etcd-io/etcd#18879), wedging every watch.
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{cu.String()}, DialTimeout: 10 * time.Second, Context: ctx,
		MaxCallSendMsgSize: int(cfg.MaxRequestBytes) + 64<<10, MaxCallRecvMsgSize: math.MaxInt32,
		Logger: zap.NewNop(),
	})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("embedded etcd client: %w", err)
	}
	return &Embedded{etcd: e, Client: cli, ClientURL: cu.String(), level: level}, nil
}

// Err reports a fatal error of the running member.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Endpoint names the member for maintenance calls on the in-process client.
func (e *Embedded) Endpoint() string { return e.ClientURL }

// Close stops the member and its client.
func (e *Embedded) Close() {
	_ = e.Client.Close()
	e.level.SetLevel(zap.FatalLevel)
	e.etcd.Close()
}

// ExternalConfig names an external etcd cluster and its client TLS files.
type ExternalConfig struct {
	Endpoints              []string
	CAFile, CertFile, Key  string
	DialTimeout            time.Duration
	MaxCallSendMsgSizeByte int
}

// Connect dials an external etcd cluster.
func Connect(ctx context.Context, c ExternalConfig) (*clientv3.Client, error) {
	var tlsCfg *tls.Config
	if c.CAFile != "" || c.CertFile != "" {
		info := transport.TLSInfo{TrustedCAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.Key}
		var err error
		if tlsCfg, err = info.ClientConfig(); err != nil {
			return nil, fmt.Errorf("etcd client TLS: %w", err)
		}
	}
	timeout := c.DialTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints,
		TLS:         tlsCfg,
		DialTimeout: timeout,
		Context:     ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", c.Endpoints, err)
	}
	return cli, nil
}
