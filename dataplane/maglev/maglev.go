// Package maglev builds Maglev consistent-hashing lookup tables (Eisenbud
// et al., NSDI 2016): every backend gets a near-equal share of the table,
// and removing one of N backends moves little more than its own 1/N of
// the entries.
package maglev

import (
	"errors"
	"fmt"
	"hash/fnv"
)

// DefaultSize is the default table size: a prime about 100 times a
// service of 40 backends.
const DefaultSize = 4093

// ErrSize reports a table size that is not a prime of at least 2.
var ErrSize = errors.New("maglev: table size must be a prime")

// CheckSize returns ErrSize unless m can size a table.
func CheckSize(m int) error {
	if m < 2 {
		return fmt.Errorf("%w: %d", ErrSize, m)
	}
	for d := 2; d*d <= m; d++ {
		if m%d == 0 {
			return fmt.Errorf("%w: %d", ErrSize, m)
		}
	}
	return nil
}

// Table fills a table of size m (a prime) with indexes into names. The
// result depends only on the set of names and their order, so callers
// pass names in a stable order. An empty names gives a nil table.
func Table(names []string, m int) []int {
	if len(names) == 0 || m < 2 {
		return nil
	}
	n := len(names)
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	for i, name := range names {
		offset[i] = hash(name, 0) % uint64(m)
		skip[i] = hash(name, 1)%uint64(m-1) + 1
	}
	table := make([]int, m)
	for i := range table {
		table[i] = -1
	}
	next := make([]uint64, n)
	filled := 0
	for {
		for i := range n {
			c := (offset[i] + next[i]*skip[i]) % uint64(m)
			for table[c] >= 0 {
				next[i]++
				c = (offset[i] + next[i]*skip[i]) % uint64(m)
			}
			table[c] = i
			next[i]++
			filled++
			if filled == m {
				return table
			}
		}
	}
}

func hash(s string, seed byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte{seed})
	h.Write([]byte(s))
	return h.Sum64()
}
