package scheduler

import (
	"fmt"
	"math"
	"slices"
	"time"

	"skiff.dev/skiff/bench/report"
	"skiff.dev/skiff/bench/stats"
)

// Targets from the design brief and published figures of other
// schedulers; reported against, never asserted.
const (
	targetPure = 5000.0
	targetAPI  = 2000.0
	targetSize = 5000
)

var published = []struct {
	what  string
	rate  float64
	notes string
}{
	{"kube-scheduler, scheduler_perf CI floor at 5,000 nodes (low end)", 680, "SchedulingBasic threshold"},
	{"kube-scheduler, scheduler_perf CI floor at 5,000 nodes (high end)", 810, ""},
	{"Gödel (ByteDance)", 1000, "published ~1,000 pods/s"},
	{"Nomad C1M", 3750, "3,750 placements/s on 5 servers"},
}

// cell is one mode at one size over all rounds.
type cell struct {
	mode   string
	nodes  int
	runs   []Run
	rate   stats.Spread
	steady stats.Spread
	p50    stats.Spread
	p99    stats.Spread
	first  stats.Spread
	sync   stats.Spread
	bind50 stats.Spread
	bind99 stats.Spread
	cpu    stats.Spread
}

func cells(runs []Run) []*cell {
	var out []*cell
	for _, r := range runs {
		var c *cell
		for _, x := range out {
			if x.mode == r.Mode && x.nodes == r.Nodes {
				c = x
			}
		}
		if c == nil {
			c = &cell{mode: r.Mode, nodes: r.Nodes}
			out = append(out, c)
		}
		c.runs = append(c.runs, r)
	}
	for _, c := range out {
		c.rate = stats.SpreadBy(c.runs, func(r Run) float64 { return r.PodsPerSec })
		c.steady = stats.SpreadBy(c.runs, func(r Run) float64 { return r.SteadyPodsPerSec })
		c.p50 = stats.SpreadBy(c.runs, func(r Run) float64 { return ms(r.Latency.P50) })
		c.p99 = stats.SpreadBy(c.runs, func(r Run) float64 { return ms(r.Latency.P99) })
		c.first = stats.SpreadBy(c.runs, func(r Run) float64 { return ms(r.FirstBind) })
		c.sync = stats.SpreadBy(c.runs, func(r Run) float64 { return ms(r.Sync) })
		c.bind50 = stats.SpreadBy(c.runs, func(r Run) float64 { return ms(r.BindLatency.P50) })
		c.bind99 = stats.SpreadBy(c.runs, func(r Run) float64 { return ms(r.BindLatency.P99) })
		c.cpu = stats.SpreadBy(c.runs, func(r Run) float64 { return ms(r.CPUPerPod) })
	}
	return out
}

