package api

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
	targetCreateRatio   = 0.5
	targetMutatingP99   = 10 * time.Millisecond
	targetMemoryBytes   = 150e6
	briefEtcdPuts100    = 20500.0
	briefEtcdPuts1      = 2300.0
	briefEtcdPutsP99100 = 11 * time.Millisecond
)

// summary is one configuration's figures over all rounds, for the JSON.
type summary struct {
	Kind    string       `json:"kind"`
	Conn    string       `json:"conn,omitempty"`
	Clients int          `json:"clients,omitempty"`
	Rate    int          `json:"open_loop_rate,omitempty"`
	OpsPerS stats.Spread `json:"ops_per_sec"`
	// VsEtcd is the rate over the raw etcd puts' rate in the same round.
	VsEtcd *stats.Spread `json:"vs_etcd_put,omitempty"`
	P50ms  stats.Spread  `json:"p50_ms"`
	P99ms  stats.Spread  `json:"p99_ms"`
	Errors int           `json:"errors"`
}

// summaries summarises gs, with ratios to the raw etcd puts among refs.
func summaries(gs, refs []*group) []summary {
	var out []summary
	for _, g := range gs {
		s := summary{Kind: g.kind, Conn: g.conn, Clients: g.clients, Rate: g.rate, OpsPerS: g.rateSpread, P50ms: g.p50, P99ms: g.p99, Errors: g.errors}
		if ref := find(refs, "etcd put", "", g.clients, 0); ref != nil && g.kind != "etcd put" && g.rate == 0 {
			r := ratioTo(g, ref)
			s.VsEtcd = &r
		}
		out = append(out, s)
	}
	return out
}

// group is the cells of one configuration over all rounds.
type group struct {
	kind, conn   string
	clients      int
	rate         int
	cells        []Cell
	rateSpread   stats.Spread
	p50, p99     stats.Spread
	p999, maxLat stats.Spread
	serverCPU    stats.Spread
	loadgenCPU   stats.Spread
	errors       int
	dropped      int
}

func (g *group) label() string {
	if g.conn == "" {
		return g.kind
	}
	return g.kind + " (" + g.conn + ")"
}

