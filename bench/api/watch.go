package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/bench/stats"
)

// fanoutResult is one watch fan-out measurement.
type fanoutResult struct {
	Watchers int `json:"watchers"`
	Objects  int `json:"objects"`
	// Created is how many creates succeeded; every watcher should see each.
	Created int `json:"created"`
	// Delivered counts ADDED events received over all watchers; Missing
	// is Watchers*Created minus that.
	Delivered int `json:"delivered"`
	Missing   int `json:"missing"`
	// Duplicates counts events a watcher received twice for one object.
	Duplicates int `json:"duplicates"`
	// MissingExamples says, for a few watchers that missed events, which
	// objects they missed (by creation order).
	MissingExamples []string `json:"missing_examples,omitempty"`
	// Elapsed runs from the first create to the last event received.
	Elapsed      time.Duration `json:"elapsed_ns"`
	EventsPerSec float64       `json:"events_per_sec"`
	WriterRate   float64       `json:"writer_creates_per_sec"`
	// Lag is from a create's response to a watcher receiving its event; it
	// can be negative when the event outruns the response.
	Lag          stats.Latency `json:"lag"`
	Errors       int           `json:"errors"`
	ErrorSamples []string      `json:"error_samples,omitempty"`
}

// drainTimeout is how long watchers may take, after the last create, to
// receive every event before the measurement ends without them.
const drainTimeout = 10 * time.Second

// receipt is one event a watcher received: which object, when.
type receipt struct {
	seq int
	at  time.Time
}

// fanout starts one watch per entry of watchers on ConfigMaps in ns (which
// must exist and be empty of new writes), then creates n objects there one
// after another through writer, and measures delivery to every watcher.
func fanout(ctx context.Context, writer kubernetes.Interface, watchers []kubernetes.Interface, ns string, n int, obj objects) (fanoutResult, error) {
	res := fanoutResult{Watchers: len(watchers), Objects: n}
	list, err := writer.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, fmt.Errorf("list %s: %w", ns, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var rec recorder
	streams := make([]watch.Interface, len(watchers))
	for i, c := range watchers {
		if streams[i], err = c.CoreV1().ConfigMaps(ns).Watch(wctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion}); err != nil {
			return res, fmt.Errorf("watch %d of %d: %w", i+1, len(watchers), err)
		}
	}
	received := make([][]receipt, len(watchers))
	var done sync.WaitGroup
	for i, w := range streams {
		done.Go(func() {
			got := make([]receipt, 0, n)
			for len(got) < n {
				ev, ok := <-w.ResultChan()
				if !ok {
					if wctx.Err() == nil {
						rec.add(0, fmt.Errorf("watch %d closed after %d of %d events", i, len(got), n))
					}
					break
				}
				at := time.Now()
				switch ev.Type {
				case watch.Added:
					cm, ok := ev.Object.(*corev1.ConfigMap)
					if !ok {
						rec.add(0, fmt.Errorf("watch event object is %T", ev.Object))
						continue
					}
					seq, err := strconv.Atoi(cm.Name[strings.LastIndexByte(cm.Name, '-')+1:])
					if err != nil {
						rec.add(0, fmt.Errorf("unexpected object %s in watch", cm.Name))
						continue
					}
					got = append(got, receipt{seq: seq, at: at})
				case watch.Error:
					// Once the drain timeout cancels the watches, client-go
					// reports the cancellation as an error event.
					if wctx.Err() == nil {
						rec.add(0, fmt.Errorf("watch error event: %v", ev.Object))
					}
				}
			}
			received[i] = got
		})
	}

	responded := make([]time.Time, n)
	start := time.Now()
	for seq := range n {
		_, err := writer.CoreV1().ConfigMaps(ns).Create(ctx, obj.configMap(ns, objectName(0, 0, seq), seq), metav1.CreateOptions{})
		if err != nil {
			rec.add(0, fmt.Errorf("create: %w", err))
			continue
		}
		responded[seq] = time.Now()
		res.Created++
	}
	res.WriterRate = float64(res.Created) / time.Since(start).Seconds()

	// Watchers that miss events never reach n: give them time to drain,
	// then stop them.
	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(drainTimeout):
		cancel()
		<-finished
	}
	// Watches stay open after their last event and stop together here,
	// so that no cancellation overlaps the measured deliveries.
	for _, w := range streams {
		w.Stop()
	}

	var lags []time.Duration
	last := start
	for i, got := range received {
		seen := make([]bool, n)
		for _, r := range got {
			if r.seq >= n || seen[r.seq] {
				res.Duplicates++
				continue
			}
			seen[r.seq] = true
			res.Delivered++
			if r.at.After(last) {
				last = r.at
			}
			if !responded[r.seq].IsZero() {
				lags = append(lags, r.at.Sub(responded[r.seq]))
			}
		}
		if len(got) < res.Created && len(res.MissingExamples) < 5 {
			res.MissingExamples = append(res.MissingExamples, describeMissing(i, seen, responded))
		}
	}
	res.Missing = len(watchers)*res.Created - res.Delivered
	res.Elapsed = last.Sub(start)
	if res.Elapsed > 0 {
		res.EventsPerSec = float64(res.Delivered) / res.Elapsed.Seconds()
	}
	res.Lag = stats.Summarize(lags)
	res.Errors, res.ErrorSamples = rec.errors, rec.samples
	return res, nil
}

// describeMissing names the objects watcher i did not see, compressed into
// ranges of creation order.
func describeMissing(i int, seen []bool, responded []time.Time) string {
	var ranges []string
	for seq := 0; seq < len(seen); seq++ {
		if seen[seq] || responded[seq].IsZero() {
			continue
		}
		end := seq
		for end+1 < len(seen) && !seen[end+1] && !responded[end+1].IsZero() {
			end++
		}
		if end == seq {
			ranges = append(ranges, strconv.Itoa(seq))
		} else {
			ranges = append(ranges, fmt.Sprintf("%d-%d", seq, end))
		}
		seq = end
	}
	return fmt.Sprintf("watcher %d missed objects %s of 0-%d", i, strings.Join(ranges, ","), len(seen)-1)
}

// probeTimeout bounds how long a fresh watch may take to see a new object.
const probeTimeout = 5 * time.Second

// probeWatch starts one watch on ns, creates the object name there and
// reports an error unless the watch sees it within probeTimeout. After a
// fan-out's watches all stopped at once, it checks that the server still
// delivers watch events.
func probeWatch(ctx context.Context, api kubernetes.Interface, ns, name string, obj objects) error {
	list, err := api.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return fmt.Errorf("list %s: %w", ns, err)
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	w, err := api.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return fmt.Errorf("watch %s: %w", ns, err)
	}
	defer w.Stop()
	if _, err := api.CoreV1().ConfigMaps(ns).Create(ctx, obj.configMap(ns, name, 0), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create %s/%s: %w", ns, name, err)
	}
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("a new watch on %s ended before the ADDED event of %s arrived", ns, name)
			}
			if cm, isCM := ev.Object.(*corev1.ConfigMap); isCM && ev.Type == watch.Added && cm.Name == name {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("a new watch on %s got no event for %s within %v", ns, name, probeTimeout)
		}
	}
}
