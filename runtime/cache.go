package runtime

import (
	"context"
	"sync"
	"time"
)

// This file is the read cache: the cache itself, and how Load reads through
// it and Save fills it.

type cacheMode int

const (
	cacheStrict cacheMode = iota
	cacheRelaxed
	cacheOff
)

// maxCacheEntries bounds the cache; past it the cache starts over, which is
// cheap and keeps a process that walks many namespaces from growing.
const maxCacheEntries = 1 << 14

// cache holds decoded values per namespace and key, each with the revision
// it was stored at.
//
// Two rules keep it from going back in time. An entry never replaces one of
// a newer revision. And a value is installed only if no write through this
// Store that may be newer has completed meanwhile: a read checks the
// namespace's generation, which every write bumps, so a read that raced
// with a write never installs what it read; Save, whose own write bumps the
// generation, installs what it wrote only if no write through this Store
// got a newer revision and none failed (a failed write may have landed,
// at a revision nobody learned) since it began. Writes complete in an order
// of their own, not the order they landed in; revisions give the latter.
type cache struct {
	mode cacheMode
	ttl  time.Duration

	mu    sync.RWMutex
	ns    map[string]map[string]cacheEntry
	marks map[string]nsMarks
	size  int
	seq   uint64 // numbers entries, so that a timer removes only its own
}

// nsMarks is what the cache knows of a namespace's writes through this Store.
type nsMarks struct {
	gen    uint64 // bumped by every write
	newest int64  // the newest revision a write got
	failed uint64 // writes that failed, and so may have landed unseen
}

type cacheEntry struct {
	val   any
	rev   int64
	stamp Stamp     // strict: the backend's stamp taken before the read
	seq   uint64    // relaxed: which expiry timer owns the entry
	until time.Time // the run's expiry (WithTTL) or earlier; zero: none known
}

// live reports whether e may be served: not past its run's expiry, since a
// run that expires changes nothing the stamp sees. Only entries of runs
// with a TTL read the clock.
func (e cacheEntry) live() bool { return e.until.IsZero() || !time.Now().After(e.until) }

// runExpiry is when the run of a snapshot expires (RunInfo.Expired), from
// its reserved keys or what the Store recorded when it took them out; zero
// when it has no TTL.
func runExpiry(snap *Snapshot) time.Time {
	if !snap.Expires.IsZero() {
		return snap.Expires
	}
	if _, ok := snap.Values[KeyTTL]; !ok {
		return time.Time{}
	}
	r := snap.RunInfo()
	if r.TTL <= 0 || r.Updated.IsZero() {
		return time.Time{}
	}
	return r.Updated.Add(r.TTL)
}

