package controllers

import (
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"skiff.dev/skiff/bench/report"
	"skiff.dev/skiff/bench/stats"
)

// Figures of kube-controller-manager's documented defaults, for context.
const (
	kcmQPS     = 20
	kcmBurst   = 30
	kcmWorkers = 5
)

// sections turns the results into the report.
func sections(res *Results) []report.Section {
	out := []report.Section{resultsSection(res), rolloverSection(res), churnSection(res), contextSection(res), methodSection(res)}
	if len(res.Errors) > 0 {
		out = append(out, report.ErrorsSection(res.Errors))
	}
	return out
}

func ms(d time.Duration) float64  { return float64(d) / float64(time.Millisecond) }
func sec(d time.Duration) float64 { return d.Seconds() }

// queueSpreads is one work queue over the rounds it did work in.
type queueSpreads struct {
	name             string
	rounds           int
	syncs            stats.Spread
	p50, p99, max    stats.Spread
	workP50, workP99 stats.Spread
}

// queueTable summarises the queues over rounds, in queueOrder.
func queueTable(rounds []map[string]Queue) []queueSpreads {
	names := map[string]bool{}
	for _, r := range rounds {
		for n := range r {
			names[n] = true
		}
	}
	var out []queueSpreads
	for _, n := range queueOrder(slices.Collect(maps.Keys(names))) {
		var qs []Queue
		for _, r := range rounds {
			if q, ok := r[n]; ok {
				qs = append(qs, q)
			}
		}
		out = append(out, queueSpreads{
			name: n, rounds: len(qs),
			syncs:   stats.SpreadBy(qs, func(q Queue) float64 { return float64(q.Latency.Count) }),
			p50:     stats.SpreadBy(qs, func(q Queue) float64 { return ms(q.Latency.P50) }),
			p99:     stats.SpreadBy(qs, func(q Queue) float64 { return ms(q.Latency.P99) }),
			max:     stats.SpreadBy(qs, func(q Queue) float64 { return ms(q.Latency.Max) }),
			workP50: stats.SpreadBy(qs, func(q Queue) float64 { return ms(q.Work.P50) }),
			workP99: stats.SpreadBy(qs, func(q Queue) float64 { return ms(q.Work.P99) }),
		})
	}
	return out
}

func findQueue(qs []queueSpreads, name string) *queueSpreads {
	for i := range qs {
		if qs[i].name == name {
			return &qs[i]
		}
	}
	return nil
}

func queueRows(qs []queueSpreads, rounds int) report.Table {
	t := report.Table{Header: []string{"work queue", "syncs per round", "queue latency p50 ms", "p99 ms", "max ms", "sync p50 ms", "sync p99 ms"}}
	for _, q := range qs {
		name := q.name
		if q.rounds < rounds {
			name += fmt.Sprintf(" (busy in %d of %d rounds)", q.rounds, rounds)
		}
		t.Rows = append(t.Rows, []string{name, report.FormatSpread(q.syncs), report.FormatSpread(q.p50), report.FormatSpread(q.p99), report.FormatSpread(q.max), report.FormatSpread(q.workP50), report.FormatSpread(q.workP99)})
	}
	t.Notes = []string{"Queue latency: from a key's add (after any deliberate delay) until a worker takes it; sync: a worker's work on one key. " +
		"Percentiles are over every sample of a round; each cell is the median over rounds with the range in parentheses."}
	return t
}

// latencyChart draws the p50 and p99 of the queues.
func latencyChart(title string, qs []queueSpreads) report.BarChart {
	c := report.BarChart{Title: title, YLabel: "ms", Log: true}
	p50 := report.BarSeries{Name: "p50"}
	p99 := report.BarSeries{Name: "p99"}
	for _, q := range qs {
		c.Groups = append(c.Groups, strings.TrimSuffix(q.name, "-controller"))
		p50.Values, p50.Low, p50.High = append(p50.Values, q.p50.Median), append(p50.Low, q.p50.Min), append(p50.High, q.p50.Max)
		p99.Values, p99.Low, p99.High = append(p99.Values, q.p99.Median), append(p99.Low, q.p99.Min), append(p99.High, q.p99.Max)
	}
	c.Series = []report.BarSeries{p50, p99}
	return c
}

