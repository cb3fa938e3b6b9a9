package stats

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- { // reversed: Summarize must sort
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(samples)
	want := Latency{Count: 100, Mean: 50500 * time.Microsecond, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond,
		P99: 99 * time.Millisecond, P999: 100 * time.Millisecond, Max: 100 * time.Millisecond, Min: time.Millisecond}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Latency{}) {
		t.Error("Summarize(nil) is not zero")
	}
}

func TestPercentileSmallSets(t *testing.T) {
	one := []time.Duration{7}
	if p := Percentile(one, 99); p != 7 {
		t.Errorf("p99 of one sample = %v, want 7", p)
	}
	two := []time.Duration{1, 2}
	if p := Percentile(two, 50); p != 1 {
		t.Errorf("p50 of {1,2} = %v, want 1", p)
	}
	if p := Percentile(two, 51); p != 2 {
		t.Errorf("p51 of {1,2} = %v, want 2", p)
	}
}

func TestSpreadOf(t *testing.T) {
	s := SpreadOf([]float64{30, 10, 20})
	if s.Median != 20 || s.Min != 10 || s.Max != 30 {
		t.Errorf("SpreadOf = %+v", s)
	}
	if s.Rounds[0] != 30 {
		t.Errorf("rounds reordered: %v", s.Rounds)
	}
	if r := s.RelSpread(); r != 1 {
		t.Errorf("RelSpread = %v, want 1", r)
	}
	if m := SpreadOf([]float64{1, 2, 3, 4}).Median; m != 2.5 {
		t.Errorf("even median = %v, want 2.5", m)
	}
}
