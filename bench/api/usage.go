package api

import (
	"context"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"skiff.dev/skiff/bench/procstat"
)

// usage is what the server (and the load generator) used during a phase.
type usage struct {
	// ServerCPU and LoadgenCPU are CPU cores used on average.
	ServerCPU  float64 `json:"server_cpu_cores"`
	LoadgenCPU float64 `json:"loadgen_cpu_cores"`
	// ServerPeak is the sample with the highest anonymous RSS.
	ServerPeak procstat.Memory `json:"server_peak"`
}

// meter measures a process's usage over a window.
type meter struct {
	pid     int
	sampler *procstat.Sampler
	cancel  context.CancelFunc
	done    chan struct{}
	from    time.Time
	cpu0    [2]time.Duration
}

func startMeter(ctx context.Context, pid int) *meter {
	ctx, cancel := context.WithCancel(ctx)
	m := &meter{pid: pid, sampler: procstat.NewSampler(pid, 100*time.Millisecond), cancel: cancel, done: make(chan struct{}), from: time.Now()}
	m.cpu0 = m.cpu()
	go func() {
		defer close(m.done)
		_ = m.sampler.Start(ctx)
	}()
	return m
}

func (m *meter) cpu() [2]time.Duration {
	s, _ := procstat.CPUTime(m.pid)
	l, _ := procstat.CPUTime(os.Getpid())
	return [2]time.Duration{s, l}
}

func (m *meter) stop() (usage, error) {
	cpu1 := m.cpu()
	secs := time.Since(m.from).Seconds()
	m.cancel()
	<-m.done
	peak, _, err := m.sampler.Peak()
	return usage{
		ServerCPU:  (cpu1[0] - m.cpu0[0]).Seconds() / secs,
		LoadgenCPU: (cpu1[1] - m.cpu0[1]).Seconds() / secs,
		ServerPeak: peak,
	}, err
}

// storeState is how much etcd holds.
type storeState struct {
	// ConfigMaps is the number of ConfigMaps the API stores; Keys counts
	// every key, the raw etcd puts' included.
	ConfigMaps int64 `json:"configmaps"`
	Keys       int64 `json:"keys"`
	// DBSize is the size of etcd's database file, DBInUse the part in use.
	DBSize  int64 `json:"db_size_bytes"`
	DBInUse int64 `json:"db_in_use_bytes"`
}

func readStore(ctx context.Context, c *clientv3.Client, endpoint string) (storeState, error) {
	var st storeState
	cms, err := c.Get(ctx, "/registry/configmaps/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return st, fmt.Errorf("count stored objects: %w", err)
	}
	all, err := c.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil {
		return st, fmt.Errorf("count stored keys: %w", err)
	}
	status, err := c.Status(ctx, endpoint)
	if err != nil {
		return st, fmt.Errorf("etcd status: %w", err)
	}
	return storeState{ConfigMaps: cms.Count, Keys: all.Count, DBSize: status.DbSize, DBInUse: status.DbSizeInUse}, nil
}
