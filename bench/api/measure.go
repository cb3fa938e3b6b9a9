package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/bench/procstat"
)

// Options sets what the API benchmarks measure and for how long.
type Options struct {
	// Rounds repeats every measurement; the report gives the median and
	// the spread.
	Rounds int `json:"rounds"`
	// Clients are the numbers of concurrent simulated clients.
	Clients []int `json:"clients"`
	// Warmup and Duration are each closed-loop phase's unmeasured start
	// and measured window.
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	// PerClient also measures creates and gets with a connection per
	// simulated client, beside the shared connection.
	PerClient bool `json:"per_client"`
	// ObjectSize is the size of an object as stored in etcd, and of the
	// raw etcd puts.
	ObjectSize int `json:"object_size"`
	// ListSize is the number of objects each list returns.
	ListSize int `json:"list_size"`
	// Watchers and WatchObjects shape the watch fan-out.
	Watchers     int `json:"watchers"`
	WatchObjects int `json:"watch_objects"`
	// Rate and RateDuration shape the open-loop mutating measurement.
	Rate         int           `json:"rate"`
	RateDuration time.Duration `json:"rate_duration_ns"`
	// IdleSettle is how long the server sits idle before its idle memory
	// is read, at start and after the load.
	IdleSettle time.Duration `json:"idle_settle_ns"`
	// ContentType is the client's wire format.
	ContentType string `json:"content_type"`
}

// DefaultOptions finish in about three minutes on a 2-core machine.
func DefaultOptions() Options {
	return Options{
		Rounds: 3, Clients: []int{1, 10, 100}, Warmup: 400 * time.Millisecond, Duration: 1200 * time.Millisecond,
		PerClient: true, ObjectSize: 1536, ListSize: 100, Watchers: 100, WatchObjects: 500,
		Rate: 500, RateDuration: 4 * time.Second, IdleSettle: 10 * time.Second, ContentType: "application/json",
	}
}

func (o Options) maxClients() int {
	n := 0
	for _, c := range o.Clients {
		n = max(n, c)
	}
	return n
}

// Results is everything the API suite measured.
type Results struct {
	Options Options `json:"options"`
	Server  string  `json:"server"`
	Sizes   sizes   `json:"object_sizes"`
	// IdleStart and IdleEnd are the server's memory after IdleSettle of
	// idleness, before and after all load.
	IdleStart procstat.Memory `json:"idle_start"`
	IdleEnd   procstat.Memory `json:"idle_end"`
	Cells     []Cell          `json:"cells"`
	Fanouts   []Fanout        `json:"watch_fanout"`
	// Stored is what etcd held after each round.
	Stored []storeState `json:"stored_after_round"`
	// Findings are server misbehaviours outside any one phase, such as a
	// shutdown that hung.
	Findings []string `json:"findings,omitempty"`
}

// Cell is one load phase of one round.
type Cell struct {
	Round int `json:"round"`
	// Kind is what ran: "etcd put", "API create", "API update", "API get",
	// "API list".
	Kind string `json:"kind"`
	// Conn is "shared" or "per-client" for API phases.
	Conn    string `json:"conn,omitempty"`
	Clients int    `json:"clients"`
	// OpenRate is set for open-loop phases: the requested requests/s.
	OpenRate int `json:"open_loop_rate,omitempty"`
	loadResult
	usage
}

// Fanout is one watch fan-out of one round.
type Fanout struct {
	Round int    `json:"round"`
	Conn  string `json:"conn"`
	// Probe is empty when a new watch, started after the fan-out's watches
	// stopped, saw a new object; otherwise it says what went wrong.
	Probe string `json:"probe_after_stop,omitempty"`
	fanoutResult
	usage
}

// runner measures one target.
type runner struct {
	opts Options
	t    target
	c    *clients
	obj  objects
	log  *slog.Logger
	// pool holds one object per simulated client for updates and gets,
	// with its latest version.
	pool []*corev1.ConfigMap
	// phase numbers load phases, so that every created name is new.
	phase int
	res   *Results
	// alive reports an error once the server is gone.
	alive func() error
}

// measure runs every API benchmark against t and returns the results,
// partial ones with the error if a phase failed.
func measure(ctx context.Context, t target, opts Options, log *slog.Logger, alive func() error) (*Results, error) {
	r, err := newRunner(ctx, t, opts, log, alive)
	if err != nil {
		return &Results{Options: opts, Server: t.describe}, err
	}
	defer r.close()
	res := r.res

	log.Info("api: server idle", "settle", opts.IdleSettle)
	if err := sleep(ctx, opts.IdleSettle); err != nil {
		return res, err
	}
	if res.IdleStart, err = procstat.ReadMemory(t.pid); err != nil {
		return res, err
	}
	if err := r.prepare(ctx); err != nil {
		return res, err
	}
	for round := 1; round <= opts.Rounds; round++ {
		log.Info("api: round", "round", round, "of", opts.Rounds)
		if err := r.round(ctx, round); err != nil {
			return res, fmt.Errorf("round %d: %w", round, err)
		}
		st, err := readStore(ctx, r.c.etcd, t.etcdEndpoint)
		if err != nil {
			return res, err
		}
		res.Stored = append(res.Stored, st)
	}
	log.Info("api: server idle after load", "settle", opts.IdleSettle)
	if err := sleep(ctx, opts.IdleSettle); err != nil {
		return res, err
	}
	if res.IdleEnd, err = procstat.ReadMemory(t.pid); err != nil {
		return res, err
	}
	return res, alive()
}