// groups gathers cells by configuration, in the order they first ran.
func groups(cells []Cell) []*group {
	var out []*group
	find := func(c Cell) *group {
		for _, g := range out {
			if g.kind == c.Kind && g.conn == c.Conn && g.clients == c.Clients && g.rate == c.OpenRate {
				return g
			}
		}
		g := &group{kind: c.Kind, conn: c.Conn, clients: c.Clients, rate: c.OpenRate}
		out = append(out, g)
		return g
	}
	for _, c := range cells {
		g := find(c)
		g.cells = append(g.cells, c)
		g.errors += c.Errors
		g.dropped += c.Dropped
	}
	for _, g := range out {
		g.rateSpread = stats.SpreadBy(g.cells, func(c Cell) float64 { return c.Rate })
		g.p50 = stats.SpreadBy(g.cells, func(c Cell) float64 { return ms(c.Latency.P50) })
		g.p99 = stats.SpreadBy(g.cells, func(c Cell) float64 { return ms(c.Latency.P99) })
		g.p999 = stats.SpreadBy(g.cells, func(c Cell) float64 { return ms(c.Latency.P999) })
		g.maxLat = stats.SpreadBy(g.cells, func(c Cell) float64 { return ms(c.Latency.Max) })
		g.serverCPU = stats.SpreadBy(g.cells, func(c Cell) float64 { return c.ServerCPU })
		g.loadgenCPU = stats.SpreadBy(g.cells, func(c Cell) float64 { return c.LoadgenCPU })
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratioTo returns, round by round, g's rate over ref's rate in the same
// round.
func ratioTo(g, ref *group) stats.Spread {
	var v []float64
	for _, c := range g.cells {
		for _, r := range ref.cells {
			if r.Round == c.Round && r.Rate > 0 {
				v = append(v, c.Rate/r.Rate)
			}
		}
	}
	return stats.SpreadOf(v)
}

func find(gs []*group, kind, conn string, clients, rate int) *group {
	for _, g := range gs {
		if g.kind == kind && g.conn == conn && g.clients == clients && g.rate == rate {
			return g
		}
	}
	return nil
}

func ratio(s stats.Spread) string {
	if len(s.Rounds) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// sections turns the results into the report.
func sections(res *Results) []report.Section {
	gs := groups(res.Cells)
	var closed, open []*group
	for _, g := range gs {
		if g.rate > 0 {
			open = append(open, g)
		} else {
			closed = append(closed, g)
		}
	}
	out := []report.Section{
		targetsSection(res, closed, open),
		throughputSection(res, closed),
		openLoopSection(res, open),
		fanoutSection(res),
		memorySection(res),
		setupSection(res),
	}
	if e := errorsSection(res); e != nil {
		out = append(out, *e)
	}
	return out
}

func targetsSection(res *Results, closed, open []*group) report.Section {
	t := report.Table{Header: []string{"target (design brief)", "measured (median of rounds, min–max)", "vs target"}}
	most := res.Options.maxClients()
	etcdMost := find(closed, "etcd put", "", most, 0)
	for _, conn := range []string{"shared", "per-client"} {
		api := find(closed, "API create", conn, most, 0)
		if api == nil || etcdMost == nil {
			continue
		}
		r := ratioTo(api, etcdMost)
		t.Rows = append(t.Rows, []string{
			fmt.Sprintf("API creates/s at %d clients (%s connection) >= %.1fx raw etcd puts", most, conn, targetCreateRatio),
			fmt.Sprintf("%s creates/s vs %s puts/s = %s", report.FormatNumber(api.rateSpread.Median), report.FormatNumber(etcdMost.rateSpread.Median), ratio(r)),
			fmt.Sprintf("%.2f of target (%s)", r.Median/targetCreateRatio, verdict(r.Median >= targetCreateRatio)),
		})
	}
	if g := find(open, "API create", "shared", 0, res.Options.Rate); g != nil {
		t.Rows = append(t.Rows, []string{
			fmt.Sprintf("mutating p99 <= %v at %d writes/s (API creates, open loop)", targetMutatingP99, res.Options.Rate),
			fmt.Sprintf("p99 %s ms, p50 %s ms", report.FormatSpread(g.p99), report.FormatSpread(g.p50)),
			fmt.Sprintf("%.2f of the limit (%s)", g.p99.Median/ms(targetMutatingP99), verdict(g.p99.Median <= ms(targetMutatingP99))),
		})
	}
	t.Rows = append(t.Rows, []string{
		"memory: server + agent + embedded etcd, anonymous RSS <= 150 MB (agent not built yet: server with embedded etcd only)",
		fmt.Sprintf("idle %s at start, %s after load; peak under load %s", mb(res.IdleStart.Anon), mb(res.IdleEnd.Anon), mb(peakAnon(res))),
		fmt.Sprintf("idle %.2f of the budget, peak %.2f", float64(res.IdleStart.Anon)/targetMemoryBytes, float64(peakAnon(res))/targetMemoryBytes),
	})
	ref := report.Table{
		Caption: "The raw etcd reference beside the figures the brief measured on this machine class:",
		Header:  []string{"raw etcd puts", "measured here", "brief", "ratio"},
	}
	for _, n := range []int{1, 100} {
		g := find(closed, "etcd put", "", n, 0)
		if g == nil {
			continue
		}
		brief := briefEtcdPuts1
		extra := ""
		if n == 100 {
			brief = briefEtcdPuts100
			extra = fmt.Sprintf("; p99 %s ms vs %s ms", report.FormatNumber(g.p99.Median), report.FormatNumber(ms(briefEtcdPutsP99100)))
		}
		ref.Rows = append(ref.Rows, []string{plural(n, "client"), report.FormatSpread(g.rateSpread) + " puts/s", report.FormatNumber(brief) + " puts/s",
			fmt.Sprintf("%.2fx%s", g.rateSpread.Median/brief, extra)})
	}
	return report.Section{
		Title: "Against the targets",
		Text: "Ratios are computed round by round (each API phase against the raw etcd phase that ran just before it " +
			"at the same client count) and summarised as the median with the range. \"met\" and \"not met\" are " +
			"information, not a pass/fail of the build.",
		Tables: []report.Table{t, ref},
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

func peakAnon(res *Results) uint64 {
	var p uint64
	for _, c := range res.Cells {
		p = max(p, c.ServerPeak.Anon)
	}
	for _, f := range res.Fanouts {
		p = max(p, f.ServerPeak.Anon)
	}
	return p
}

func throughputSection(res *Results, closed []*group) report.Section {
	t := report.Table{Header: []string{"operation", "clients", "ops/s", "vs etcd put", "p50 ms", "p99 ms", "errors", "server CPU", "load generator CPU"}}
	for _, g := range closed {
		vs := "–"
		if ref := find(closed, "etcd put", "", g.clients, 0); ref != nil && g.kind != "etcd put" {
			vs = ratio(ratioTo(g, ref))
		}
		t.Rows = append(t.Rows, []string{g.label(), strconv.Itoa(g.clients), report.FormatSpread(g.rateSpread), vs, report.FormatSpread(g.p50), report.FormatSpread(g.p99),
			strconv.Itoa(g.errors), fmt.Sprintf("%.2f", g.serverCPU.Median), fmt.Sprintf("%.2f", g.loadgenCPU.Median)})
	}
	t.Notes = []string{
		fmt.Sprintf("Each cell: median over %d rounds, with the range in parentheses. CPU is in cores (the machine has %s). "+
			"An API list returns %d objects; a get reads one of %d objects.", res.Options.Rounds, cpuCount(), res.Options.ListSize, res.Options.maxClients()),
	}
	figs := []report.Figure{
		{Name: "throughput", Caption: "Closed-loop throughput by client count (median, whiskers: min–max over rounds)",
			SVG: chart(res, closed, "Requests per second (closed loop)", "requests/s", func(g *group) stats.Spread { return g.rateSpread }).SVG()},
		{Name: "p99", Caption: "Closed-loop p99 latency by client count (median, whiskers: min–max over rounds)",
			SVG: logScale(chart(res, closed, "p99 latency (closed loop, log scale)", "ms", func(g *group) stats.Spread { return g.p99 })).SVG()},
	}
	return report.Section{
		Title: "Throughput and latency at 1, 10 and 100 clients (closed loop)",
		Text: fmt.Sprintf("Every simulated client sends its next request as soon as the previous one answered, for %v after a %v warm-up. "+
			"Creates make new objects; updates rewrite one object per client (PUT with its resourceVersion); "+
			"\"shared\" multiplexes every client over one HTTP/2 connection (one clientset, as a Kubernetes process does), "+
			"\"per-client\" gives each client its own transport and TLS connection. Raw etcd puts write values of the stored object's size "+
			"to new keys through one clientv3 client (one gRPC connection).", res.Options.Duration, res.Options.Warmup),
		Tables:  []report.Table{t},
		Figures: figs,
		Data:    summaries(closed, closed),
	}
}

// chart draws one bar per configuration and client count.
func chart(res *Results, closed []*group, title, ylabel string, f func(*group) stats.Spread) report.BarChart {
	c := report.BarChart{Title: title, YLabel: ylabel}
	for _, n := range res.Options.Clients {
		c.Groups = append(c.Groups, plural(n, "client"))
	}
	var labels []string
	for _, p := range closedPhases() {
		g := group{kind: p.kind}
		if p.kind != "etcd put" {
			g.conn = connName(p.perClient)
		}
		labels = append(labels, g.label())
	}
	for _, l := range labels {
		s := report.BarSeries{Name: l}
		for _, n := range res.Options.Clients {
			v, lo, hi := math.NaN(), math.NaN(), math.NaN()
			for _, g := range closed {
				if g.label() == l && g.clients == n {
					sp := f(g)
					v, lo, hi = sp.Median, sp.Min, sp.Max
				}
			}
			s.Values, s.Low, s.High = append(s.Values, v), append(s.Low, lo), append(s.High, hi)
		}
		if slices.ContainsFunc(s.Values, func(v float64) bool { return !math.IsNaN(v) }) {
			c.Series = append(c.Series, s)
		}
	}
	return c
}

func openLoopSection(res *Results, open []*group) report.Section {
	t := report.Table{Header: []string{"operation", "requested /s", "completed /s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "not sent", "server CPU"}}
	for _, g := range open {
		t.Rows = append(t.Rows, []string{g.label(), strconv.Itoa(g.rate), report.FormatSpread(g.rateSpread), report.FormatSpread(g.p50), report.FormatSpread(g.p99), report.FormatSpread(g.p999), report.FormatSpread(g.maxLat),
			strconv.Itoa(g.errors), strconv.Itoa(g.dropped), fmt.Sprintf("%.2f", g.serverCPU.Median)})
	}
	return report.Section{
		Title: fmt.Sprintf("Mutating latency at a fixed %d writes/s (open loop)", res.Options.Rate),
		Text: fmt.Sprintf("Requests are sent on a fixed schedule whatever the answers (each in its own goroutine, at most %d in flight), "+
			"for %v after a 1 s warm-up, and each latency runs from the moment the request was due, so a stall counts against "+
			"every request it delayed. The API writes are creates of new objects on the shared connection.", 10*res.Options.Rate, res.Options.RateDuration),
		Tables: []report.Table{t},
		Data:   summaries(open, nil),
	}
}

func fanoutSection(res *Results) report.Section {
	t := report.Table{Header: []string{"watch connections", "watchers", "objects", "complete rounds", "events/s delivered", "writer creates/s",
		"lag p50 ms", "lag p99 ms", "lag max ms", "missing (all rounds)", "duplicates", "errors", "server CPU", "load generator CPU"}}
	for _, conn := range []string{"shared", "per-client"} {
		var all, ok []Fanout
		missing, dups, errs := 0, 0, 0
		for _, f := range res.Fanouts {
			if f.Conn != conn {
				continue
			}
			all = append(all, f)
			missing, dups, errs = missing+f.Missing, dups+f.Duplicates, errs+f.Errors
			if f.Missing == 0 && f.Duplicates == 0 && f.Errors == 0 {
				ok = append(ok, f)
			}
		}
		if len(all) == 0 {
			continue
		}
		t.Rows = append(t.Rows, []string{conn, strconv.Itoa(all[0].Watchers), strconv.Itoa(all[0].Objects),
			fmt.Sprintf("%d of %d", len(ok), len(all)),
			report.FormatSpread(stats.SpreadBy(ok, func(f Fanout) float64 { return f.EventsPerSec })),
			report.FormatSpread(stats.SpreadBy(ok, func(f Fanout) float64 { return f.WriterRate })),
			report.FormatSpread(stats.SpreadBy(ok, func(f Fanout) float64 { return ms(f.Lag.P50) })),
			report.FormatSpread(stats.SpreadBy(ok, func(f Fanout) float64 { return ms(f.Lag.P99) })),
			report.FormatSpread(stats.SpreadBy(ok, func(f Fanout) float64 { return ms(f.Lag.Max) })),
			strconv.Itoa(missing), strconv.Itoa(dups), strconv.Itoa(errs),
			cores(stats.SpreadBy(ok, func(f Fanout) float64 { return f.ServerCPU })),
			cores(stats.SpreadBy(ok, func(f Fanout) float64 { return f.LoadgenCPU }))})
	}
	t.Notes = []string{"Rates, lags and CPU are over the complete rounds only: those in which every watcher received every event exactly once."}
	return report.Section{
		Title: "Watch fan-out",
		Text: fmt.Sprintf("%d client-go watches on the ConfigMaps of a fresh namespace, started from its list's resourceVersion; then one "+
			"writer creates %d objects there one after another. Events/s counts ADDED events received by all watchers, from the first "+
			"create to the last event received. Lag runs from a create's response to a watcher receiving the event (it can be negative "+
			"when the event arrives before the response). \"shared\": all watches on one HTTP/2 connection; \"per-client\": a connection "+
			"per watcher, as separate agents would have. The watchers decode events in the load generator, which shares the machine's "+
			"cores with the server. All watches stop together after the measurement; then one new watch must see a new object "+
			"within %v (failures are listed under Errors).", res.Options.Watchers, res.Options.WatchObjects, probeTimeout),
		Tables: []report.Table{t},
	}
}

func memorySection(res *Results) report.Section {
	t := report.Table{Header: []string{"server state", "anonymous RSS (RssAnon)", "file RSS (RssFile)", "total RSS (VmRSS)", "etcd holds after the round"}}
	add := func(name string, anon, file, rss uint64) {
		t.Rows = append(t.Rows, []string{name, mb(anon), mb(file), mb(rss), ""})
	}
	add(fmt.Sprintf("idle, %v after start", res.Options.IdleSettle), res.IdleStart.Anon, res.IdleStart.File, res.IdleStart.RSS)
	for round := 1; round <= res.Options.Rounds; round++ {
		var cells []Cell
		for _, c := range res.Cells {
			if c.Round == round {
				cells = append(cells, c)
			}
		}
		for _, f := range res.Fanouts {
			if f.Round == round {
				cells = append(cells, Cell{Kind: "watch fan-out", Conn: f.Conn, usage: f.usage})
			}
		}
		p := peakOf(cells)
		if p.Kind == "" {
			continue
		}
		stored := ""
		if round <= len(res.Stored) {
			st := res.Stored[round-1]
			stored = fmt.Sprintf("%d ConfigMaps, %d keys, database %s", st.ConfigMaps, st.Keys, mb(uint64(st.DBSize)))
		}
		where := (&group{kind: p.Kind, conn: p.Conn}).label()
		if p.Clients > 0 {
			where += ", " + plural(p.Clients, "client")
		}
		t.Rows = append(t.Rows, []string{fmt.Sprintf("peak under load, round %d (highest in: %s)", round, where),
			mb(p.ServerPeak.Anon), mb(p.ServerPeak.File), mb(p.ServerPeak.RSS), stored})
	}
	add(fmt.Sprintf("idle, %v after the load", res.Options.IdleSettle), res.IdleEnd.Anon, res.IdleEnd.File, res.IdleEnd.RSS)
	t.Notes = []string{fmt.Sprintf("MB are 10^6 bytes. Highest resident set since start (VmHWM) at the end: %s. Peaks are the highest of samples taken every 100 ms "+
		"in every round. Anonymous RSS is what the memory target counts; file RSS is mostly the binary and etcd's mmapped bbolt database.", mb(res.IdleEnd.Peak))}
	return report.Section{
		Title:  "Server memory, idle and under load",
		Text:   "Read from /proc/<pid>/status of the server process, which holds the API server and the embedded etcd member (no agent yet).",
		Tables: []report.Table{t},
	}
}

func peakOf(cells []Cell) (p Cell) {
	for _, c := range cells {
		if c.ServerPeak.Anon > p.ServerPeak.Anon {
			p = c
		}
	}
	return p
}

func setupSection(res *Results) report.Section {
	o := res.Options
	s := res.Sizes
	clients := make([]string, len(o.Clients))
	for i, c := range o.Clients {
		clients[i] = strconv.Itoa(c)
	}
	text := fmt.Sprintf(`- Server: %s, with its embedded etcd member; HTTPS on 127.0.0.1 with the admin client certificate from its kubeconfig.
- API clients: client-go (typed clientset), client-side rate limit off, wire format %s.
- Reference: raw etcd puts through a real clientv3 client over a localhost gRPC connection to the same server's embedded member (its client port), measured in the same rounds, interleaved with the API phases, so both share the machine's state. The API server reaches that member the same way (a clientv3 client over localhost gRPC).
- Objects: ConfigMaps of %d bytes as stored in etcd (Kubernetes protobuf; a %d-byte payload value), %d bytes as the JSON body of a create, %d bytes as the body of a GET. Raw etcd puts write %d-byte values.
- Rounds: %d; clients: %s; each closed-loop phase: %v warm-up + %v measured. Load generator and server share the machine's %s cores.
- Flags: every figure above is set by a flag of `+"`skiff-bench`"+` (%s).`,
		res.Server, o.ContentType, s.Stored, s.Payload, s.Request, s.Response, s.Stored,
		o.Rounds, strings.Join(clients, ", "), o.Warmup, o.Duration, cpuCount(), "`-api.rounds`, `-api.duration`, `-api.clients`, ... see `-help`")
	return report.Section{Title: "Method", Text: text, Data: res}
}

func errorsSection(res *Results) *report.Section {
	t := report.Table{Header: []string{"phase", "round", "errors", "examples"}}
	for _, c := range res.Cells {
		if c.Errors > 0 {
			t.Rows = append(t.Rows, []string{fmt.Sprintf("%s, %d clients", (&group{kind: c.Kind, conn: c.Conn}).label(), c.Clients), strconv.Itoa(c.Round), strconv.Itoa(c.Errors), clip(strings.Join(c.ErrorSamples, " / "))})
		}
	}
	for _, f := range res.Fanouts {
		if f.Errors > 0 || f.Missing != 0 || f.Duplicates > 0 {
			t.Rows = append(t.Rows, []string{"watch fan-out (" + f.Conn + ")", strconv.Itoa(f.Round), strconv.Itoa(f.Errors),
				clip(strings.Join(append(append([]string{fmt.Sprintf("missing %d, duplicates %d", f.Missing, f.Duplicates)}, f.MissingExamples...), f.ErrorSamples...), "; "))})
		}
	}
	if len(t.Rows) == 0 && len(res.Findings) == 0 {
		return nil
	}
	x := &report.Section{Title: "Errors", Text: "Requests that failed during the benchmark (they are not counted in the rates above), " +
		"watch events that never arrived, and other misbehaviour of the server."}
	if len(t.Rows) > 0 {
		x.Tables = []report.Table{t}
	}
	if len(res.Findings) > 0 {
		x.Text += "\n"
	}
	for _, f := range res.Findings {
		x.Text += "\n- " + f
	}
	return x
}

func cpuCount() string { return strconv.Itoa(runtime.NumCPU()) }

// plural is "1 client", "10 clients".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// clip shortens s for a table cell; results.json keeps it whole.
func clip(s string) string {
	const limit = 400
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}

func logScale(c report.BarChart) report.BarChart {
	c.Log = true
	return c
}

// cores prints the median CPU use of a spread.
func cores(s stats.Spread) string {
	if len(s.Rounds) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", s.Median)
}
