package dataplane

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"skiff.dev/skiff/bench/report"
	"skiff.dev/skiff/bench/stats"
)

// Targets from the design brief; reported against, never asserted.
const (
	targetVsLimit     = 0.97
	targetVsLegacy    = 1.7
	targetVsNft       = 3.0
	targetNodePort    = 0.9
	targetProgram     = 300 * time.Millisecond
	targetLatencyP99  = 100 * time.Millisecond
	briefTargetSize   = 10000
	briefLegacyAt10k  = 0.56
	briefNftAt10k     = 0.28
	briefRestoreRange = "2.7-7.5 s"
)

// key identifies a cell across rounds.
type key struct {
	scenario, mode string
	services       int
}

// group is one cell's successful rounds.
type group struct {
	key
	cells  []cellResult
	failed int
}

// groups are the cells by key, in report order.
type groups struct {
	order []key
	by    map[key]*group
}

// groupCells gathers the cells' rounds; failed rounds are only counted.
func groupCells(cells []cellResult) groups {
	gs := groups{by: make(map[key]*group)}
	for _, c := range cells {
		k := key{c.Scenario, c.Mode, c.Services}
		g := gs.by[k]
		if g == nil {
			g = &group{key: k}
			gs.by[k] = g
			gs.order = append(gs.order, k)
		}
		if c.Err != "" {
			g.failed++
			continue
		}
		g.cells = append(g.cells, c)
	}
	slices.SortStableFunc(gs.order, func(a, b key) int {
		if a.scenario != b.scenario {
			return strings.Compare(b.scenario, a.scenario) // ClusterIP first
		}
		if a.mode != b.mode {
			return modeRank(a.mode) - modeRank(b.mode)
		}
		return a.services - b.services
	})
	return gs
}

func modeRank(m string) int { return slices.Index([]string{modeEBPF, modeLegacy, modeNft}, m) }

// get returns the group of a cell, or nil when it has no successful round.
func (gs groups) get(scenario, mode string, services int) *group {
	g := gs.by[key{scenario, mode, services}]
	if g == nil || len(g.cells) == 0 {
		return nil
	}
	return g
}

func (g *group) spread(f func(cellResult) float64) stats.Spread {
	v := make([]float64, len(g.cells))
	for i, c := range g.cells {
		v[i] = f(c)
	}
	return stats.SpreadOf(v)
}

// ratio is a/b round by round, over the rounds both completed.
func ratio(a, b *group, f metric) stats.Spread {
	var v []float64
	for _, x := range a.cells {
		for _, y := range b.cells {
			if x.Round == y.Round && f(y.Service) > 0 {
				v = append(v, f(x.Service)/f(y.Service))
			}
		}
	}
	return stats.SpreadOf(v)
}

// metric reads one figure of a measurement.
type metric func(measurement) float64

func newRate(m measurement) float64  { return m.New.Rate }
func keepRate(m measurement) float64 { return m.KeepAlive.Rate }
func newP50(m measurement) float64   { return ms(m.New.P50us) }
func newP99(m measurement) float64   { return ms(m.New.P99us) }
func keepP50(m measurement) float64  { return ms(m.KeepAlive.P50us) }
func keepP99(m measurement) float64  { return ms(m.KeepAlive.P99us) }

// service and direct read a metric of the service path and of the
// no-service path measured in the same cell.
func service(f metric) func(cellResult) float64 {
	return func(c cellResult) float64 { return f(c.Service) }
}
func direct(f metric) func(cellResult) float64 {
	return func(c cellResult) float64 { return f(c.Direct) }
}

// vsDirect is, cell by cell, the service path's figure over the
// no-service path's measured just before in the same topology.
func (g *group) vsDirect(f metric) stats.Spread {
	var v []float64
	for _, c := range g.cells {
		if d := f(c.Direct); d > 0 {
			v = append(v, f(c.Service)/d)
		}
	}
	return stats.SpreadOf(v)
}

