package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"skiff.dev/skiff/bench"
	dplane "skiff.dev/skiff/dataplane"
	"skiff.dev/skiff/dataplane/model"
)

// The two ways of reaching a service.
const (
	scenarioClusterIP = "ClusterIP"
	scenarioNodePort  = "NodePort"
)

// cell is one measured configuration.
type cell struct {
	Scenario string `json:"scenario"`
	Mode     string `json:"mode"`
	// Services is how many services are programmed; the last is measured.
	Services int `json:"services"`
}

// cellResult is one cell measured in one round.
type cellResult struct {
	cell
	Round int `json:"round"`
	// Program is the time to program all services into a fresh dataplane
	// (Replace: desired state in memory -> last map write, or
	// iptables-restore returned).
	Program time.Duration `json:"program_ns,omitempty"`
	// Restore is the time of one full iptables-restore of the same rules
	// (iptables modes).
	Restore time.Duration `json:"restore_ns,omitempty"`
	// Change is the time to program one service whose endpoints changed
	// afterwards (an Update of that one service).
	Change time.Duration `json:"change_ns,omitempty"`
	// Direct is the no-service path, measured first in the same topology
	// before the dataplane started; Service is the path through the
	// measured service. Ratios pair them.
	Direct  measurement `json:"direct"`
	Service measurement `json:"service"`
	// Served counts the requests each endpoint address received.
	Served []int64 `json:"served"`
	Err    string  `json:"error,omitempty"`
}

// measurement is a new-connection run and a keep-alive run.
type measurement struct {
	// New is the run with a connection per request, KeepAlive the one with
	// persistent connections.
	New       run `json:"new_connections"`
	KeepAlive run `json:"keep_alive"`
	// NewBPF and KeepAliveBPF are the programs' work during the runs
	// (eBPF mode with -dataplane.bpf-stats).
	NewBPF       []progCost `json:"new_connections_bpf,omitempty"`
	KeepAliveBPF []progCost `json:"keep_alive_bpf,omitempty"`
}

// Results are everything the suite measured.
type Results struct {
	Options Options      `json:"options"`
	Cells   []cellResult `json:"cells"`
	Latency []latencyRun `json:"endpointslice_latency,omitempty"`
	// Swept lists leftovers of an earlier, killed run removed at start.
	Swept []string `json:"swept_leftovers,omitempty"`
	// IPTables is the iptables version the reference modes ran.
	IPTables string `json:"iptables_version"`
}

// plan lists the cells of one round.
func (o Options) plan() []cell {
	var out []cell
	for _, m := range o.Modes {
		for _, n := range o.Sizes {
			out = append(out, cell{Scenario: scenarioClusterIP, Mode: m, Services: n})
		}
	}
	for _, m := range o.NodePortModes {
		for _, n := range o.NodePortSizes {
			out = append(out, cell{Scenario: scenarioNodePort, Mode: m, Services: n})
		}
	}
	return out
}

// runner holds what every cell shares.
type runner struct {
	opts    Options
	log     *slog.Logger
	script  string
	cgroups *cgroups
	prefix  string
	seq     int
}

