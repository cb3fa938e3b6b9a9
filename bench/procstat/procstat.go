// Package procstat reads a process's memory and CPU use from /proc, for
// benchmarks that report what a server costs while idle and under load.
package procstat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is a process's resident memory, in bytes, from /proc/<pid>/status.
type Memory struct {
	// RSS is the whole resident set (VmRSS).
	RSS uint64 `json:"rss_bytes"`
	// Anon is the anonymous part (RssAnon): heap, stacks, Go runtime; what
	// the memory target counts.
	Anon uint64 `json:"rss_anon_bytes"`
	// File is the file-backed part (RssFile): the binary and mmapped files
	// such as etcd's bbolt database.
	File uint64 `json:"rss_file_bytes"`
	// Peak is the highest RSS since start (VmHWM).
	Peak uint64 `json:"vm_hwm_bytes"`
}

// ReadMemory reads the memory of process pid.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	var m Memory
	fields := map[string]*uint64{"VmRSS": &m.RSS, "RssAnon": &m.Anon, "RssFile": &m.File, "VmHWM": &m.Peak}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		dst := fields[key]
		if !ok || dst == nil {
			continue
		}
		v, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || unit != "kB" {
			return Memory{}, fmt.Errorf("pid %d status line %q: unexpected format", pid, sc.Text())
		}
		*dst = n << 10
		delete(fields, key)
	}
	if len(fields) > 0 {
		return Memory{}, fmt.Errorf("pid %d status: missing fields %v", pid, keys(fields))
	}
	return m, nil
}

func keys(m map[string]*uint64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat; Linux fixes it
// at 100 for user space on every architecture skiff runs on.
const userHZ = 100

// CPUTime returns the user plus system CPU time process pid has used, all
// threads included.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time of pid %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields after it are
	// counted from its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("pid %d stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("pid %d stat: bad cpu times %q %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// Sampler samples a process's memory periodically and keeps the highest
// anonymous RSS seen, for "under load" figures.
type Sampler struct {
	pid      int
	interval time.Duration
	mu       sync.Mutex
	peak     Memory
	samples  int
	err      error
}

// NewSampler returns a sampler of pid every interval; Start runs it.
func NewSampler(pid int, interval time.Duration) *Sampler {
	return &Sampler{pid: pid, interval: interval}
}

// Start samples until ctx is done.
func (s *Sampler) Start(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Sampler) sample() {
	m, err := ReadMemory(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return
	}
	s.samples++
	if m.Anon > s.peak.Anon {
		s.peak = m
	}
}

// Peak returns the sample with the highest anonymous RSS so far, how many
// samples were taken, and the last read error if any.
func (s *Sampler) Peak() (Memory, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.samples, s.err
}
