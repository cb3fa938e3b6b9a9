package maglev

import (
	"errors"
	"fmt"
	"testing"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.244.%d.%d:8080", i/200, i%200+1)
	}
	return out
}

// Every backend gets its share of the table within 10%.
func TestTableSpread(t *testing.T) {
	for _, n := range []int{1, 3, 10, 40} {
		table := Table(names(n), DefaultSize)
		count := make([]int, n)
		for _, b := range table {
			count[b]++
		}
		share := float64(DefaultSize) / float64(n)
		for i, c := range count {
			if d := float64(c)/share - 1; d > 0.1 || d < -0.1 {
				t.Errorf("%d backends: backend %d has %d entries, share %.0f", n, i, c, share)
			}
		}
	}
}

// Removing one of N backends moves close to 1/N of the entries: the
// removed backend's own, plus a few percent.
func TestTableDisruption(t *testing.T) {
	const n = 10
	all := names(n)
	before := Table(all, DefaultSize)
	removed := 4
	rest := append(append([]string{}, all[:removed]...), all[removed+1:]...)
	after := Table(rest, DefaultSize)
	moved := 0
	for i := range before {
		if all[before[i]] != rest[after[i]] {
			moved++
		}
	}
	frac := float64(moved) / DefaultSize
	if frac < 0.09 || frac > 0.13 {
		t.Fatalf("removing 1 of %d backends moved %.3f of the table, want about %.3f", n, frac, 1.0/n)
	}
}

func TestTableDeterministic(t *testing.T) {
	a, b := Table(names(7), 251), Table(names(7), 251)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("entry %d differs: %d vs %d", i, a[i], b[i])
		}
	}
	if Table(nil, 251) != nil {
		t.Fatal("empty backend list should give no table")
	}
}

func TestCheckSize(t *testing.T) {
	for _, m := range []int{2, 251, 1021, DefaultSize, 65537} {
		if err := CheckSize(m); err != nil {
			t.Errorf("CheckSize(%d) = %v", m, err)
		}
	}
	for _, m := range []int{0, 1, 4, 1000, 4095} {
		if err := CheckSize(m); !errors.Is(err, ErrSize) {
			t.Errorf("CheckSize(%d) = %v, want ErrSize", m, err)
		}
	}
}