// newRunner connects to t; close releases the connections.
func newRunner(ctx context.Context, t target, opts Options, log *slog.Logger, alive func() error) (*runner, error) {
	c, err := dialClients(ctx, t, opts.ContentType, max(opts.maxClients(), opts.Watchers))
	if err != nil {
		return nil, err
	}
	res := &Results{Options: opts, Server: t.describe}
	return &runner{opts: opts, t: t, c: c, log: log, res: res, alive: alive}, nil
}

func (r *runner) close() { r.c.close() }

// prepare makes the namespaces, sizes the objects and fills the list
// namespace and the update pool.
func (r *runner) prepare(ctx context.Context) error {
	api := r.c.shared
	for _, ns := range []string{nsObjects, nsList} {
		if err := createNamespace(ctx, api, ns); err != nil {
			return err
		}
	}
	var err error
	if r.obj, r.res.Sizes, err = calibrate(ctx, api, r.c.etcd, r.opts.ObjectSize); err != nil {
		return err
	}
	r.log.Info("api: object size", "stored", r.res.Sizes.Stored, "request", r.res.Sizes.Request, "response", r.res.Sizes.Response)
	for i := range r.opts.ListSize {
		if _, err := api.CoreV1().ConfigMaps(nsList).Create(ctx, r.obj.configMap(nsList, objectName(9998, 0, i), 0), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("fill %s: %w", nsList, err)
		}
	}
	for i := range r.opts.maxClients() {
		cm, err := api.CoreV1().ConfigMaps(nsObjects).Create(ctx, r.obj.configMap(nsObjects, objectName(9997, i, 0), 0), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("fill the update pool: %w", err)
		}
		r.pool = append(r.pool, cm)
	}
	return nil
}

