// Package dataplane is skiff's service dataplane: ClusterIP load balancing
// at the socket (cgroup connect/sendmsg/recvmsg/getpeername programs) and
// NodePort load balancing per packet (tc programs on the node devices),
// programmed from Services, EndpointSlices and Nodes, with kube-proxy's
// iptables rule shape as the reference mode and the fallback.
//
// New loads and attaches (or takes over pinned state); Start follows the
// cluster through the apiserver until its context ends. A benchmark or a
// test that has no apiserver programs services directly with Replace and
// Update. Only this package tree loads BPF.
//
// The pieces: model (desired state), lb (BPF programs, maps and the
// incremental sync engine), proxy (informers -> model), iptables (the
// reference mode).
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/internal/nsutil"
	"skiff.dev/skiff/dataplane/iptables"
	"skiff.dev/skiff/dataplane/lb"
	"skiff.dev/skiff/dataplane/model"
	"skiff.dev/skiff/dataplane/proxy"
)

// Dataplane is a running service dataplane for one node. It implements
// model.Programmer.
type Dataplane struct {
	cfg    Config
	log    *slog.Logger
	mode   Mode
	prog   model.Programmer
	lb     *lb.LB // eBPF mode only
	health *proxy.HealthServer
	proxy  *proxy.Proxy
	udp    *udpReaper // eBPF mode only

	loadErrors *prometheus.CounterVec
	mu         sync.Mutex // serializes syncs and node address updates

	podMu       sync.Mutex
	podAttached map[string]int // pod device -> ifindex attached
}

var _ model.Programmer = (*Dataplane)(nil)

// New prepares the dataplane: in eBPF mode it loads the programs (taking
// over pinned maps and links), attaches them to the cgroup root and the
// NodePort devices, and installs the unreachable routes; in iptables mode
// it installs kube-proxy's base chains. Services are programmed by Start,
// or directly through Replace and Update.
func New(cfg Config) (*Dataplane, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Dataplane{
		cfg:         cfg,
		log:         cfg.Logger,
		podAttached: make(map[string]int),
		loadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_dataplane_load_errors_total",
			Help: "Failures to load the eBPF programs, by reason (verifier, unsupported, error).",
		}, []string{"reason"}),
	}
	if len(cfg.NodePortDevices) == 0 {
		dev, err := defaultRouteDevice(cfg.NetNS)
		if err != nil {
			return nil, err
		}
		d.cfg.NodePortDevices = []string{dev}
	}
	for _, dev := range d.cfg.PodDevices {
		if slices.Contains(d.cfg.NodePortDevices, dev) {
			return nil, fmt.Errorf("dataplane: %s is both a NodePort device and a pod device", dev)
		}
	}
	mode := cfg.Mode
	if mode != ModeIPTables {
		err := d.startEBPF()
		switch {
		case err == nil:
			mode = ModeEBPF
		case cfg.Mode == ModeEBPF:
			return nil, err
		default:
			d.log.Error("!!! eBPF DATAPLANE UNAVAILABLE: FALLING BACK TO IPTABLES MODE; services work, but slower. Fix the kernel or the programs.", "err", err)
			// Whatever the failed start attached would fight the rules.
			if cerr := Cleanup(CleanupConfig{PinDir: cfg.PinDir, NetNS: cfg.NetNS, IPTablesBackends: []string{}}); cerr != nil {
				d.log.Warn("clean up the failed eBPF start", "err", cerr)
			}
			mode = ModeIPTables
		}
	}
	if mode == ModeIPTables {
		if err := d.startIPTables(); err != nil {
			return nil, err
		}
	}
	d.mode = mode
	d.health = proxy.NewHealthServer(cfg.NetNS, d.log)
	if cfg.Client != nil {
		d.proxy = proxy.New(proxy.Config{
			Client:      cfg.Client,
			NodeName:    cfg.NodeName,
			Programmer:  d,
			Recorder:    cfg.Recorder,
			HealthCheck: d.health,
			OnNode:      d.onNode,
			Classify:    classify,
			// A sync of the iptables mode rewrites every rule whatever
			// changed: changes wait for it and go together.
			MinSyncPeriod: d.cfg.minSyncPeriod(mode),
			Logger:        d.log,
		})
	}
	d.log.Info("service dataplane ready", "mode", mode, "devices", d.cfg.NodePortDevices, "cgroup", cfg.CgroupRoot, "pins", cfg.PinDir)
	return d, nil
}