func newCache(mode cacheMode, ttl time.Duration) *cache {
	if mode == cacheOff {
		return nil
	}
	return &cache{mode: mode, ttl: ttl, ns: map[string]map[string]cacheEntry{}, marks: map[string]nsMarks{}}
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

// marksOf returns what the cache knows of ns's writes; a reader takes them
// before it reads or writes, and installs only if they still allow it.
func (c *cache) marksOf(ns string) nsMarks {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.marks[ns]
}

// putRead installs a value read from the backend if no write through this
// Store happened since before the read (the generation is unchanged).
func (c *cache) putRead(ns, key string, before nsMarks, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.marks[ns].gen == before.gen {
		c.install(ns, key, e)
	}
}

// putWritten installs the value a successful write through this Store
// stored at e.rev, if no write through this Store that may be newer has
// completed since before it began.
func (c *cache) putWritten(ns, key string, before nsMarks, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.marks[ns]
	if m.failed == before.failed && m.newest <= e.rev {
		c.install(ns, key, e)
	}
}

// install stores e unless the entry it would replace is newer. c.mu is held.
func (c *cache) install(ns, key string, e cacheEntry) {
	m := c.ns[ns]
	if old, had := m[key]; had && old.rev > e.rev {
		return
	}
	if c.mode == cacheRelaxed {
		c.seq++
		e.seq = c.seq
		time.AfterFunc(c.ttl, func() { c.expire(ns, key, e.seq) })
	}
	if c.size >= maxCacheEntries {
		c.ns, c.size, m = map[string]map[string]cacheEntry{}, 0, nil
	}
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

// wrote records a write through this Store to ns, which got revision rev or
// failed with err, and drops the namespace's entries.
func (c *cache) wrote(ns string, rev int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.marks[ns]
	m.gen++
	if err != nil {
		m.failed++
	} else if rev > m.newest {
		m.newest = rev
	}
	c.marks[ns] = m
	c.size -= len(c.ns[ns])
	delete(c.ns, ns)
}

// checked marks a cached value that a schema-aware read installed: one
// known to be stored under the reader's schema version. Loads without a
// schema neither use nor install such entries.
type checked[V any] struct{ v V }

// cachedLoad reads key through the Store's cache. read returns the stored
// value and whether it may be cached; dec decodes it. schema says the
// caller checks the stored schema (read does).
//
// A run may expire while its values sit in the cache, changing nothing
// the stamp sees; a key's own write time bounds the run's last write from
// below, so under this Store's TTL (WithTTL) an entry is served until that
// time plus the TTL at most (a value without a write time is not cached).
func cachedLoad[V any](ctx context.Context, s *Store, ns, key string, c *Codec[V], schema bool,
	read func() (Value, bool, error), dec func([]byte) (V, error)) (V, error) {
	var zero V
	if s.cache == nil {
		val, _, err := read()
		if err != nil {
			return zero, err
		}
		return dec(val.Data)
	}
	// A hit needs no name check: only checked names reach the cache.
	e, ok := s.cache.get(ns, key)
	var stamp Stamp
	if s.cache.mode == cacheStrict {
		if err := validateKey(ns, key); err != nil {
			return zero, s.wrap("get", ns, key, err)
		}
		var err error
		if stamp, err = s.stamp(ctx, ns); err != nil {
			return zero, err
		}
		ok = ok && e.stamp == stamp
	}
	if ok && e.live() {
		if schema {
			if w, isW := e.val.(checked[V]); isW {
				return c.clone(w.v), nil
			}
		} else if v, isV := e.val.(V); isV {
			return c.clone(v), nil
		}
	}
	before := s.cache.marksOf(ns)
	stored, cacheable, err := read()
	if err != nil {
		return zero, err
	}
	v, err := dec(stored.Data)
	if err != nil {
		return zero, err
	}
	var until time.Time
	if ttl := s.opts.keyTTL; ttl > 0 {
		until = stored.Updated.Add(ttl)
		cacheable = cacheable && !stored.Updated.IsZero()
	}
	if cacheable {
		var val any = c.clone(v)
		if schema {
			val = checked[V]{c.clone(v)}
		}
		s.cache.putRead(ns, key, before, cacheEntry{val: val, rev: stored.Revision, stamp: stamp, until: until})
	}
	return v, nil
}

// keepWritten runs write, a write of ns/key that stores what val returns,
// and in the relaxed mode keeps that value in the cache (this process owns
// the namespace), unless a write through this Store that may be newer
// completed meanwhile.
func (s *Store) keepWritten(ns, key string, val func() any, write func() (int64, error)) error {
	if s.cache == nil || s.cache.mode != cacheRelaxed {
		_, err := write()
		return err
	}
	before := s.cache.marksOf(ns)
	rev, err := write()
	if err == nil {
		s.cache.putWritten(ns, key, before, cacheEntry{val: val(), rev: rev})
	}
	return err
}

func (s *Store) stamp(ctx context.Context, ns string) (Stamp, error) {
	var st Stamp
	err := s.do(ctx, "stamp", ns, "", func() (err error) {
		st, err = s.stamper.Stamp(ctx, ns)
		return err
	})
	return st, err
}