func createNamespace(ctx context.Context, api kubernetes.Interface, name string) error {
	_, err := api.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// round runs every phase once. The reference (raw etcd puts) runs right
// before the API phases at the same client count, so both see the same
// machine state.
func (r *runner) round(ctx context.Context, round int) error {
	for _, n := range r.opts.Clients {
		for _, p := range closedPhases() {
			if p.perClient && (!r.opts.PerClient || n == 1) {
				continue
			}
			if err := r.closed(ctx, round, p.kind, n, p.perClient); err != nil {
				return err
			}
		}
	}
	for _, perWatcher := range []bool{false, true} {
		if err := r.fanout(ctx, round, perWatcher); err != nil {
			return err
		}
	}
	for _, kind := range []string{"etcd put", "API create"} {
		if err := r.open(ctx, round, kind); err != nil {
			return err
		}
	}
	return nil
}

// phase is one kind of closed-loop measurement.
type phase struct {
	kind      string
	perClient bool
}

// closedPhases are the closed-loop measurements of a round at each client
// count, in the order they run: the raw etcd reference first.
func closedPhases() []phase {
	return []phase{{"etcd put", false}, {"API create", false}, {"API create", true}, {"API update", false}, {"API get", false}, {"API get", true}, {"API list", false}}
}

func connName(perClient bool) string {
	if perClient {
		return "per-client"
	}
	return "shared"
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closed runs one closed-loop phase.
func (r *runner) closed(ctx context.Context, round int, kind string, clients int, perClient bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.phase++
	op, err := r.op(kind, r.phase, perClient)
	if err != nil {
		return err
	}
	cell := Cell{Round: round, Kind: kind, Clients: clients}
	if kind != "etcd put" {
		cell.Conn = connName(perClient)
	}
	w := newWindow(r.opts.Warmup, r.opts.Duration)
	m := startMeter(ctx, r.t.pid)
	cell.loadResult = closedLoop(ctx, clients, w, op)
	if cell.usage, err = m.stop(); err != nil {
		return errors.Join(r.alive(), err)
	}
	r.res.Cells = append(r.res.Cells, cell)
	r.log.Info("api: phase", "round", round, "kind", kind, "conn", cell.Conn, "clients", clients,
		"ops/s", int(cell.Rate), "p50", cell.Latency.P50, "p99", cell.Latency.P99, "errors", cell.Errors, "samples", cell.ErrorSamples)
	return r.alive()
}

// op returns the request of a closed-loop phase.
func (r *runner) op(kind string, phase int, perClient bool) (opFunc, error) {
	api := r.c.pick(perClient)
	value := make([]byte, r.res.Sizes.Stored)
	for i := range value {
		value[i] = 'v'
	}
	switch kind {
	case "etcd put":
		return func(ctx context.Context, worker, seq int) error {
			_, err := r.c.etcd.Put(ctx, "/bench/etcd/"+objectName(phase, worker, seq), string(value))
			return err
		}, nil
	case "API create":
		return func(ctx context.Context, worker, seq int) error {
			_, err := api(worker).CoreV1().ConfigMaps(nsObjects).Create(ctx, r.obj.configMap(nsObjects, objectName(phase, worker, seq), seq), metav1.CreateOptions{})
			return err
		}, nil
	case "API update":
		return func(ctx context.Context, worker, seq int) error {
			cm := r.pool[worker].DeepCopy()
			cm.Data["seq"] = fmt.Sprintf("%08d", (phase*100000+seq)%100000000)
			got, err := api(worker).CoreV1().ConfigMaps(nsObjects).Update(ctx, cm, metav1.UpdateOptions{})
			if err != nil {
				return err
			}
			r.pool[worker] = got
			return nil
		}, nil
	case "API get":
		return func(ctx context.Context, worker, seq int) error {
			_, err := api(worker).CoreV1().ConfigMaps(nsObjects).Get(ctx, r.pool[(worker+seq)%len(r.pool)].Name, metav1.GetOptions{})
			return err
		}, nil
	case "API list":
		return func(ctx context.Context, worker, seq int) error {
			l, err := api(worker).CoreV1().ConfigMaps(nsList).List(ctx, metav1.ListOptions{})
			if err == nil && len(l.Items) != r.opts.ListSize {
				err = fmt.Errorf("list %s returned %d objects, want %d", nsList, len(l.Items), r.opts.ListSize)
			}
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown phase %q", kind)
}

// open runs one open-loop phase at Options.Rate requests/s on the shared
// connection.
func (r *runner) open(ctx context.Context, round int, kind string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.phase++
	op, err := r.op(kind, r.phase, false)
	if err != nil {
		return err
	}
	cell := Cell{Round: round, Kind: kind, OpenRate: r.opts.Rate}
	if kind != "etcd put" {
		cell.Conn = connName(false)
	}
	m := startMeter(ctx, r.t.pid)
	w := newWindow(time.Second, r.opts.RateDuration)
	cell.loadResult = openLoop(ctx, r.opts.Rate, w, 10*r.opts.Rate, func(ctx context.Context, seq int) error { return op(ctx, 0, seq) })
	if cell.usage, err = m.stop(); err != nil {
		return errors.Join(r.alive(), err)
	}
	r.res.Cells = append(r.res.Cells, cell)
	r.log.Info("api: open-loop phase", "round", round, "kind", kind, "rate", r.opts.Rate, "done/s", int(cell.Rate),
		"p50", cell.Latency.P50, "p99", cell.Latency.P99, "errors", cell.Errors, "dropped", cell.Dropped, "samples", cell.ErrorSamples)
	return r.alive()
}

// fanout runs one watch fan-out in a fresh namespace.
func (r *runner) fanout(ctx context.Context, round int, perWatcher bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ns := fmt.Sprintf("bench-watch-%d-%s", round, connName(perWatcher))
	if err := createNamespace(ctx, r.c.shared, ns); err != nil {
		return err
	}
	watchers := make([]kubernetes.Interface, r.opts.Watchers)
	pick := r.c.pick(perWatcher)
	for i := range watchers {
		watchers[i] = pick(i)
	}
	m := startMeter(ctx, r.t.pid)
	res, err := fanout(ctx, r.c.shared, watchers, ns, r.opts.WatchObjects, r.obj)
	if err != nil {
		return err
	}
	f := Fanout{Round: round, Conn: connName(perWatcher), fanoutResult: res}
	if f.usage, err = m.stop(); err != nil {
		return errors.Join(r.alive(), err)
	}
	// Every watch of the fan-out stopped at once just now: check that the
	// server still delivers events to a new watch.
	if err := probeWatch(ctx, r.c.shared, ns, objectName(9996, 0, round), r.obj); err != nil {
		f.Probe = err.Error()
		r.res.Findings = append(r.res.Findings, fmt.Sprintf("Round %d, after the %d watches of the %s fan-out stopped together: %v.", round, len(watchers), f.Conn, err))
	}
	r.res.Fanouts = append(r.res.Fanouts, f)
	r.log.Info("api: watch fan-out", "round", round, "conn", f.Conn, "events/s", int(f.EventsPerSec),
		"lag p99", f.Lag.P99, "missing", f.Missing, "errors", f.Errors, "samples", f.ErrorSamples, "missed", f.MissingExamples, "probe", f.Probe)
	return r.alive()
}