func rolloverQueues(res *Results) []queueSpreads {
	var rounds []map[string]Queue
	for _, r := range res.Rollovers {
		rounds = append(rounds, r.Queues)
	}
	return queueTable(rounds)
}

func churnQueues(res *Results) []queueSpreads {
	var rounds []map[string]Queue
	for _, r := range res.Churn {
		rounds = append(rounds, r.Queues)
	}
	return queueTable(rounds)
}

func resultsSection(res *Results) report.Section {
	o := res.Options
	t := report.Table{Header: []string{"measurement", fmt.Sprintf("median (min–max) of %d rounds", o.Rounds)}}
	out := stats.SpreadBy(res.Rollovers, func(r Rollover) float64 { return sec(r.RolledOut) })
	over := stats.SpreadBy(res.Rollovers, func(r Rollover) float64 { return sec(r.RolledOver) })
	t.Rows = append(t.Rows,
		[]string{fmt.Sprintf("%d-replica Deployment on %d simulated nodes: template change → rolled over", o.Replicas, o.Nodes), report.FormatSpread(over) + " s"},
		[]string{"the same Deployment: create → rolled out", report.FormatSpread(out) + " s"},
	)
	cq := churnQueues(res)
	for _, n := range []string{queueEndpoints, queueEndpointSlice, queueReplicaSet, queueDeployment} {
		if q := findQueue(cq, n); q != nil {
			t.Rows = append(t.Rows, []string{fmt.Sprintf("work-queue latency p99 while %s pods churn: %s", report.FormatNumber(float64(o.churnPods())), n), report.FormatSpread(q.p99) + " ms"})
		}
	}
	if len(res.Churn) > 0 {
		t.Rows = append(t.Rows, []string{"pod readiness changes written during the churn", report.FormatSpread(stats.SpreadBy(res.Churn, ChurnRound.UpdatesPerSec)) + " /s"})
	}
	return report.Section{
		Title: "Results",
		Text: "The two benchmarks of the workload controllers, on a skiff server in this process running its scheduler and all its " +
			"controllers as `skiff server` does, with simulated nodes. The design brief sets no target for them: the figures are " +
			"absolute, and kube-controller-manager's documented defaults are given for context further down.",
		Tables: []report.Table{t},
		Data:   res,
	}
}

func rolloverSection(res *Results) report.Section {
	o := res.Options
	t := report.Table{Header: []string{"phase", "median s", "min–max s", "rounds s"}}
	for _, p := range []struct {
		what string
		f    func(Rollover) float64
	}{
		{"create → rolled out", func(r Rollover) float64 { return sec(r.RolledOut) }},
		{"template change → rolled over", func(r Rollover) float64 { return sec(r.RolledOver) }},
	} {
		s := stats.SpreadBy(res.Rollovers, p.f)
		rounds := ""
		for i, v := range s.Rounds {
			if i > 0 {
				rounds += ", "
			}
			rounds += report.FormatNumber(v)
		}
		t.Rows = append(t.Rows, []string{p.what, report.FormatNumber(s.Median), fmt.Sprintf("%s–%s", report.FormatNumber(s.Min), report.FormatNumber(s.Max)), rounds})
	}
	qs := rolloverQueues(res)
	qt := queueRows(qs, len(res.Rollovers))
	qt.Caption = "The controllers' work queues from the Deployment's creation to the end of its rollover:"
	chart := report.BarChart{Title: fmt.Sprintf("%d-replica Deployment (median; whiskers: min–max)", o.Replicas), YLabel: "seconds",
		Groups: []string{"create → rolled out", "template change → rolled over"}}
	s1 := stats.SpreadBy(res.Rollovers, func(r Rollover) float64 { return sec(r.RolledOut) })
	s2 := stats.SpreadBy(res.Rollovers, func(r Rollover) float64 { return sec(r.RolledOver) })
	chart.Series = []report.BarSeries{{Name: "skiff", Values: []float64{nanIfEmpty(s1), nanIfEmpty(s2)},
		Low: []float64{s1.Min, s2.Min}, High: []float64{s1.Max, s2.Max}}}
	return report.Section{
		Title: fmt.Sprintf("Rollover of a %d-replica Deployment", o.Replicas),
		Text: fmt.Sprintf("A Deployment of %d replicas (rolling update, maxSurge and maxUnavailable 25%%, Kubernetes' defaults; minReadySeconds 0) "+
			"is created and timed until `kubectl rollout status` would call it rolled out; then its image changes and the time runs until the "+
			"new ReplicaSet has all %d replicas available and no old pod is left. Simulated pods start as soon as they are bound and stop as "+
			"soon as they are deleted, so the times are the control plane's: the Deployment and ReplicaSet controllers, the scheduler and "+
			"the API server, with the simulated kubelets' status writes. The benchmark polls the Deployment every 20 ms. %s",
			o.Replicas, o.Replicas, idleText(stats.SpreadBy(res.Rollovers, func(r Rollover) float64 { return sec(r.Idle) }))),
		Tables:  []report.Table{t, qt},
		Figures: []report.Figure{{Name: "rollover", Caption: "Rollout and rollover times", SVG: chart.SVG()}},
	}
}

