package storage

import "sync"

// defaultLatestBytes bounds the values a Store remembers from its own
// writes when Config.LatestCacheBytes is zero.
const defaultLatestBytes = 1 << 20

// latestCache remembers the value and mod revision this store last wrote
// (or last read during an update) for recently updated keys, so that an
// update can go straight to its compare-and-swap instead of reading the
// key first. An entry is only a guess: the transaction compares the mod
// revision, and a stale entry costs one failed transaction whose else
// branch returns the current value. Values are kept up to a byte budget;
// when it is exceeded, arbitrary entries are dropped.
type latestCache struct {
	mu    sync.Mutex
	max   int // byte budget; 0 disables the cache
	bytes int
	m     map[string]kvState
}

func newLatestCache(budget int) *latestCache {
	switch {
	case budget == 0:
		budget = defaultLatestBytes
	case budget < 0:
		budget = 0
	}
	return &latestCache{max: budget, m: map[string]kvState{}}
}

// get returns the remembered state of key, or nil.
func (c *latestCache) get(key string) *kvState {
	if c.max == 0 {
		return nil
	}
	c.mu.Lock()
	st, ok := c.m[key]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return &st
}

// put remembers st as the state of key; a nil st forgets key. A value
// larger than an eighth of the budget is not kept.
func (c *latestCache) put(key string, st *kvState) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[key]; ok {
		c.bytes -= len(key) + len(old.data)
		delete(c.m, key)
	}
	size := 0
	if st != nil {
		size = len(key) + len(st.data)
	}
	if st == nil || size > c.max/8 {
		return
	}
	for k, v := range c.m {
		if c.bytes+size <= c.max {
			break
		}
		c.bytes -= len(k) + len(v.data)
		delete(c.m, k)
	}
	c.m[key] = *st
	c.bytes += size
}
