package resourcemetrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// Poller reads every node's figures through the resource metrics API at an
// interval and answers NodeUsage from memory: the observed-usage source of
// a scheduler running outside the server (one list per interval, not one
// call per node).
type Poller struct {
	client   metricsclient.Interface
	interval time.Duration
	log      *slog.Logger

	mu    sync.RWMutex
	usage map[string][2]int64
}

// NewPoller returns a poller over client.
func NewPoller(client metricsclient.Interface, interval time.Duration, log *slog.Logger) *Poller {
	return &Poller{client: client, interval: interval, log: log, usage: map[string][2]int64{}}
}

// Start polls until ctx is done.
func (p *Poller) Start(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Poller) poll(ctx context.Context) {
	list, err := p.client.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{})
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("read node metrics", "err", err)
		}
		return
	}
	usage := make(map[string][2]int64, len(list.Items))
	for _, m := range list.Items {
		usage[m.Name] = [2]int64{m.Usage.Cpu().MilliValue(), m.Usage.Memory().Value()}
	}
	p.mu.Lock()
	p.usage = usage
	p.mu.Unlock()
}

// NodeUsage implements the scheduler's UsageSource.
func (p *Poller) NodeUsage(node string) (cpuMilli, memBytes int64, ok bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	u, ok := p.usage[node]
	return u[0], u[1], ok
}