func find(cs []*cell, mode string, nodes int) *cell {
	for _, c := range cs {
		if c.mode == mode && c.nodes == nodes {
			return c
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// sections turns the results into the report.
func sections(res *Results) []report.Section {
	cs := cells(res.Runs)
	out := []report.Section{targetsSection(res, cs), tableSection(res, cs), setupSection(res)}
	if len(res.Errors) > 0 {
		out = append(out, report.ErrorsSection(res.Errors))
	}
	return out
}

func targetsSection(res *Results, cs []*cell) report.Section {
	size := targetSize
	if !slices.Contains(res.Options.Nodes, size) {
		size = res.Options.Nodes[len(res.Options.Nodes)-1]
	}
	t := report.Table{Header: []string{"target (design brief)", "measured (median of rounds, min–max)", "vs target"}}
	for _, x := range []struct {
		mode   string
		target float64
	}{{modePure, targetPure}, {modeAPI, targetAPI}, {modeThrottled, targetAPI}, {modeStatic, targetAPI}} {
		c := find(cs, x.mode, size)
		if c == nil {
			continue
		}
		t.Rows = append(t.Rows, []string{
			fmt.Sprintf("%s, %s nodes, %s pods: >= %s pods/s", x.mode, report.FormatNumber(float64(size)), report.FormatNumber(float64(res.Options.Pods)), report.FormatNumber(x.target)),
			fmt.Sprintf("%s pods/s; p50 %s ms, p99 %s ms", report.FormatSpread(c.rate), report.FormatSpread(c.p50), report.FormatSpread(c.p99)),
			fmt.Sprintf("%.2f of target (%s)", c.rate.Median/x.target, verdict(c.rate.Median >= x.target)),
		})
	}
	ref := report.Table{
		Caption: fmt.Sprintf("Published figures beside the median at %s nodes (other machines, other workloads: orders of magnitude, not a race)", report.FormatNumber(float64(size))),
		Header:  []string{"reference", "pods/s", "pure pipeline here", "through the API here"},
	}
	pure, api := find(cs, modePure, size), find(cs, modeAPI, size)
	for _, p := range published {
		row := []string{p.what, report.FormatNumber(p.rate), "–", "–"}
		if pure != nil {
			row[2] = fmt.Sprintf("%.1fx", pure.rate.Median/p.rate)
		}
		if api != nil {
			row[3] = fmt.Sprintf("%.2fx", api.rate.Median/p.rate)
		}
		ref.Rows = append(ref.Rows, row)
	}
	return report.Section{
		Title: "Against the targets",
		Text: "Pods/s is pods placed over the time from the start (of the batch, or of the scheduler) to the last placement. " +
			"\"met\" and \"not met\" are information, not a pass/fail of the build.",
		Tables: []report.Table{t, ref},
		Data:   res,
	}
}

func tableSection(res *Results, cs []*cell) report.Section {
	t := report.Table{Header: []string{"mode", "nodes", "pods/s", "first→last bind pods/s", "p50 ms", "p99 ms", "first bind ms", "caches synced ms", "bind call p50 / p99 ms", "process CPU ms per pod", "placed", "warnings, lost Leases"}}
	chart := report.BarChart{Title: "Pods scheduled per second (median of rounds; whiskers: min–max)", YLabel: "pods/s", Log: true}
	series := map[string]*report.BarSeries{}
	var order []string
	for _, n := range res.Options.Nodes {
		chart.Groups = append(chart.Groups, report.FormatNumber(float64(n))+" nodes")
	}
	for _, c := range cs {
		placed, pods, warnings, lost := 0, 0, 0, 0
		for _, r := range c.runs {
			placed += r.Bound
			pods += r.Pods
			warnings += r.LogWarnings
			lost += max(r.Terms-1, 0)
		}
		row := []string{c.mode, report.FormatNumber(float64(c.nodes)), report.FormatSpread(c.rate), "–", report.FormatSpread(c.p50), report.FormatSpread(c.p99), "–", "–", "–", "–",
			fmt.Sprintf("%d/%d", placed, pods), "–"}
		if c.mode != modePure {
			row[3], row[6], row[7] = report.FormatSpread(c.steady), report.FormatSpread(c.first), report.FormatSpread(c.sync)
			row[8] = report.FormatSpread(c.bind50) + " / " + report.FormatSpread(c.bind99)
			row[9] = report.FormatSpread(c.cpu)
			row[11] = fmt.Sprintf("%d, %d", warnings, lost)
		}
		t.Rows = append(t.Rows, row)
		s := series[c.mode]
		if s == nil {
			s = &report.BarSeries{Name: c.mode}
			for range chart.Groups {
				s.Values = append(s.Values, math.NaN())
				s.Low = append(s.Low, math.NaN())
				s.High = append(s.High, math.NaN())
			}
			series[c.mode] = s
			order = append(order, c.mode)
		}
		for i, n := range res.Options.Nodes {
			if n == c.nodes {
				s.Values[i], s.Low[i], s.High[i] = c.rate.Median, c.rate.Min, c.rate.Max
			}
		}
	}
	for _, m := range order {
		chart.Series = append(chart.Series, *series[m])
	}
	t.Notes = []string{
		"Pure pipeline latency: the pipeline's work on one pod (parse, filter, score, assume). Through the API: from the scheduler's start, when all pods are already pending, until the benchmark's watch sees the pod bound; scheduler_perf also creates its measured pods before measuring them, so p50 is about half the batch time there too.",
		"\"first→last bind pods/s\" leaves out the scheduler's start (Lease, informers listing every node and pod). \"bind call\" is one pods/binding request as the scheduler's client timed it: the API's share. The scheduler keeps up to 256 in flight, so pods/s is at most 256 over the bind call's mean time.",
	}
	return report.Section{
		Title:   "Pods per second and latency",
		Tables:  []report.Table{t},
		Figures: []report.Figure{{Name: "scheduler-throughput", Caption: "Pods scheduled per second by cluster size", SVG: chart.SVG()}},
	}
}

func setupSection(res *Results) report.Section {
	o := res.Options
	text := fmt.Sprintf("scheduler_perf's SchedulingBasic shape: nodes of %s CPU, %s memory and %s pods over 3 zones, half of them with an observed usage sample; "+
		"%s pods asking for %s CPU and %s, owned by ReplicaSets of %d, created before each round. %d round(s) per size for the pure pipeline, %d through the API.\n\n"+
		"**Pure pipeline**: the pods are parsed, scheduled and assumed one after another on an in-memory snapshot, as the scheduler's loop does, with no API; it runs first, before the server starts.\n\n"+
		"**Through the API**: a skiff server runs in this process (embedded etcd, no scheduler of its own, the service account controller); simulated nodes (test/simnode) register with it, renew their Leases every %v, report status every %v, and their agent starts the pods bound to them (a status write per pod). "+
		"After the pods are created, a scheduler configured as the server runs it (leader-elected, observed usage from an in-process source, client in %s with no client-side rate limit) starts and binds every pod through pods/binding, writing a Scheduled event for each; the round ends when the benchmark's watch has seen every pod bound, and the pods are then deleted. "+
		"Sizes are measured in increasing order on one server, nodes being added between them.",
		nodeCPU, nodeMemory, nodePods, report.FormatNumber(float64(o.Pods)), o.PodCPU, o.PodMemory, podsPerOwner, o.Rounds, o.APIRounds,
		o.LeaseInterval, o.StatusInterval, o.ContentType)
	if o.Throttled {
		text += "\n\n**Standalone client limits**: the same with the client-side rate limit of a standalone `skiff scheduler` (QPS 500, burst 1,000)."
	}
	text += " The scheduler inside `skiff server` has no client-side rate limit; a standalone `skiff scheduler` is limited to QPS 500 (burst 1,000): at a bind and an event per pod, that alone caps it near 250 pods/s once the burst is spent (`-scheduler.throttled` measures it)."
	if o.Static {
		text += "\n\n**Static nodes**: the same after the simulated nodes' heartbeats and agent are stopped (the nodes stay registered and Ready), as scheduler_perf's nodes are: no Lease renewals and no pod status writes compete with the scheduler."
	}
	text += "\n\nEverything shares the machine's cores: the server, etcd, the simulated nodes, the watch and the scheduler."
	return report.Section{Title: "Setup", Text: text}
}
