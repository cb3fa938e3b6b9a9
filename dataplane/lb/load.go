package lb

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/maglev"
)

// Config configures the BPF programs and maps.
type Config struct {
	// PinDir is a directory on a bpffs where maps and links are pinned, so
	// that they outlive the process and a new process takes them over
	// (production: /sys/fs/bpf/skiff/<node>). Empty: nothing is pinned and
	// everything goes away with the process.
	PinDir string
	// Sizes are the maps' capacities; zero fields take the defaults.
	Sizes MapSizes
	// MaglevSize is the size of each NodePort frontend's Maglev table, a
	// prime about 100 times its backends. Zero: maglev.DefaultSize.
	MaglevSize int
	// HostNetNSCookie is the network namespace (SO_NETNS_COOKIE) whose
	// sockets may bind NodePorts; binds from every other namespace (pods)
	// are refused.
	HostNetNSCookie uint64
	// SNATPortMin and SNATPortMax bound the source ports used when NodePort
	// traffic is SNATed to a remote backend. Zero: 32768-65535.
	SNATPortMin, SNATPortMax uint16
	// EditSpec, when set, changes the programs before they load. Tests use
	// it to make the verifier reject them and check the error's path.
	EditSpec func(*ebpf.CollectionSpec) error
	Logger   *slog.Logger
}

// MapSizes are the capacities of the BPF maps.
type MapSizes struct {
	// Services holds one entry per frontend plus one per active backend.
	Services int
	// Backends holds one entry per backend of every frontend.
	Backends int
	// Frontends bounds the number of frontends (rev-NAT and counters).
	Frontends int
	// Conntrack holds two entries per NodePort flow (LRU).
	Conntrack int
	// Affinity holds one entry per client of a ClientIP-affine service (LRU).
	Affinity int
	// SockRevNAT holds one entry per translated socket (LRU).
	SockRevNAT int
	// MaglevTables bounds the number of NodePort frontends.
	MaglevTables int
}