// startEBPF loads and attaches the programs.
func (d *Dataplane) startEBPF() error {
	cfg := d.cfg
	for _, pt := range []ebpf.ProgramType{ebpf.CGroupSockAddr, ebpf.SchedCLS} {
		if err := features.HaveProgramType(pt); err != nil {
			d.loadErrors.WithLabelValues("unsupported").Inc()
			return fmt.Errorf("kernel lacks %s programs: %w", pt, err)
		}
	}
	cookie, err := nsutil.Cookie(cfg.NetNS)
	if err != nil {
		return err
	}
	if cfg.PinDir != "" {
		if err := ensureBPFFS(cfg.PinDir); err != nil {
			return err
		}
	}
	l, err := lb.Load(lb.Config{
		PinDir:          cfg.PinDir,
		Sizes:           cfg.MapSizes,
		MaglevSize:      cfg.MaglevTableSize,
		HostNetNSCookie: cookie,
		EditSpec:        cfg.editSpec,
		Logger:          d.log,
	})
	if err != nil {
		d.reportLoadError(err)
		return err
	}
	d.lb = l
	if err := d.attachEBPF(); err != nil {
		l.Close()
		d.lb = nil
		return err
	}
	d.prog = l
	d.udp = startUDPReaper(l, cfg.CgroupRoot, d.log)
	return nil
}

// attachEBPF installs the unreachable routes, attaches the loaded programs
// and programs the node addresses.
func (d *Dataplane) attachEBPF() error {
	cfg := d.cfg
	if err := installUnreachable(cfg.NetNS, append(append([]netip.Prefix{}, cfg.ServiceCIDRs...), cfg.ClusterCIDRs...)); err != nil {
		return err
	}
	if err := d.lb.AttachCgroup(cfg.CgroupRoot); err != nil {
		return err
	}
	for _, dev := range cfg.NodePortDevices {
		if err := d.lb.AttachDevice(cfg.NetNS, dev, cfg.TCAttach); err != nil {
			return err
		}
	}
	if err := d.attachPodDevices(); err != nil {
		return err
	}
	return d.refreshNodeAddrs()
}

// reportLoadError logs a load failure with the verifier's full log and
// reports it as a metric and a Node event.
func (d *Dataplane) reportLoadError(err error) {
	reason := "error"
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		reason = "verifier"
		d.log.Error("BPF verifier rejected the dataplane programs", "err", fmt.Sprintf("%+v", ve))
	}
	d.loadErrors.WithLabelValues(reason).Inc()
	if d.cfg.Recorder != nil {
		node := &corev1.Node{}
		node.Name = d.cfg.NodeName
		node.UID = types.UID(d.cfg.NodeName)
		d.cfg.Recorder.Eventf(node, corev1.EventTypeWarning, "DataplaneLoadFailed", "eBPF dataplane (%s): %v", reason, err)
	}
}

func (d *Dataplane) startIPTables() error {
	p, err := iptables.New(iptables.Config{
		NetNS:        d.cfg.NetNS,
		Backend:      d.cfg.IPTablesBackend,
		ClusterCIDRs: d.cfg.ClusterCIDRs,
		Logger:       d.log,
	})
	if err != nil {
		return fmt.Errorf("iptables mode: %w", err)
	}
	d.prog = p
	return nil
}

// refreshNodeAddrs programs the addresses that accept NodePort traffic.
func (d *Dataplane) refreshNodeAddrs() error {
	if d.lb == nil {
		return nil
	}
	addrs, err := deviceAddrs(d.cfg.NetNS, d.cfg.NodePortDevices, d.cfg.NodePortAddresses)
	if err != nil {
		return err
	}
	return d.lb.SetNodeAddrs(addrs)
}

// Mode reports the mode in use.
func (d *Dataplane) Mode() Mode { return d.mode }

// Replace programs exactly these services, writing only differences.
func (d *Dataplane) Replace(ctx context.Context, svcs []model.Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.prog.Replace(ctx, svcs)
	d.afterSync()
	return err
}

// Update programs the services in upsert and removes those in remove, in
// one sync. Errors that concern single services are model.ServiceErrors
// (see model.SplitErrors).
func (d *Dataplane) Update(ctx context.Context, upsert []model.Service, remove []types.NamespacedName) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.prog.Update(ctx, upsert, remove)
	d.afterSync()
	return err
}

// afterSync queues the destruction of connected UDP sockets pinned to
// removed backends.
func (d *Dataplane) afterSync() {
	if d.lb != nil {
		d.udp.add(d.lb.TakeRemovedUDPBackends())
	}
}

