package procstat

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestReadMemoryOfSelf(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.Anon == 0 || m.File == 0 || m.RSS < m.Anon || m.Peak < m.RSS {
		t.Errorf("implausible memory of self: %+v", m)
	}
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	m, err = ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The touched ballast alone is 64 MiB of anonymous memory.
	if m.Anon < 64<<20 {
		t.Errorf("anonymous RSS is %d with 64 MiB touched", m.Anon)
	}
	_ = ballast[len(ballast)-1]
}

func rusage(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCPUTimeMatchesRusage compares CPUTime of this process with what the
// kernel reports through getrusage, which does not depend on how busy the
// machine is.
func TestCPUTimeMatchesRusage(t *testing.T) {
	x := 0
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
		x++
	}
	before := rusage(t)
	got, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	after := rusage(t)
	// /proc counts in ticks of 10 ms; allow two ticks either way.
	if got < before-20*time.Millisecond || got > after+20*time.Millisecond {
		t.Errorf("CPUTime = %v, getrusage says between %v and %v", got, before, after)
	}
	if got == 0 {
		t.Errorf("CPUTime = 0 after spinning %d times", x)
	}
}

func TestSamplerKeepsPeak(t *testing.T) {
	s := NewSampler(os.Getpid(), 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	peak, n, err := s.Peak()
	if err != nil || n < 2 || peak.Anon == 0 {
		t.Errorf("Peak = %+v, %d samples, %v", peak, n, err)
	}
	gone := NewSampler(1<<30, time.Millisecond)
	gone.sample()
	if _, _, err := gone.Peak(); err == nil {
		t.Error("sampling a process that does not exist reported no error")
	}
}
