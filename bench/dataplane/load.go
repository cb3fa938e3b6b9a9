package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkScript prints wrk's summary as one JSON line. Latencies are in
// microseconds, from the request's write to its response (wrk starts the
// clock once the connection is up, so a new connection's handshake is not
// in them).
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
`

// run is one wrk run's outcome.
type run struct {
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	// Rate is requests per second: new connections per second when every
	// request had its own connection.
	Rate  float64 `json:"rate"`
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
	MaxUs float64 `json:"max_us"`
	// Errors counts wrk's connect, read, write, timeout and non-2xx errors.
	Errors int64  `json:"errors"`
	Detail string `json:"error_detail,omitempty"`
}

// wrkSummary is what wrkScript prints.
type wrkSummary struct {
	Requests   int64   `json:"requests"`
	DurationUs int64   `json:"duration_us"`
	Connect    int64   `json:"connect"`
	Read       int64   `json:"read"`
	Write      int64   `json:"write"`
	Status     int64   `json:"status"`
	Timeout    int64   `json:"timeout"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`
	MeanUs     float64 `json:"mean_us"`
}

// client is where a load generator runs: a namespace and a cgroup.
type client struct {
	ns     netNS
	cgroup *os.File
}

// runWrk runs wrk against url from c; with newConns every request opens
// its own connection ("Connection: close", which the backend honours by
// closing first).
func runWrk(ctx context.Context, script string, o Options, c client, url string, newConns bool) (run, error) {
	args := []string{"-t", strconv.Itoa(o.Threads), "-c", strconv.Itoa(o.Connections),
		"-d", fmt.Sprintf("%ds", int(o.Duration/time.Second)), "-s", script}
	if newConns {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	cmd := exec.CommandContext(ctx, "wrk", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := startIn(c.ns, c.cgroup, cmd); err != nil {
		return run{}, fmt.Errorf("start wrk: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return run{}, fmt.Errorf("wrk %s: %w: %s", url, err, strings.TrimSpace(errb.String()))
	}
	_, line, ok := strings.Cut(out.String(), "WRKJSON ")
	if !ok {
		return run{}, fmt.Errorf("wrk printed no summary: %s %s", out.String(), errb.String())
	}
	line, _, _ = strings.Cut(line, "\n")
	var s wrkSummary
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		return run{}, fmt.Errorf("wrk summary %q: %w", line, err)
	}
	r := run{
		Requests: s.Requests, Seconds: float64(s.DurationUs) / 1e6,
		P50us: s.P50us, P99us: s.P99us, MaxUs: s.MaxUs,
		Errors: s.Connect + s.Read + s.Write + s.Status + s.Timeout,
	}
	if r.Seconds > 0 {
		r.Rate = float64(r.Requests) / r.Seconds
	}
	if r.Errors > 0 {
		r.Detail = fmt.Sprintf("connect %d, read %d, write %d, timeout %d, non-2xx %d", s.Connect, s.Read, s.Write, s.Timeout, s.Status)
	}
	if r.Requests == 0 {
		return r, fmt.Errorf("wrk %s: no request answered (%s)", url, r.Detail)
	}
	return r, nil
}

// probe makes one HTTP request from c, through the same connect() path as
// wrk (bash's /dev/tcp), and checks the backend answered: the path works
// and neighbours are resolved before the measurement starts.
func probe(ctx context.Context, c client, target netip.AddrPort) error {
	const script = `exec 3<>/dev/tcp/$0/$1 && printf 'GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n' >&3 && cat <&3`
	var last string
	for range 3 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cmd := exec.CommandContext(pctx, "bash", "-c", script, target.Addr().String(), strconv.Itoa(int(target.Port())))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := startIn(c.ns, c.cgroup, cmd)
		if err == nil {
			err = cmd.Wait()
		}
		cancel()
		if err == nil && strings.HasPrefix(out.String(), "HTTP/1.1 200") && strings.HasSuffix(out.String(), string(okBody)) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = fmt.Sprintf("%v: %q", err, out.String())
	}
	return fmt.Errorf("probe %s from %s: %s", target, c.ns.name, last)
}