// idleText says how long the rounds waited for the controllers to go
// idle.
func idleText(s stats.Spread) string {
	if len(s.Rounds) == 0 {
		return ""
	}
	return fmt.Sprintf("Before each round, the benchmark waited until no controller queue had held a key for %v: %s s (median, min–max), "+
		"so that no round measures work left by what came before it.", idleFor, report.FormatSpread(s))
}

func nanIfEmpty(s stats.Spread) float64 {
	if len(s.Rounds) == 0 {
		return math.NaN()
	}
	return s.Median
}

func churnSection(res *Results) report.Section {
	o := res.Options
	qs := churnQueues(res)
	qt := queueRows(qs, len(res.Churn))
	ft := report.Table{Header: []string{"flip", "readiness writes/s", "writes done s", "endpoints converged s"}}
	for _, f := range []struct {
		what string
		get  func(ChurnRound) float64
		done func(ChurnRound) float64
		conv func(ChurnRound) float64
	}{
		{"every pod → unready",
			func(r ChurnRound) float64 { return r.Unready.UpdatesPerSec() },
			func(r ChurnRound) float64 { return sec(r.Unready.Written) },
			func(r ChurnRound) float64 { return sec(r.Unready.Converged) }},
		{"every pod → ready",
			func(r ChurnRound) float64 { return r.Ready.UpdatesPerSec() },
			func(r ChurnRound) float64 { return sec(r.Ready.Written) },
			func(r ChurnRound) float64 { return sec(r.Ready.Converged) }},
	} {
		ft.Rows = append(ft.Rows, []string{f.what, report.FormatSpread(stats.SpreadBy(res.Churn, f.get)), report.FormatSpread(stats.SpreadBy(res.Churn, f.done)), report.FormatSpread(stats.SpreadBy(res.Churn, f.conv))})
	}
	ft.Notes = []string{"\"Endpoints converged\" runs from the first readiness write until every EndpointSlice and every Endpoints object shows " +
		"the new readiness of every pod (seen through a watch)."}
	return report.Section{
		Title: fmt.Sprintf("Work-queue latency while %s pods churn", report.FormatNumber(float64(o.churnPods()))),
		Text: fmt.Sprintf("%d Services, each in front of a Deployment of %d pods (%s pods on %d simulated nodes; set up in %v). A round makes every "+
			"pod unready, then ready again, through the simulated kubelet as a failing and recovering readiness probe would (a pod status "+
			"write each, %d in flight at once), each flip waiting until both the Endpoints and the EndpointSlice controller have published "+
			"it; then %v more for the syncs it still causes. Every controller of the server reacts as it would to such churn: the Endpoints "+
			"and EndpointSlice controllers rewrite their objects, the ReplicaSet controller counts ready replicas, the Deployment controller "+
			"its available ones. The queue figures cover the whole round. %s",
			o.Services, o.PodsPerService, report.FormatNumber(float64(o.churnPods())), o.Nodes, res.ChurnSetup.Round(100*time.Millisecond), o.Writers, o.Settle,
			idleText(stats.SpreadBy(res.Churn, func(r ChurnRound) float64 { return sec(r.Idle) }))),
		Tables: []report.Table{qt, ft},
		Figures: []report.Figure{{Name: "churn-queue-latency", Caption: "Work-queue latency by controller while pods churn (log scale)",
			SVG: latencyChart("Work-queue latency during the churn (median of rounds; whiskers: min–max)", qs).SVG()}},
	}
}

