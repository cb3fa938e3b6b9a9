package lb

import (
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons, indexed as in bpf/skiff.h.
var dropReasons = []string{"", "no_backend", "backend_gone", "snat_exhausted", "no_route", "fib_failed", "ttl_exceeded", "conntrack_full"}

var (
	descConns   = prometheus.NewDesc("skiff_dataplane_service_connections_total", "New connections (socket connects and NodePort flows) per frontend.", []string{"service", "frontend"}, nil)
	descPackets = prometheus.NewDesc("skiff_dataplane_service_packets_total", "NodePort packets, and unconnected UDP datagrams, per frontend.", []string{"service", "frontend"}, nil)
	descBytes   = prometheus.NewDesc("skiff_dataplane_service_bytes_total", "NodePort bytes per frontend.", []string{"service", "frontend"}, nil)
	descDrops   = prometheus.NewDesc("skiff_dataplane_drops_total", "Packets and connections the programs refused, by reason.", []string{"reason"}, nil)
	descEntries = prometheus.NewDesc("skiff_dataplane_map_entries", "Entries in each BPF map.", []string{"map"}, nil)
	descCap     = prometheus.NewDesc("skiff_dataplane_map_capacity", "Capacity of each BPF map.", []string{"map"}, nil)
	descWrites  = prometheus.NewDesc("skiff_dataplane_map_writes_total", "Map entries written or deleted by syncs.", nil, nil)
)

// Collector returns the prometheus collector of this LB's counters and
// map fill levels. Counting the LRU maps' entries walks them, so those
// counts are refreshed at most every 10 seconds.
func (lb *LB) Collector() prometheus.Collector { return &collector{lb: lb} }

type collector struct {
	lb *LB

	mu      sync.Mutex
	lruAt   time.Time
	lruFill map[string]int
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descPackets, descBytes, descDrops, descEntries, descCap, descWrites} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	lb := c.lb
	type fe struct {
		id             uint32
		owner, display string
	}
	lb.eng.mu.Lock()
	fes := make([]fe, 0, len(lb.eng.fes))
	for k, f := range lb.eng.fes {
		if f.hasMaster {
			fes = append(fes, fe{f.id, f.owner.String(), frontendString(k)})
		}
	}
	writes := lb.eng.writes
	lb.eng.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descWrites, prometheus.CounterValue, float64(writes))

	var per []bpfSvcStats
	for _, f := range fes {
		if err := lb.objs.Stats.Lookup(f.id, &per); err != nil {
			continue
		}
		var s bpfSvcStats
		for _, p := range per {
			s.Connections += p.Connections
			s.Packets += p.Packets
			s.Bytes += p.Bytes
		}
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.CounterValue, float64(s.Connections), f.owner, f.display)
		ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(s.Packets), f.owner, f.display)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.Bytes), f.owner, f.display)
	}
	for reason, name := range dropReasons {
		if name == "" {
			continue
		}
		var counts []uint64
		if err := lb.objs.Drops.Lookup(uint32(reason), &counts); err != nil {
			continue
		}
		var n uint64
		for _, v := range counts {
			n += v
		}
		ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(n), name)
	}

	fill := lb.eng.fill()
	for name, n := range c.lruCounts() {
		fill[name] = n
	}
	for name, m := range map[string]*ebpf.Map{
		"services": lb.objs.Services, "backends": lb.objs.Backends, "rev_nat": lb.objs.RevNat,
		"maglev": lb.objs.Maglev, "conntrack": lb.objs.Conntrack, "affinity": lb.objs.Affinity,
		"sock_revnat": lb.objs.SockRevnat,
	} {
		ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(fill[name]), name)
		ch <- prometheus.MustNewConstMetric(descCap, prometheus.GaugeValue, float64(m.MaxEntries()), name)
	}
}

// lruCounts counts the entries of the maps the programs fill themselves.
func (c *collector) lruCounts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lruFill != nil && time.Since(c.lruAt) < 10*time.Second {
		return c.lruFill
	}
	c.lruFill = map[string]int{
		"conntrack":   countKeys[bpfCtKey](c.lb.objs.Conntrack),
		"affinity":    countKeys[bpfAffinityKey](c.lb.objs.Affinity),
		"sock_revnat": countKeys[bpfSockKey](c.lb.objs.SockRevnat),
	}
	c.lruAt = time.Now()
	return c.lruFill
}

func countKeys[K any](m *ebpf.Map) int {
	n := 0
	var k K
	it := m.Iterate()
	var v []byte
	for it.Next(&k, &v) {
		n++
	}
	return n
}
