package runtime

import (
	"sync"
	"time"
)

type cacheMode int

const (
	cacheStrict cacheMode = iota
	cacheRelaxed
	cacheOff
)

// maxCacheEntries bounds the cache; past it the cache starts over, which is
// cheap and keeps a process that walks many namespaces from growing.
const maxCacheEntries = 1 << 14

// cache holds decoded values per namespace and key. Entries are tagged with
// the namespace's generation, which every write through this Store bumps, so
// a read that raced with such a write never installs a stale value.
type cache struct {
	mode cacheMode
	ttl  time.Duration

	mu   sync.RWMutex
	ns   map[string]map[string]cacheEntry
	gen  map[string]uint64
	size int
	seq  uint64 // numbers entries, so that a timer removes only its own
}

type cacheEntry struct {
	val   any
	rev   int64
	stamp Stamp  // strict: the backend's stamp taken before the read
	seq   uint64 // relaxed: which expiry timer owns the entry
}

func newCache(mode cacheMode, ttl time.Duration) *cache {
	if mode == cacheOff {
		return nil
	}
	return &cache{mode: mode, ttl: ttl, ns: map[string]map[string]cacheEntry{}, gen: map[string]uint64{}}
}

// get returns the entry for ns/key. In the strict mode the caller compares
// the stamp; in the relaxed mode a timer removes the entry when its TTL is
// up, which keeps reading the clock (tens of nanoseconds) off every hit.
func (c *cache) get(ns, key string) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.ns[ns][key]
	c.mu.RUnlock()
	return e, ok
}

// generation is read before a backend read; put installs only if no write
// through this Store happened since.
func (c *cache) generation(ns string) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen[ns]
}

func (c *cache) put(ns, key string, gen uint64, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen[ns] != gen {
		return
	}
	if c.mode == cacheRelaxed {
		c.seq++
		e.seq = c.seq
		time.AfterFunc(c.ttl, func() { c.expire(ns, key, e.seq) })
	}
	if c.size >= maxCacheEntries {
		c.ns, c.size = map[string]map[string]cacheEntry{}, 0
	}
	m := c.ns[ns]
	if m == nil {
		m = map[string]cacheEntry{}
		c.ns[ns] = m
	}
	if _, had := m[key]; !had {
		c.size++
	}
	m[key] = e
}

// expire drops ns/key if it is still the entry numbered seq.
func (c *cache) expire(ns, key string, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.ns[ns][key]; ok && e.seq == seq {
		delete(c.ns[ns], key)
		c.size--
	}
}

// invalidate drops a namespace's entries; called after every write to it.
func (c *cache) invalidate(ns string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen[ns]++
	c.size -= len(c.ns[ns])
	delete(c.ns, ns)
}