// measure runs the rounds, then the EndpointSlice latency measurement.
func measure(ctx context.Context, env bench.Env, o Options) (*Results, error) {
	res := &Results{Options: o, IPTables: iptablesVersion(ctx)}
	swept, err := sweepLeftovers(ctx)
	res.Swept = swept
	if err != nil {
		return res, fmt.Errorf("remove leftovers of an earlier run: %w", err)
	}
	if len(swept) > 0 {
		env.Logger.Warn("dataplane: removed leftovers of an earlier run", "what", swept)
	}
	script := filepath.Join(env.WorkDir, "summary.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return res, err
	}
	cg, err := newCgroups(os.Getpid())
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := cg.close(); cerr != nil {
			env.Logger.Warn("dataplane: remove cgroups", "err", cerr)
		}
	}()
	r := &runner{opts: o, log: env.Logger, script: script, cgroups: cg, prefix: fmt.Sprintf("%s%d", resourcePrefix, os.Getpid())}

	var failed []error
	plan := o.plan()
	for round := 1; round <= o.Rounds; round++ {
		cells := append([]cell(nil), plan...)
		rng := rand.New(rand.NewPCG(o.Seed, uint64(round)))
		rng.Shuffle(len(cells), func(i, j int) { cells[i], cells[j] = cells[j], cells[i] })
		for _, c := range cells {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			cr := r.runCell(ctx, c, round)
			res.Cells = append(res.Cells, cr)
			if cr.Err != "" {
				failed = append(failed, fmt.Errorf("round %d, %s %s %d: %s", round, c.Scenario, c.Mode, c.Services, cr.Err))
				env.Logger.Error("dataplane: cell failed", "round", round, "scenario", c.Scenario, "mode", c.Mode, "services", c.Services, "err", cr.Err)
				continue
			}
			env.Logger.Info("dataplane: cell", "round", round, "scenario", c.Scenario, "mode", c.Mode, "services", c.Services,
				"new/s", int(cr.Service.New.Rate), "direct new/s", int(cr.Direct.New.Rate),
				"keepalive/s", int(cr.Service.KeepAlive.Rate), "direct keepalive/s", int(cr.Direct.KeepAlive.Rate),
				"program", cr.Program.Round(time.Millisecond))
		}
	}
	if len(o.LatencyModes) > 0 && ctx.Err() == nil {
		lat, err := r.measureLatency(ctx, env.WorkDir)
		res.Latency = lat
		if err != nil {
			failed = append(failed, fmt.Errorf("EndpointSlice latency: %w", err))
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, errors.Join(failed...)
}

// newTopology makes the next cell's namespaces.
func (r *runner) newTopology(ctx context.Context) (*topology, error) {
	r.seq++
	return newTopology(ctx, r.prefix+"-"+strconv.Itoa(r.seq), r.opts.Endpoints)
}

// config is the node's dataplane configuration in mode.
func (r *runner) config(t *topology, mode string) dplane.Config {
	cfg := dplane.Config{
		NodeName:        "bench-node",
		Mode:            dplane.ModeEBPF,
		CgroupRoot:      r.cgroups.pods,
		Unpinned:        true,
		NetNS:           t.node.path,
		NodePortDevices: []string{devExt},
		PodDevices:      []string{devPod, devBackend},
		ServiceCIDRs:    []netip.Prefix{serviceCIDR},
		Logger:          r.quiet("dataplane"),
	}
	if b := iptablesBackend(mode); b != "" {
		cfg.Mode, cfg.IPTablesBackend = dplane.ModeIPTables, b
	}
	return cfg
}

func iptablesBackend(mode string) string {
	switch mode {
	case modeLegacy:
		return "legacy"
	case modeNft:
		return "nft"
	}
	return ""
}

// runCell measures one cell on a fresh topology and removes it.
func (r *runner) runCell(ctx context.Context, c cell, round int) cellResult {
	res := cellResult{cell: c, Round: round}
	if err := r.measureCell(ctx, &res); err != nil {
		res.Err = err.Error()
	}
	return res
}

func (r *runner) measureCell(ctx context.Context, res *cellResult) (err error) {
	c := res.cell
	t, err := r.newTopology(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, t.close()) }()
	endpoints := endpointAddrs(r.opts.Endpoints)
	be, err := startBackend(t.backend, endpoints)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, be.close()) }()

	// The ClusterIP client is a pod under the programs' cgroup; the
	// NodePort client is outside the node. First, the no-service path: the
	// same client straight to a backend address, nothing on the node yet.
	cl := client{ns: t.pod, cgroup: r.cgroups.podsDir}
	if c.Scenario == scenarioNodePort {
		cl = client{ns: t.client, cgroup: r.cgroups.outsideDir}
	}
	direct := netip.AddrPortFrom(endpoints[0], backendPort)
	if err := probe(ctx, cl, direct); err != nil {
		return err
	}
	if res.Direct, err = r.load(ctx, t, cl, direct, nil); err != nil {
		return err
	}

	svcs := benchServices(c.Services, endpoints, c.Scenario == scenarioNodePort)
	dp, err := dplane.New(r.config(t, c.Mode))
	if err != nil {
		return fmt.Errorf("start the dataplane: %w", err)
	}
	defer func() { err = errors.Join(err, dp.Close()) }()
	var hooks []byte
	b := iptablesBackend(c.Mode)
	if b != "" {
		if hooks, err = saveRules(ctx, t.node, b); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := dp.Replace(ctx, svcs); err != nil {
		return fmt.Errorf("program %d services: %w", len(svcs), err)
	}
	res.Program = time.Since(start)
	if b != "" {
		if res.Restore, err = restoreAll(ctx, t.node, b, hooks, svcs); err != nil {
			return err
		}
	}

	// Then the measured (last) service.
	measured := svcs[len(svcs)-1]
	target := netip.AddrPortFrom(measured.ClusterIP, servicePort)
	if c.Scenario == scenarioNodePort {
		target = netip.AddrPortFrom(nodeExtAddr, measured.Ports[0].NodePort)
	}
	if err := probe(ctx, cl, target); err != nil {
		return err
	}
	var st *bpfStats
	if c.Mode == modeEBPF && r.opts.BPFStats {
		if st, err = openBPFStats(dp); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, st.close()) }()
	}
	be.reset()
	if res.Service, err = r.load(ctx, t, cl, target, st); err != nil {
		return err
	}
	res.Served = be.served()

	// One endpoint of the first service goes away: the incremental sync's
	// cost beside kube-proxy's full resync.
	changed := svcs[0]
	changed.Endpoints = changed.Endpoints[1:]
	start = time.Now()
	if err := dp.Update(ctx, []model.Service{changed}, nil); err != nil {
		return fmt.Errorf("program one changed service: %w", err)
	}
	res.Change = time.Since(start)
	return nil
}

// load runs wrk against target from cl, new connections then keep-alive,
// each after a conntrack flush, with the programs' statistics when st is
// set.
func (r *runner) load(ctx context.Context, t *topology, cl client, target netip.AddrPort, st *bpfStats) (m measurement, err error) {
	url := fmt.Sprintf("http://%s/", target)
	for _, newConns := range []bool{true, false} {
		if err := t.flushConntrack(ctx); err != nil {
			return m, err
		}
		var before []progCost
		if st != nil {
			if before, err = st.snapshot(); err != nil {
				return m, err
			}
		}
		w, err := runWrk(ctx, r.script, r.opts, cl, url, newConns)
		if err != nil {
			return m, err
		}
		var cost []progCost
		if st != nil {
			after, err := st.snapshot()
			if err != nil {
				return m, err
			}
			cost = since(before, after)
		}
		if newConns {
			m.New, m.NewBPF = w, cost
		} else {
			m.KeepAlive, m.KeepAliveBPF = w, cost
		}
	}
	return m, nil
}