// DefaultMapSizes fit 10,000 services of 10 endpoints with room to spare.
func DefaultMapSizes() MapSizes {
	return MapSizes{
		Services:     262144,
		Backends:     262144,
		Frontends:    65536,
		Conntrack:    262144,
		Affinity:     65536,
		SockRevNAT:   262144,
		MaglevTables: 16384,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultMapSizes()
	s := &c.Sizes
	for _, f := range []struct {
		v *int
		d int
	}{
		{&s.Services, d.Services}, {&s.Backends, d.Backends}, {&s.Frontends, d.Frontends},
		{&s.Conntrack, d.Conntrack}, {&s.Affinity, d.Affinity}, {&s.SockRevNAT, d.SockRevNAT},
		{&s.MaglevTables, d.MaglevTables},
	} {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	if c.MaglevSize == 0 {
		c.MaglevSize = maglev.DefaultSize
	}
	if c.SNATPortMin == 0 {
		c.SNATPortMin = 32768
	}
	if c.SNATPortMax == 0 {
		c.SNATPortMax = 65535
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// LB is the loaded eBPF dataplane: programs, maps, their attachments, and
// the engine that programs the maps from desired services. It implements
// model.Programmer.
type LB struct {
	cfg  Config
	log  *slog.Logger
	objs bpfObjects
	eng  *engine
	// sockTerm destroys UDP sockets with bpf_sock_destroy; nil when the
	// kernel lacks it (netlink SOCK_DESTROY is used instead). destroyMu
	// serializes its runs.
	sockTerm  *sockTerm
	destroyMu sync.Mutex

	mu      sync.Mutex
	links   []link.Link
	closers []func() error
	hooks   map[*ebpf.Program][]string // where each program is attached, for Stats
}

// Load loads the programs and maps. With a PinDir, maps already pinned
// there are reused (their contents become the engine's starting point, so
// the first Replace writes only differences); a pinned map whose layout no
// longer matches is replaced and logged.
func Load(cfg Config) (*LB, error) {
	cfg = cfg.withDefaults()
	if err := maglev.CheckSize(cfg.MaglevSize); err != nil {
		return nil, err
	}
	spec, err := loadBpf()
	if err != nil {
		return nil, fmt.Errorf("read BPF object: %w", err)
	}
	if err := configure(spec, cfg); err != nil {
		return nil, err
	}
	if cfg.EditSpec != nil {
		if err := cfg.EditSpec(spec); err != nil {
			return nil, err
		}
	}
	lb := &LB{cfg: cfg, log: cfg.Logger}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: cfg.PinDir}}
	if cfg.PinDir != "" {
		if err := os.MkdirAll(cfg.PinDir, 0o700); err != nil {
			return nil, fmt.Errorf("pin directory: %w", err)
		}
		if err := dropIncompatiblePins(spec, cfg.PinDir, lb.log); err != nil {
			return nil, err
		}
	}
	if err := spec.LoadAndAssign(&lb.objs, opts); err != nil {
		return nil, fmt.Errorf("load BPF programs: %w", err)
	}
	lb.eng = &engine{
		log:         lb.log,
		services:    lb.objs.Services,
		backends:    lb.objs.Backends,
		revNAT:      lb.objs.RevNat,
		maglevOuter: lb.objs.Maglev,
		stats:       lb.objs.Stats,
		maglevInner: spec.Maps["maglev"].InnerMap,
		maglevSize:  cfg.MaglevSize,
		fes:         make(map[feKey]*feState),
		owned:       make(map[types.NamespacedName]map[feKey]struct{}),
		feIDs:       newIDAllocator(uint32(cfg.Sizes.Frontends)),
		beIDs:       newIDAllocator(^uint32(0)),
	}
	if err := lb.eng.loadState(&lb.objs); err != nil {
		lb.objs.Close()
		return nil, fmt.Errorf("read pinned state: %w", err)
	}
	if lb.sockTerm, err = loadSockTerm(lb.objs.SockRevnat); err != nil {
		lb.log.Info("bpf_sock_destroy is not available (Linux 6.5+): UDP sockets of removed backends are destroyed with netlink SOCK_DESTROY", "err", err)
	}
	return lb, nil
}

// configure sizes the maps and sets the programs' constants.
func configure(spec *ebpf.CollectionSpec, cfg Config) error {
	sizes := map[string]int{
		"services":    cfg.Sizes.Services,
		"backends":    cfg.Sizes.Backends,
		"rev_nat":     cfg.Sizes.Frontends,
		"stats":       cfg.Sizes.Frontends,
		"conntrack":   cfg.Sizes.Conntrack,
		"affinity":    cfg.Sizes.Affinity,
		"sock_revnat": cfg.Sizes.SockRevNAT,
		"maglev":      cfg.Sizes.MaglevTables,
	}
	for name, n := range sizes {
		spec.Maps[name].MaxEntries = uint32(n)
	}
	spec.Maps["maglev"].InnerMap.MaxEntries = uint32(cfg.MaglevSize)
	for _, name := range pinnedMaps {
		if cfg.PinDir != "" {
			spec.Maps[name].Pinning = ebpf.PinByName
		}
	}
	vars := map[string]any{
		"host_netns_cookie": cfg.HostNetNSCookie,
		"maglev_size":       uint32(cfg.MaglevSize),
		"snat_port_min":     cfg.SNATPortMin,
		"snat_port_max":     cfg.SNATPortMax,
	}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

// pinnedMaps are the maps that hold state worth keeping across restarts.
var pinnedMaps = []string{
	"services", "backends", "rev_nat", "sock_revnat", "affinity", "conntrack",
	"maglev", "node_addrs", "stats", "drops",
}

// dropIncompatiblePins removes pinned maps whose layout differs from the
// new programs' (an upgrade that changed a struct): the new map starts
// empty and the sync repopulates it.
func dropIncompatiblePins(spec *ebpf.CollectionSpec, dir string, log *slog.Logger) error {
	for _, name := range pinnedMaps {
		path := filepath.Join(dir, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("open pinned map %s: %w", name, err)
		}
		cerr := spec.Maps[name].Compatible(m)
		m.Close()
		if cerr == nil {
			continue
		}
		log.Warn("pinned BPF map does not match the new programs; replacing it, its state is lost", "map", name, "reason", cerr)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove pinned map %s: %w", name, err)
		}
	}
	return nil
}

// Close closes the programs, maps and links held by this process. Pinned
// maps and links stay in the kernel; unpinned links detach.
func (lb *LB) Close() error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var errs []error
	for _, l := range lb.links {
		errs = append(errs, l.Close())
	}
	lb.links = nil
	for _, c := range lb.closers {
		errs = append(errs, c())
	}
	lb.closers = nil
	if lb.sockTerm != nil {
		errs = append(errs, lb.sockTerm.close())
		lb.sockTerm = nil
	}
	errs = append(errs, lb.objs.Close())
	return errors.Join(errs...)
}
