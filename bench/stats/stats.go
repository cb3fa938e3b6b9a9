// Package stats summarises benchmark samples: latency percentiles within a
// run, and the median and spread of a figure across repeated rounds.
package stats

import (
	"math"
	"slices"
	"time"
)

// Latency summarises a set of latencies.
type Latency struct {
	Count int           `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
	Min   time.Duration `json:"min_ns"`
}

// Summarize returns the summary of samples, which it sorts in place.
func Summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	return Latency{
		Count: len(samples),
		Mean:  sum / time.Duration(len(samples)),
		P50:   Percentile(samples, 50),
		P90:   Percentile(samples, 90),
		P99:   Percentile(samples, 99),
		P999:  Percentile(samples, 99.9),
		Max:   samples[len(samples)-1],
		Min:   samples[0],
	}
}

// Percentile returns the p-th percentile (0-100) of sorted samples by the
// nearest-rank method: the smallest sample that at least p% of samples
// are less than or equal to.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Spread is the median, minimum and maximum of one figure measured in
// several rounds.
type Spread struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Rounds []float64 `json:"rounds"`
}

// SpreadOf returns the spread of values (one per round, in round order).
func SpreadOf(values []float64) Spread {
	if len(values) == 0 {
		return Spread{}
	}
	s := slices.Clone(values)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1], Rounds: slices.Clone(values)}
}

// RelSpread is the spread's width relative to its median, (max-min)/median.
func (s Spread) RelSpread() float64 {
	if s.Median == 0 {
		return 0
	}
	return (s.Max - s.Min) / s.Median
}

// SpreadBy returns the spread of f over xs (one element per round, in round
// order).
func SpreadBy[T any](xs []T, f func(T) float64) Spread {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return SpreadOf(v)
}