func contextSection(res *Results) report.Section {
	o := res.Options
	writes := 2 * o.Replicas
	bound := fmt.Sprintf("fit in its burst of %d", kcmBurst)
	if writes > kcmBurst {
		bound = fmt.Sprintf("cannot go out in less than (%d − %d) / %d = %.1f s from its client alone", writes, kcmBurst, kcmQPS, float64(writes-kcmBurst)/kcmQPS)
	}
	text := fmt.Sprintf(`No published figure measures these two things the same way, so none is compared here. What kube-controller-manager documents about the same controllers, and how skiff differs:

- **Client rate limit.** Each of kube-controller-manager's controllers gets its own API client, limited client-side to `+"`--kube-api-qps`"+` %d and `+"`--kube-api-burst`"+` %d by default. skiff's server gives its controllers one shared loopback client limited to 500 requests/s, burst 1,000. Arithmetic from those defaults, not a measurement: rolling %d replicas over makes the ReplicaSet controller write %d pods (%d creates, %d deletes), which %s.
- **Workers.** `+"`--concurrent-deployment-syncs`, `--concurrent-replicaset-syncs`, `--concurrent-endpoint-syncs` and `--concurrent-service-endpoint-syncs`"+` all default to %d; skiff's controllers default to %d workers each as well.
- **Batching.** `+"`--endpoint-updates-batch-period` and `--endpointslice-updates-batch-period`"+` default to 0: each pod change queues its Services at once, and the only batching is the work queue's own, which folds further adds of a key still waiting into one sync. The EndpointSlice controller delays the syncs that changes to its own slices cause by at least 1 s (`+"`endpointSliceChangeMinSyncDelay`"+`). skiff keeps the same defaults (BatchPeriod 0, a 1 s delay for slice changes). A batch period would trade latency for fewer writes; a deliberately delayed add counts as queue latency only once its delay has passed, in both.
- **The metric.** kube-controller-manager exports this queue latency as `+"`workqueue_queue_duration_seconds`"+`, a histogram whose buckets are a factor of 10 apart (10 ns to 10 s), so a p99 read from it is known only to within a decade. The figures here are exact percentiles of every sample, taken through the same client-go metrics hook.`,
		kcmQPS, kcmBurst, o.Replicas, writes, o.Replicas, o.Replicas, bound, kcmWorkers, kcmWorkers)
	return report.Section{Title: "kube-controller-manager, for context", Text: text}
}

func methodSection(res *Results) report.Section {
	o := res.Options
	text := fmt.Sprintf(`- Server: a skiff server in this process (embedded etcd, HTTPS on 127.0.0.1) running its scheduler and its whole controller set (`+"`server.ControllerConstructors`"+`, leader-elected, one loopback client at 500 requests/s, burst 1,000), as `+"`skiff server`"+` does.
- Nodes: %d simulated nodes (test/simnode) of %d pods each: Leases renewed and status reported every 10 s, a mini kubelet that starts a bound pod at once (Running and Ready, with an address from the node's podCIDR) and finishes a deleted one at once.
- Work queues: client-go's metrics hook (`+"`workqueue.SetProvider`"+`) records every sample of every controller queue the server creates; the simulated kubelet's queue is left out.
- Warm-up: one unmeasured rollover of 2 replicas, so that the controllers and the scheduler hold their Leases and have synced caches. Before every round, a wait until no controller queue has held a key for %v.
- Rounds: %d rollovers, then %d churn rounds; rollover and churn use separate namespaces and each cleans up after itself.
- Everything shares the machine's %s cores: API server, etcd, controllers, scheduler, simulated nodes and the benchmark's clients.
- Flags: `+"`-controllers.rounds`, `-controllers.nodes`, `-controllers.replicas`, `-controllers.services`, `-controllers.pods-per-service`, `-controllers.writers`, `-controllers.settle`, `-controllers.timeout`"+`.`,
		o.Nodes, podsPerNode, idleFor, o.Rounds, o.Rounds, strconv.Itoa(runtime.NumCPU()))
	return report.Section{Title: "Method", Text: text}
}