// directOf is the no-service path measured in every cell of a scenario
// (services > 0: of that size only).
func (gs groups) directOf(scenario string, services int, f metric) stats.Spread {
	var v []float64
	for _, k := range gs.order {
		if k.scenario != scenario || (services > 0 && k.services != services) {
			continue
		}
		for _, c := range gs.by[k].cells {
			v = append(v, f(c.Direct))
		}
	}
	return stats.SpreadOf(v)
}
func programS(c cellResult) float64 { return c.Program.Seconds() }
func restoreS(c cellResult) float64 { return c.Restore.Seconds() }
func changeS(c cellResult) float64  { return c.Change.Seconds() }

func times(s stats.Spread) string {
	switch len(s.Rounds) {
	case 0:
		return "–"
	case 1:
		return fmt.Sprintf("%.2fx", s.Median)
	}
	return fmt.Sprintf("%.2fx (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

// seconds prints a spread of seconds in a readable unit.
func seconds(s stats.Spread) string {
	if len(s.Rounds) == 0 {
		return "–"
	}
	f := func(v float64) string { return dur(time.Duration(v * float64(time.Second))) }
	if len(s.Rounds) == 1 {
		return f(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

func modeLabel(scenario, mode string) string {
	switch {
	case mode == modeDirect && scenario == scenarioClusterIP:
		return "no-service path"
	case mode == modeDirect:
		return "direct path"
	case mode == modeEBPF:
		return "eBPF"
	}
	return mode
}

func servicesLabel(n int) string {
	if n == 0 {
		return "–"
	}
	return report.FormatNumber(float64(n))
}

// sections turns the results into the report.
func sections(res *Results) []report.Section {
	if res == nil {
		return nil
	}
	gs := groupCells(res.Cells)
	out := []report.Section{targetsSection(res, gs)}
	for _, sc := range []string{scenarioClusterIP, scenarioNodePort} {
		if x := throughputSection(res, gs, sc); x != nil {
			out = append(out, *x)
		}
	}
	if x := bpfSection(res, gs); x != nil {
		out = append(out, *x)
	}
	if x := programSection(res, gs); x != nil {
		out = append(out, *x)
	}
	if x := latencySection(res); x != nil {
		out = append(out, *x)
	}
	out = append(out, methodSection(res))
	if x := errorsSection(res); x != nil {
		out = append(out, *x)
	}
	return out
}

// largest is the biggest size measured, the one targets are read at.
func largest(sizes []int) int {
	if len(sizes) == 0 {
		return 0
	}
	return slices.Max(sizes)
}

func atSize(n int) string {
	s := report.FormatNumber(float64(n)) + " services"
	if n == 1 {
		s = "1 service"
	}
	if n != briefTargetSize {
		s += fmt.Sprintf(" (the target is set at %s)", report.FormatNumber(briefTargetSize))
	}
	return s
}

func targetsSection(res *Results, gs groups) report.Section {
	t := report.Table{Header: []string{"target (design brief)", "measured (median of rounds, min–max)", "vs target"}}
	add := func(what, measured, vs string) { t.Rows = append(t.Rows, []string{what, measured, vs}) }
	big := largest(res.Options.Sizes)
	rates := []struct {
		name string
		f    metric
	}{{"new connections/s", newRate}, {"keep-alive requests/s", keepRate}}
	ebpf := gs.get(scenarioClusterIP, modeEBPF, big)
	if ebpf != nil {
		for _, m := range rates {
			r := ebpf.vsDirect(m.f)
			add(fmt.Sprintf("ClusterIP via eBPF, %s x %d endpoints: %s >= %.2fx the no-service path", atSize(big), res.Options.Endpoints, m.name, targetVsLimit),
				fmt.Sprintf("%s vs %s = %s", report.FormatSpread(ebpf.spread(service(m.f))), report.FormatSpread(ebpf.spread(direct(m.f))), times(r)),
				verdict(r.Median >= targetVsLimit))
		}
		if c, ok := hookCost(ebpf, "connect4", true); ok {
			add("per-connect cost of the socket program (BPF stats: run_time_ns / run_cnt)",
				fmt.Sprintf("connect4: %.0f ns per run, %.2f runs per connection", c.NsPerRun(), c.perRequest),
				"reported")
		}
	}
	for _, ref := range []struct {
		mode   string
		target float64
	}{{modeLegacy, targetVsLegacy}, {modeNft, targetVsNft}} {
		ipt := gs.get(scenarioClusterIP, ref.mode, big)
		if ebpf == nil || ipt == nil {
			continue
		}
		r := ratio(ebpf, ipt, newRate)
		add(fmt.Sprintf("eBPF vs %s, new connections/s at %s: >= %.1fx", ref.mode, atSize(big), ref.target),
			fmt.Sprintf("%s vs %s = %s", report.FormatSpread(ebpf.spread(service(newRate))), report.FormatSpread(ipt.spread(service(newRate))), times(r)),
			verdict(r.Median >= ref.target))
	}
	for _, n := range res.Options.NodePortSizes {
		np := gs.get(scenarioNodePort, modeEBPF, n)
		if np == nil {
			continue
		}
		for _, m := range rates {
			r := np.vsDirect(m.f)
			add(fmt.Sprintf("NodePort via eBPF, %s: %s >= %.1fx the client reaching the backend directly", plural(n, "service"), m.name, targetNodePort),
				fmt.Sprintf("%s vs %s = %s", report.FormatSpread(np.spread(service(m.f))), report.FormatSpread(np.spread(direct(m.f))), times(r)),
				verdict(r.Median >= targetNodePort))
		}
	}
	if g := gs.get(scenarioClusterIP, modeEBPF, big); g != nil {
		p := g.spread(programS)
		measured := "eBPF " + seconds(p)
		for _, m := range []string{modeLegacy, modeNft} {
			ig := gs.get(scenarioClusterIP, m, big)
			if ig == nil {
				continue
			}
			measured += fmt.Sprintf("; %s: full iptables-restore %s", m, seconds(ig.spread(restoreS)))
			if sync := ig.spread(programS); sync.Median > 0 {
				measured += ", skiff's sync " + seconds(sync)
			}
		}
		add(fmt.Sprintf("programming %s x %d endpoints, desired state in memory -> last map write: < %v", atSize(big), res.Options.Endpoints, targetProgram),
			measured, verdict(p.Median < targetProgram.Seconds()))
	}
	for _, l := range res.Latency {
		if l.Mode != modeEBPF || l.Err != "" {
			continue
		}
		worst := max(l.Usable.P99, l.Unusable.P99)
		add(fmt.Sprintf("EndpointSlice write acknowledged -> backend usable / unusable in the eBPF dataplane: p99 < %v", targetLatencyP99),
			fmt.Sprintf("usable p99 %s, unusable p99 %s (%d and %d writes, %s services)", dur(l.Usable.P99), dur(l.Unusable.P99),
				l.Usable.Count, l.Unusable.Count, report.FormatNumber(float64(l.Services))),
			verdict(worst < targetLatencyP99))
	}
	return report.Section{
		Title: "Against the targets",
		Text: fmt.Sprintf("Against the no-service or direct path, ratios pair each cell with that path measured seconds before in the same "+
			"topology (before the dataplane started); between modes, they pair the cells of one round. Each is summarised as the median "+
			"over rounds with the range. \"met\" and \"not met\" are information, not a pass/fail of the build. For comparison, "+
			"the brief measured iptables at %s services on this machine class at %.2fx (legacy) and %.2fx (nft) of the no-service "+
			"path, and full iptables-restore times of %s.", report.FormatNumber(briefTargetSize), briefLegacyAt10k, briefNftAt10k, briefRestoreRange),
		Tables: []report.Table{t},
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return report.FormatNumber(float64(n)) + " " + noun + "s"
}

func ms(us float64) float64 { return us / 1000 }

func throughputSection(res *Results, gs groups, scenario string) *report.Section {
	var rows [][]string
	var groups []*group
	for _, k := range gs.order {
		if g := gs.by[k]; k.scenario == scenario && len(g.cells) > 0 {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	latency := func(p50, p99 stats.Spread) string { return report.FormatSpread(p50) + " / " + report.FormatSpread(p99) }
	cells := 0
	for _, g := range groups {
		cells += len(g.cells)
	}
	var directErrs int64
	for _, g := range groups {
		for _, c := range g.cells {
			directErrs += c.Direct.New.Errors + c.Direct.KeepAlive.Errors
		}
	}
	rows = append(rows, []string{modeLabel(scenario, modeDirect), "–",
		report.FormatSpread(gs.directOf(scenario, 0, newRate)), "1", latency(gs.directOf(scenario, 0, newP50), gs.directOf(scenario, 0, newP99)),
		report.FormatSpread(gs.directOf(scenario, 0, keepRate)), "1", latency(gs.directOf(scenario, 0, keepP50), gs.directOf(scenario, 0, keepP99)),
		strconv.FormatInt(directErrs, 10), fmt.Sprintf("%d (every cell)", cells)})
	for _, g := range groups {
		var errs int64
		for _, c := range g.cells {
			errs += c.Service.New.Errors + c.Service.KeepAlive.Errors
		}
		rows = append(rows, []string{
			modeLabel(scenario, g.mode), servicesLabel(g.services),
			report.FormatSpread(g.spread(service(newRate))), times(g.vsDirect(newRate)), latency(g.spread(service(newP50)), g.spread(service(newP99))),
			report.FormatSpread(g.spread(service(keepRate))), times(g.vsDirect(keepRate)), latency(g.spread(service(keepP50)), g.spread(service(keepP99))),
			strconv.FormatInt(errs, 10), fmt.Sprintf("%d of %d", len(g.cells), len(g.cells)+g.failed),
		})
	}
	o := res.Options
	load := fmt.Sprintf("wrk (%d threads, %d connections, %v per run)", o.Threads, o.Connections, o.Duration)
	sizes, modes := o.Sizes, o.Modes
	text := load + " in the pod namespace, inside the cgroup the socket programs attach to, connects to the ClusterIP of the " +
		"measured service (the last of N; last in KUBE-SERVICES too), which spreads over its endpoints. In every cell the same pod " +
		"first connects straight to a backend address, before the dataplane starts: the no-service path, the limit. Ratios pair " +
		"the two runs of a cell."
	if scenario == scenarioNodePort {
		sizes, modes = o.NodePortSizes, o.NodePortModes
		text = load + " in the client namespace, outside the programs' cgroup, connects to the node's ext0 address at the " +
			"measured service's node port (the last of N), which the node translates to one of the endpoints (eBPF: tc on ext0 " +
			"and on the backend device, Maglev, no SNAT for a local backend; iptables: KUBE-NODEPORTS with masquerade). In every " +
			"cell the same client first connects straight to a backend address, before the dataplane starts: the direct path. " +
			"Ratios pair the two runs of a cell."
	}
	t := report.Table{
		Header: []string{"path", "services", "new connections/s", "vs " + modeLabel(scenario, modeDirect), "new conn. p50 / p99 ms",
			"keep-alive requests/s", "vs " + modeLabel(scenario, modeDirect), "keep-alive p50 / p99 ms", "wrk errors", "rounds"},
		Rows: rows,
		Notes: []string{"Median over rounds with the range in parentheses (the first row: over every cell's no-service run). " +
			"Latency is wrk's, from a request's write to its response: a new connection's handshake is not in it."},
	}
	name := strings.ToLower(scenario)
	figs := []report.Figure{
		{Name: name + "-new", Caption: fmt.Sprintf("%s: new connections/s by service count (median, whiskers: min–max over rounds)", scenario),
			SVG: chart(fmt.Sprintf("%s: new connections per second", scenario), "connections/s", scenario, sizes, modes, gs, newRate).SVG()},
		{Name: name + "-keepalive", Caption: fmt.Sprintf("%s: keep-alive requests/s by service count (median, whiskers: min–max over rounds)", scenario),
			SVG: chart(fmt.Sprintf("%s: keep-alive requests per second", scenario), "requests/s", scenario, sizes, modes, gs, keepRate).SVG()},
	}
	var data []groupSummary
	for _, g := range groups {
		data = append(data, summarize(g))
	}
	return &report.Section{
		Title:   scenario + ": connections and requests per second",
		Text:    text,
		Tables:  []report.Table{t},
		Figures: figs,
		Data:    data,
	}
}

// groupSummary is one cell's figures over its rounds, for the JSON.
type groupSummary struct {
	Scenario       string        `json:"scenario"`
	Mode           string        `json:"mode"`
	Services       int           `json:"services"`
	NewPerS        stats.Spread  `json:"new_connections_per_sec"`
	DirectNewPerS  stats.Spread  `json:"direct_new_connections_per_sec"`
	NewVsDirect    stats.Spread  `json:"new_vs_direct"`
	KeepAlivePerS  stats.Spread  `json:"keep_alive_requests_per_sec"`
	DirectKeepPerS stats.Spread  `json:"direct_keep_alive_requests_per_sec"`
	KeepVsDirect   stats.Spread  `json:"keep_alive_vs_direct"`
	NewP99ms       stats.Spread  `json:"new_p99_ms"`
	KeepP99ms      stats.Spread  `json:"keep_alive_p99_ms"`
	ProgramS       stats.Spread  `json:"program_seconds"`
	RestoreS       *stats.Spread `json:"full_restore_seconds,omitempty"`
	ChangeS        stats.Spread  `json:"change_seconds"`
	FailedRounds   int           `json:"failed_rounds"`
}

func summarize(g *group) groupSummary {
	s := groupSummary{
		Scenario: g.scenario, Mode: g.mode, Services: g.services,
		NewPerS: g.spread(service(newRate)), DirectNewPerS: g.spread(direct(newRate)), NewVsDirect: g.vsDirect(newRate),
		KeepAlivePerS: g.spread(service(keepRate)), DirectKeepPerS: g.spread(direct(keepRate)), KeepVsDirect: g.vsDirect(keepRate),
		NewP99ms: g.spread(service(newP99)), KeepP99ms: g.spread(service(keepP99)),
		ProgramS: g.spread(programS), ChangeS: g.spread(changeS),
		FailedRounds: g.failed,
	}
	if g.mode == modeLegacy || g.mode == modeNft {
		r := g.spread(restoreS)
		s.RestoreS = &r
	}
	return s
}

// chart draws one group of bars per service count: the no-service path
// measured in that size's cells, and each mode.
func chart(title, ylabel, scenario string, sizes []int, modes []string, gs groups, f metric) report.BarChart {
	c := report.BarChart{Title: title, YLabel: ylabel}
	for _, n := range sizes {
		c.Groups = append(c.Groups, plural(n, "service"))
	}
	for _, mode := range append([]string{modeDirect}, modes...) {
		s := report.BarSeries{Name: modeLabel(scenario, mode)}
		for _, n := range sizes {
			sp := stats.Spread{}
			if mode == modeDirect {
				sp = gs.directOf(scenario, n, f)
			} else if g := gs.get(scenario, mode, n); g != nil {
				sp = g.spread(service(f))
			}
			v, lo, hi := math.NaN(), math.NaN(), math.NaN()
			if len(sp.Rounds) > 0 {
				v, lo, hi = sp.Median, sp.Min, sp.Max
			}
			s.Values, s.Low, s.High = append(s.Values, v), append(s.Low, lo), append(s.High, hi)
		}
		c.Series = append(c.Series, s)
	}
	return c
}

// hookStat is a program's work per request over all rounds of a cell.
type hookStat struct {
	progCost
	perRequest float64 // runs per request
	nsPerReq   float64
}

// hookCost sums a hook's statistics over the cell's rounds.
func hookCost(g *group, hook string, newConns bool) (hookStat, bool) {
	var h hookStat
	var requests int64
	found := false
	for _, c := range g.cells {
		costs, w := c.Service.KeepAliveBPF, c.Service.KeepAlive
		if newConns {
			costs, w = c.Service.NewBPF, c.Service.New
		}
		for _, pc := range costs {
			if pc.Hook == hook {
				found = true
				h.Hook, h.Name = pc.Hook, pc.Name
				h.Runs += pc.Runs
				h.RunTime += pc.RunTime
			}
		}
		if len(costs) > 0 {
			requests += w.Requests
		}
	}
	if !found || requests == 0 {
		return h, false
	}
	h.perRequest = float64(h.Runs) / float64(requests)
	h.nsPerReq = float64(h.RunTime) / float64(requests)
	return h, true
}

func bpfSection(res *Results, gs groups) *report.Section {
	t := report.Table{Header: []string{"scenario", "services", "hook (program)", "new conn.: runs per connection", "ns per run", "ns per connection",
		"keep-alive: runs per request", "ns per run", "ns per request"}}
	for _, k := range gs.order {
		g := gs.by[k]
		if k.mode != modeEBPF || len(g.cells) == 0 {
			continue
		}
		var hooks []string
		for _, c := range g.cells {
			for _, pc := range c.Service.NewBPF {
				if !slices.Contains(hooks, pc.Hook) {
					hooks = append(hooks, pc.Hook)
				}
			}
		}
		total := [2]float64{}
		for _, hook := range hooks {
			n, okN := hookCost(g, hook, true)
			ka, _ := hookCost(g, hook, false)
			if !okN || (n.perRequest < 0.01 && ka.perRequest < 0.01) {
				continue // traffic of other paths (ARP, a NodePort device the ClusterIP path never crosses)
			}
			total[0] += n.nsPerReq
			total[1] += ka.nsPerReq
			t.Rows = append(t.Rows, []string{k.scenario, servicesLabel(k.services), fmt.Sprintf("%s (%s)", hook, n.Name),
				fmt.Sprintf("%.2f", n.perRequest), fmt.Sprintf("%.0f", n.NsPerRun()), fmt.Sprintf("%.0f", n.nsPerReq),
				fmt.Sprintf("%.2f", ka.perRequest), fmt.Sprintf("%.0f", ka.NsPerRun()), fmt.Sprintf("%.0f", ka.nsPerReq)})
		}
		if total[0] > 0 {
			t.Rows = append(t.Rows, []string{k.scenario, servicesLabel(k.services), "**all programs**", "", "", fmt.Sprintf("**%.0f**", total[0]), "", "", fmt.Sprintf("**%.0f**", total[1])})
		}
	}
	if len(t.Rows) == 0 {
		return nil
	}
	t.Notes = []string{"Sums over every round's wrk runs. The tc programs run once per packet (both directions of a flow cross the node), the socket program once per connect()."}
	return &report.Section{
		Title: "Cost of the BPF programs (kernel BPF statistics)",
		Text: "During the eBPF cells the kernel's BPF run-time statistics are on (BPF_ENABLE_STATS, the mechanism behind " +
			"`sysctl kernel.bpf_stats_enabled`; the kernel turns them off when the benchmark closes the handle or dies). Before and after " +
			"each wrk run the benchmark reads run_time_ns and run_cnt of the programs attached to the pods' cgroup (connect4) and to the " +
			"node's devices, and divides by the requests wrk completed. The statistics' own overhead (two clock reads per run) is in " +
			"the eBPF throughput figures too.",
		Tables: []report.Table{t},
	}
}

func programSection(res *Results, gs groups) *report.Section {
	t := report.Table{Header: []string{"scenario", "mode", "services", "skiff's sync: all services into a fresh dataplane", "full iptables-restore of the same rules", "then one service's endpoints change (skiff's sync)"}}
	var cgs []*group
	for _, k := range gs.order {
		g := gs.by[k]
		if len(g.cells) == 0 {
			continue
		}
		if k.scenario == scenarioClusterIP {
			cgs = append(cgs, g)
		}
		sync, change, restore := seconds(g.spread(programS)), seconds(g.spread(changeS)), "–"
		if k.mode != modeEBPF {
			restore = seconds(g.spread(restoreS))
		}
		t.Rows = append(t.Rows, []string{k.scenario, modeLabel(k.scenario, k.mode), servicesLabel(k.services), sync, restore, change})
	}
	if len(t.Rows) == 0 {
		return nil
	}
	t.Notes = []string{fmt.Sprintf("Each service has %d endpoints; NodePort services also have a ClusterIP (and, in eBPF mode, a Maglev table). "+
		"Median over rounds with the range. iptables: %s.", res.Options.Endpoints, res.IPTables)}
	c := report.BarChart{Title: "Programming N ClusterIP services (log scale)", YLabel: "milliseconds", Log: true}
	for _, n := range res.Options.Sizes {
		c.Groups = append(c.Groups, plural(n, "service"))
	}
	type series struct {
		name, mode string
		f          func(cellResult) float64
	}
	var all []series
	short := strings.NewReplacer("iptables-", "", modeEBPF, "eBPF")
	for _, mode := range res.Options.Modes {
		all = append(all, series{short.Replace(mode) + " sync", mode, programS})
	}
	for _, mode := range res.Options.Modes {
		if mode != modeEBPF {
			all = append(all, series{short.Replace(mode) + " full restore", mode, restoreS})
		}
	}
	for _, sr := range all {
		s := report.BarSeries{Name: sr.name}
		for _, n := range res.Options.Sizes {
			v, lo, hi := math.NaN(), math.NaN(), math.NaN()
			for _, g := range cgs {
				if sp := g.spread(sr.f); g.mode == sr.mode && g.services == n && sp.Min > 0 { // 0: not run
					v, lo, hi = sp.Median*1000, sp.Min*1000, sp.Max*1000
				}
			}
			s.Values, s.Low, s.High = append(s.Values, v), append(s.Low, lo), append(s.High, hi)
		}
		c.Series = append(c.Series, s)
	}
	return &report.Section{
		Title: "Time to program services",
		Text: "skiff's sync: desired state in memory ([]model.Service) -> `Dataplane.Replace` returned: in eBPF mode the last map write " +
			"(into fresh maps), in iptables mode kube-proxy's full sync (iptables-save of the chains, then one `iptables-restore --noflush` " +
			"of every rule). Full iptables-restore: the same rules (the dataplane's `iptables.Render`) and the dataplane's jumps from the " +
			"built-in chains, loaded by one `iptables-restore` without --noflush, as the brief's reference measured it; the throughput " +
			"cells run on the rules this leaves. Then `Dataplane.Update` of one service with one endpoint fewer: eBPF writes only what " +
			"changed, iptables rewrites everything, as kube-proxy does. With iptables-nft, skiff's restore input starts with a table-wide " +
			"`-Z`, which makes iptables-nft-restore --noflush fetch the nat table in one dump: without it, iptables 1.8.x keeps every chain " +
			"the input names in a sorted list and fetches each one by a request of its own, and the sync grew quadratically with the " +
			"services (measured here, 2026-11-25: 3.5 s at 1,000 services against 0.5 s with `-Z`; 66 s at 2,000 and 487 s at 4,000 by hand before).",
		Tables:  []report.Table{t},
		Figures: []report.Figure{{Name: "program", Caption: "Time to program N ClusterIP services: skiff's sync and a full iptables-restore (median, whiskers: min–max; log scale)", SVG: c.SVG()}},
	}
}

func latencySection(res *Results) *report.Section {
	if len(res.Latency) == 0 {
		return nil
	}
	t := report.Table{Header: []string{"mode", "services", "start: syncs, then idle after", "writes (usable / unusable)", "usable p50 / p99 / max", "unusable p50 / p99 / max", "sync beat the response", "error"}}
	for _, l := range res.Latency {
		lat := func(s stats.Latency) string {
			if s.Count == 0 {
				return "–"
			}
			return fmt.Sprintf("%s / %s / %s", dur(s.P50), dur(s.P99), dur(s.Max))
		}
		t.Rows = append(t.Rows, []string{modeLabel("", l.Mode), report.FormatNumber(float64(l.Services)),
			fmt.Sprintf("%d, %s", l.Syncs, dur(l.Settle)), fmt.Sprintf("%d / %d", l.Usable.Count, l.Unusable.Count), lat(l.Usable), lat(l.Unusable), strconv.Itoa(l.Early), clip(l.Err)})
	}
	return &report.Section{
		Title: "EndpointSlice write -> dataplane",
		Text: fmt.Sprintf("An API server started in-process (embedded etcd, no controllers) holds %s services of %d endpoints with "+
			"their EndpointSlices. For each mode a dataplane on a fresh node namespace follows it (`Dataplane.Start`): one full sync "+
			"programs everything (what its informers queued while listing is in it), then changes go in batches; the benchmark waits until "+
			"it is idle (no sync for 1 s) and reports the syncs and the time that took. It then updates slices one after another, each write flipping one endpoint between ready (usable) and not ready (unusable), "+
			"and times from the update's response to the end of the sync that programmed that resourceVersion "+
			"(`Dataplane.EndpointSliceProgrammed`). A sync that finished before the response arrived counts as 0. kube-proxy's "+
			"reference point is its 1 s minimum sync period, which skiff's iptables mode keeps by default (after a burst of two syncs), "+
			"so one write after another there waits for it as it would with kube-proxy; eBPF mode has none.", report.FormatNumber(float64(res.Options.LatencyServices)), res.Options.Endpoints),
		Tables: []report.Table{t},
		Data:   res.Latency,
	}
}

func methodSection(res *Results) report.Section {
	o := res.Options
	text := fmt.Sprintf("Topology, built anew for every cell (network namespaces, veths, routes; nothing leaves them):\n\n"+
		"```\n"+
		"pod     eth0 %s  --- pod0 %s \\\n"+
		"                                       node: eBPF programs or iptables rules; forwards  --- bk0 %s --- backend eth0 %s.. (Go HTTP server)\n"+
		"client  eth0 %s  --- ext0 %s /      (unreachable routes for %s and %s)\n"+
		"```\n\n"+
		"- Modes: eBPF (skiff's dataplane: socket programs on the pods' cgroup v2 subtree, tc on ext0, pod0 and bk0), "+
		"iptables-legacy and iptables-nft (skiff's kube-proxy-shaped rules: KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP with `statistic --mode random`; "+
		"%s). Each cell builds a fresh topology, so that no mode inherits another's netfilter hooks or conntrack, and measures "+
		"the no-service path there first (the same client straight to a backend address, before the dataplane starts), then the "+
		"path through the measured service: ratios to the no-service path pair the two, seconds apart.\n"+
		"- Services: N services of %d endpoints; the measured one is the last (the last rule of KUBE-SERVICES); the others' endpoints are "+
		"addresses nothing answers. NodePort services take node ports from %d.\n"+
		"- Load: wrk, %d threads and %d connections for %v; new connections with `Connection: close` (the backend closes first; "+
		"`net.ipv4.tcp_max_tw_buckets=0` in the backend namespace), then keep-alive. Conntrack of the node is flushed before each run. "+
		"A probe request (bash's /dev/tcp, from the same namespace and cgroup) checks each path before its runs.\n"+
		"- Rounds: %d, every cell once per round in an order shuffled per round (seed %d). The machine's %d cores are shared by wrk, the "+
		"backend (in the benchmark process) and the kernel's work for both; the load average before and after the run is in the header.\n"+
		"- Flags: every size and duration above is a flag (`-dataplane.rounds`, `-dataplane.sizes`, `-dataplane.nodeport-sizes`, "+
		"`-dataplane.modes`, `-dataplane.duration`, `-dataplane.connections`, `-dataplane.latency-*`, ... see `skiff-bench -help`).",
		podAddr, nodePodAddr, nodeBackAddr, backendFirst, clientAddr, nodeExtAddr, serviceCIDR, dummyEndpoints,
		res.IPTables, o.Endpoints, nodePortBase, o.Threads, o.Connections, o.Duration, o.Rounds, o.Seed, runtime.NumCPU())
	if len(res.Swept) > 0 {
		text += "\n- Removed at start, left by an earlier run that was killed: " + strings.Join(res.Swept, ", ") + "."
	}
	return report.Section{Title: "Method", Text: text, Data: res}
}

func errorsSection(res *Results) *report.Section {
	t := report.Table{Header: []string{"round", "scenario", "mode", "services", "what"}}
	for _, c := range res.Cells {
		what := c.Err
		if what == "" {
			var parts []string
			for _, r := range []struct {
				name string
				r    run
			}{{"no-service path, new connections", c.Direct.New}, {"no-service path, keep-alive", c.Direct.KeepAlive},
				{"new connections", c.Service.New}, {"keep-alive", c.Service.KeepAlive}} {
				if r.r.Errors > 0 {
					parts = append(parts, fmt.Sprintf("%s: %d wrk errors (%s)", r.name, r.r.Errors, r.r.Detail))
				}
			}
			what = strings.Join(parts, "; ")
		}
		if what != "" {
			t.Rows = append(t.Rows, []string{strconv.Itoa(c.Round), c.Scenario, c.Mode, servicesLabel(c.Services), clip(what)})
		}
	}
	if len(t.Rows) == 0 {
		return nil
	}
	return &report.Section{Title: "Errors", Text: "Cells that failed (left out of every figure above) and wrk runs that saw errors.", Tables: []report.Table{t}}
}

// clip shortens s for a table cell; results.json keeps it whole.
func clip(s string) string {
	const limit = 300
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}