// Start follows Services, EndpointSlices and this Node through cfg.Client
// and keeps the dataplane programmed until ctx is done. The first sync
// replaces the programmed state, repairing only what differs.
func (d *Dataplane) Start(ctx context.Context) error {
	if d.proxy == nil {
		return errNoClient
	}
	if d.lb != nil {
		go d.collectConntrack(ctx)
		if len(d.cfg.PodDevices) > 0 {
			go d.watchPodDevices(ctx)
		}
	}
	return d.proxy.Start(ctx)
}

// conntrackGCInterval is how often expired NodePort flows are removed.
const conntrackGCInterval = 30 * time.Second

func (d *Dataplane) collectConntrack(ctx context.Context) {
	t := time.NewTicker(conntrackGCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := d.lb.GCConntrack(); err != nil {
				d.log.Warn("conntrack garbage collection", "err", err)
			}
		}
	}
}

// onNode refreshes the NodePort addresses when this node changes.
func (d *Dataplane) onNode(*corev1.Node) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.refreshNodeAddrs(); err != nil {
		d.log.Warn("refresh node addresses", "err", err)
	}
}

// Synced is closed once Start has programmed the initial state; nil
// without a Client.
func (d *Dataplane) Synced() <-chan struct{} {
	if d.proxy == nil {
		return nil
	}
	return d.proxy.Synced()
}

// EndpointSliceProgrammed blocks until the dataplane, running Start,
// carries the EndpointSlice namespace/name at resourceVersion or later
// (or has removed it since), and returns the time at which the sync that
// programmed it finished: from then on new connections see the slice's
// endpoints as written, in eBPF and in iptables mode. It is the end point
// of the "EndpointSlice write acknowledged by the API -> backend usable or
// unusable in the dataplane" latency:
//
//	s, err := client.DiscoveryV1().EndpointSlices(ns).Update(ctx, s, metav1.UpdateOptions{})
//	acked := time.Now()
//	programmed, err := dp.EndpointSliceProgrammed(ctx, s.Namespace, s.Name, s.ResourceVersion)
//	latency := programmed.Sub(acked) // may be < 0: the watch can beat the response
//
// See proxy.Proxy.EndpointSliceProgrammed for the details.
func (d *Dataplane) EndpointSliceProgrammed(ctx context.Context, namespace, name, resourceVersion string) (time.Time, error) {
	if d.proxy == nil {
		return time.Time{}, errNoClient
	}
	return d.proxy.EndpointSliceProgrammed(ctx, namespace, name, resourceVersion)
}

// EndpointSliceRemoved blocks until nothing of the EndpointSlice
// namespace/name is left in the dataplane (after a Delete) and returns when
// that sync finished; see proxy.Proxy.EndpointSliceRemoved.
func (d *Dataplane) EndpointSliceRemoved(ctx context.Context, namespace, name string) (time.Time, error) {
	if d.proxy == nil {
		return time.Time{}, errNoClient
	}
	return d.proxy.EndpointSliceRemoved(ctx, namespace, name)
}

var errNoClient = errors.New("dataplane: needs Config.Client")

func classify(err error) string {
	if errors.Is(err, lb.ErrMapFull) {
		return "map_full"
	}
	return "error"
}

// Collectors returns the dataplane's prometheus collectors for the
// server's /metrics: per-service connection, packet and byte counters,
// drops by reason, map fill levels, sync durations and errors.
func (d *Dataplane) Collectors() []prometheus.Collector {
	out := []prometheus.Collector{d.loadErrors}
	if d.lb != nil {
		out = append(out, d.lb.Collector())
	}
	if d.proxy != nil {
		out = append(out, d.proxy.Collector())
	}
	return out
}

// ProgramStats is the run-time statistics of one of the eBPF programs.
type ProgramStats = lb.ProgramStats

// EnableBPFStats switches the kernel's BPF run-time statistics on until
// the Closer is closed; ProgramStats reads them.
func EnableBPFStats() (io.Closer, error) { return lb.EnableStats() }

// ProgramStats returns the run counts and run times of the eBPF programs
// the dataplane attached (connect4, the tc programs of each device, ...),
// cumulative while EnableBPFStats is on; none in iptables mode.
func (d *Dataplane) ProgramStats() ([]ProgramStats, error) {
	if d.lb == nil {
		return nil, nil
	}
	return d.lb.Stats()
}

// Close releases the process's hold on the dataplane. Pinned programs and
// maps stay in the kernel and keep services working; with Unpinned,
// everything detaches. Routes and iptables rules stay: use Cleanup.
func (d *Dataplane) Close() error {
	d.health.Close()
	if d.lb != nil {
		d.udp.close()
		return d.lb.Close()
	}
	return nil
}
