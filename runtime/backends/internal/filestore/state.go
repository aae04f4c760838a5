package filestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/stategen/stategen/runtime"
)

// Where a namespace's bookkeeping lives, relative to its directory.
const (
	sgDir    = ".stategen"
	metaFile = sgDir + "/meta.json"
	lockFile = sgDir + "/lock"
	// legacyKey is the member in which earlier releases kept their
	// bookkeeping inside state.json, and stategen's checkpoints still do:
	// a member of a data file by that name names the schema of a file no
	// bookkeeping describes, and every write removes it.
	legacyKey = "__stategen__"
)

// description is what stategen knows of one state of a namespace: its
// revision and schema, every key's revision, the keys kept beside the data
// file, and which version of the data file holds the rest.
type description struct {
	Revision int64              `json:"revision"`
	Schema   *runtime.SchemaRef `json:"schema,omitempty"`
	Keys     map[string]int64   `json:"keys"`
	// Extra holds the keys kept in the bookkeeping (see Format.InFile).
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
	// Data identifies the data file; nil when there is none.
	Data *fileID `json:"data,omitempty"`
}

// meta is the bookkeeping file: the description of the state last
// written, and of the one that write replaced. A write replaces meta.json
// before the data file, so that a reader between the two (or the state a
// crash between them leaves) finds the data file described by prev: the
// old state, wholly, at its own revision.
type meta struct {
	description
	Prev *description `json:"prev,omitempty"`
}

// nsState is a namespace as read from its files.
type nsState struct {
	name string  // the namespace
	doc  *object // the data file's members; nil without a data file
	data *fileID // the data file's identity; nil without one
	meta *meta   // nil without bookkeeping

	rev     int64 // 0: never written
	schema  runtime.SchemaRef
	keyRevs map[string]int64
	extra   map[string][]byte // keys kept in the bookkeeping, compact JSON
	// foreign says the data file is not the one the bookkeeping describes:
	// another program wrote (or removed) it since.
	foreign bool
	// metaTime is the bookkeeping's modification time as read; zero
	// without bookkeeping.
	metaTime time.Time
}

// sameFile reports whether a and b identify the same version of a file
// (both nil: both absent).
func sameFile(a, b *fileID) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// interpret pairs a data file with its bookkeeping.
func interpret(m *meta, doc *object, data *fileID) *nsState {
	st := &nsState{doc: doc, data: data, meta: m, keyRevs: map[string]int64{}, extra: map[string][]byte{}}
	var d *description
	if m != nil {
		switch {
		case sameFile(m.Data, data):
			d = &m.description
		case m.Prev != nil && sameFile(m.Prev.Data, data):
			d = m.Prev
		}
	}
	if d == nil && m == nil && doc != nil {
		d = legacyDescription(doc) // an earlier release's file, if it is one
	}
	if d == nil {
		if m == nil && data == nil {
			return st // never written
		}
		// Written by another program since stategen last described the
		// file (or never described): a new revision, so that a
		// compare-and-set against anything read before fails, and the
		// description the file replaced for the rest.
		st.foreign = true
		if m != nil {
			d = &m.description
		} else {
			d = &description{}
		}
	}
	st.rev = d.Revision
	if st.foreign {
		st.rev++
	}
	if d.Schema != nil {
		st.schema = *d.Schema
	}
	for k, v := range d.Extra {
		st.extra[k] = appendCompact(nil, v)
	}
	if doc != nil {
		if st.foreign {
			if s, ok := legacySchema(doc); ok {
				st.schema = s
			}
		}
		for _, mem := range doc.members {
			if isKey(mem.key) {
				delete(st.extra, mem.key) // the data file's copy is the newer one
			}
		}
	}
	for k := range st.keys() {
		r, ok := d.Keys[k]
		if !ok || r <= 0 || r > st.rev || st.foreign && st.inFile(k) {
			r = st.rev
		}
		st.keyRevs[k] = r
	}
	return st
}

// legacyDescription reads the bookkeeping an earlier release kept in the
// data file itself: the namespace's revision and schema in its legacyKey
// member and each key's revision in the key's entry, so that upgrading
// keeps every revision. It is nil for a file without that member. A key
// without a revision, or a key count other than the member's, means
// another program wrote the file after that release: such keys have the
// next revision.
func legacyDescription(doc *object) *description {
	raw, ok := doc.get(legacyKey)
	if !ok {
		return nil
	}
	var entry struct {
		Value struct {
			Revision int64              `json:"revision"`
			Schema   *runtime.SchemaRef `json:"schema"`
			Keys     *int               `json:"keys"`
		} `json:"value"`
	}
	if json.Unmarshal(raw, &entry) != nil || entry.Value.Revision < 1 {
		return nil
	}
	d := &description{Revision: entry.Value.Revision, Schema: entry.Value.Schema, Keys: map[string]int64{}}
	var unrevised []string
	for _, m := range doc.members {
		if !isKey(m.key) {
			continue
		}
		if _, _, rev, err := unwrapEntry(m.value); err == nil && rev > 0 {
			d.Keys[m.key] = rev
			d.Revision = max(d.Revision, rev)
		} else {
			unrevised = append(unrevised, m.key)
		}
	}
	if len(unrevised) > 0 || entry.Value.Keys != nil && *entry.Value.Keys != len(d.Keys)+len(unrevised) {
		d.Revision++
		for _, k := range unrevised {
			d.Keys[k] = d.Revision
		}
	}
	return d
}

// legacySchema reads the schema named by a data file's legacyKey member,
// which Python's restore copies in from a stategen checkpoint.
func legacySchema(doc *object) (runtime.SchemaRef, bool) {
	raw, ok := doc.get(legacyKey)
	if !ok {
		return runtime.SchemaRef{}, false
	}
	var entry struct {
		Value struct {
			Schema *runtime.SchemaRef `json:"schema"`
		} `json:"value"`
	}
	if json.Unmarshal(raw, &entry) != nil || entry.Value.Schema == nil {
		return runtime.SchemaRef{}, false
	}
	return *entry.Value.Schema, true
}

// inFile reports whether key's value comes from the data file.
func (st *nsState) inFile(key string) bool {
	_, ok := st.docValue(key)
	return ok
}

// docValue returns the data file's member for key.
func (st *nsState) docValue(key string) ([]byte, bool) {
	if st.doc == nil {
		return nil, false
	}
	return st.doc.get(key)
}

// keys iterates over the namespace's keys: the data file's members whose
// names stategen accepts, then the keys kept beside it.
func (st *nsState) keys() func(yield func(string) bool) {
	return func(yield func(string) bool) {
		if st.doc != nil {
			for _, m := range st.doc.members {
				if isKey(m.key) && !yield(m.key) {
					return
				}
			}
		}
		for k := range st.extra {
			if !yield(k) {
				return
			}
		}
	}
}

// exists says whether the namespace holds a key or a schema: one that does
// not is not found, and a namespace condition at revision 0 asks for that.
func (st *nsState) exists() bool {
	if st.rev == 0 {
		return false
	}
	if !st.schema.IsZero() || len(st.extra) > 0 {
		return true
	}
	for range st.keys() {
		return true
	}
	return false
}

// describe is the description of the state as read, for the bookkeeping.
func (st *nsState) describe() *description {
	d := &description{Revision: st.rev, Keys: maps.Clone(st.keyRevs), Data: st.data}
	if !st.schema.IsZero() {
		s := st.schema
		d.Schema = &s
	}
	if len(st.extra) > 0 {
		d.Extra = make(map[string]json.RawMessage, len(st.extra))
		for k, v := range st.extra {
			d.Extra[k] = v
		}
	}
	return d
}

// readMode says what a read may do about a data file another program
// wrote.
type readMode int

const (
	// readAdopt records it in the bookkeeping, so that it keeps the
	// revision the read reports.
	readAdopt readMode = iota
	// readPeek only reports it.
	readPeek
	// readLocked reports it; the caller holds the lock and will write.
	readLocked
)

// load reads a namespace's bookkeeping and data file and pairs them.
func (b *Backend) load(ctx context.Context, ns string, mode readMode) (*nsState, error) {
	for attempt := 0; ; attempt++ {
		metaData, m, metaTime, err := b.readMeta(ns)
		if err != nil {
			return nil, err
		}
		doc, data, err := b.readData(ctx, ns)
		if err != nil {
			return nil, err
		}
		st := interpret(m, doc, data)
		st.name, st.metaTime = ns, metaTime
		if !st.foreign || mode == readLocked {
			return st, nil
		}
		// A writer's two renames may have fallen between the two reads
		// (the old meta.json, then the new data file): then meta.json
		// has changed since, and reading again tells.
		again, err := b.dir.ReadFile(b.path(ns, metaFile))
		if err != nil && !IsNotExist(err) {
			return nil, fmt.Errorf("read %s: %w", b.dir.Join(b.path(ns, metaFile)), err)
		}
		if !bytes.Equal(again, metaData) && attempt < 3 {
			continue
		}
		if mode == readPeek || b.readOnly {
			return st, nil
		}
		return b.adopt(ctx, ns, st)
	}
}

// adopt records a data file another program wrote, under the lock, so
// that its revision stays what this read reports: a later change by that
// program then gets a new revision, and a compare-and-set based on this
// read conflicts with it. Where the bookkeeping cannot be written (a
// read-only file system, no permission) the read still succeeds: such a
// process cannot write the namespace either.
func (b *Backend) adopt(ctx context.Context, ns string, st *nsState) (*nsState, error) {
	unlock, err := b.dir.Lock(ctx, b.path(ns, lockFile))
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		b.logger.Debug("stategen: cannot record a foreign write", slog.String("namespace", ns), slog.String("error", err.Error()))
		return st, nil
	}
	defer unlock()
	cur, err := b.load(ctx, ns, readLocked)
	if err != nil || !cur.foreign {
		return cur, err
	}
	if err := b.writeMeta(ns, &meta{description: *cur.describe()}); err != nil {
		b.logger.Debug("stategen: cannot record a foreign write", slog.String("namespace", ns), slog.String("error", err.Error()))
	}
	cur.foreign = false
	return cur, nil
}

// readMeta reads the bookkeeping, and its modification time; nil when
// there is none. Bookkeeping holding the bytes last parsed for the
// namespace is not parsed again.
func (b *Backend) readMeta(ns string) ([]byte, *meta, time.Time, error) {
	name := b.path(ns, metaFile)
	data, fi, err := b.dir.ReadFileInfo(name)
	if IsNotExist(err) {
		return nil, nil, time.Time{}, nil
	}
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("read %s: %w", b.dir.Join(name), err)
	}
	if m := b.metas.get(ns, data); m != nil {
		return data, m, fi.ModTime(), nil
	}
	var m meta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, time.Time{}, runtime.Corrupt(b.dir.Join(name), err)
	}
	if m.Revision < 1 {
		return nil, nil, time.Time{}, runtime.Corrupt(b.dir.Join(name), fmt.Errorf("revision %d is not positive", m.Revision))
	}
	b.metas.put(ns, data, &m)
	return data, &m, fi.ModTime(), nil
}

// metaCache keeps, for each namespace read lately, its bookkeeping as
// parsed and the bytes it was parsed from: a read that finds meta.json
// holding those bytes again reuses the parse. Keyed by the content, not by
// what stat says of the file, it is never stale, whoever wrote the file and
// however quickly. The parsed bookkeeping it hands out is shared: nothing
// may modify it.
type metaCache struct {
	mu sync.Mutex
	m  map[string]parsedMeta
}

type parsedMeta struct {
	data []byte
	meta *meta
}

// metaCacheSize bounds how many namespaces' bookkeeping the cache holds;
// past it, the cache starts over.
const metaCacheSize = 256

// get returns the bookkeeping parsed from data for ns, if it is cached.
func (c *metaCache) get(ns string, data []byte) *meta {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.m[ns]; ok && bytes.Equal(p.data, data) {
		return p.meta
	}
	return nil
}

// put caches m, parsed from data, for ns.
func (c *metaCache) put(ns string, data []byte, m *meta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= metaCacheSize {
		c.m = make(map[string]parsedMeta)
	}
	c.m[ns] = parsedMeta{data: data, meta: m}
}

// writeMeta replaces the bookkeeping atomically; the lock is held.
func (b *Backend) writeMeta(ns string, m *meta) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // values are kept as they were given
	enc.SetIndent("", " ")
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("encode %s: %w", b.dir.Join(b.path(ns, metaFile)), err)
	}
	return b.dir.WriteFiles(File{Name: b.path(ns, metaFile), Data: buf.Bytes()})
}

// How long a read waits for a data file that does not parse to be
// written whole: another program may be rewriting it in place (Python's
// open(path, "w") truncates it first). While some process has the file open
// for writing the read waits, up to tornLimit; once none has, what does not
// parse is corrupt. Where that cannot be known, a file that has not changed
// for settle and still does not parse is corrupt.
const (
	settle    = 500 * time.Millisecond
	tornLimit = 10 * time.Second
)

// readData reads the data file whole, at one version: the file is stat'ed
// before and after it is read, and read again if it changed meanwhile or
// does not parse while it may still be being written.
func (b *Backend) readData(ctx context.Context, ns string) (*object, *fileID, error) {
	name := b.path(ns, b.f.DataFile())
	start := time.Now()
	var unparsable statID // the version that did not parse
	var since time.Time   // when it was first seen
	for delay := 200 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		r, err := b.readStable(name)
		if IsNotExist(err) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", b.dir.Join(name), err)
		}
		if r.err == nil {
			return r.doc, &r.id, nil
		}
		if r.stable {
			if s := r.id.stat(); s != unparsable {
				unparsable, since = s, time.Now()
			}
			if r.settled || !r.writing && time.Since(since) >= settle {
				return nil, nil, runtime.Corrupt(b.dir.Join(name), r.err)
			}
		}
		if time.Since(start) >= tornLimit {
			return nil, nil, runtime.Corrupt(b.dir.Join(name), fmt.Errorf("%w; the file was still being written after %v", r.err, tornLimit))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// read is one read of a data file.
type read struct {
	doc *object
	id  fileID
	err error // why it did not parse
	// stable says the file did not change while it was read; writing
	// that some process may have it open for writing, and settled that
	// none has, which makes a file that does not parse corrupt.
	stable, writing, settled bool
}

// readStable reads a file, stat'ing it before and after, and parses it.
func (b *Backend) readStable(name string) (read, error) {
	fh, err := b.dir.OpenFile(name)
	if err != nil {
		return read{}, err
	}
	defer fh.Close()
	before, err := fh.Stat()
	if err != nil {
		return read{}, err
	}
	data, err := readAll(fh, before.Size())
	if err != nil {
		return read{}, err
	}
	after, err := fh.Stat()
	if err != nil {
		return read{}, err
	}
	r := read{id: identify(after, data), stable: statOf(before) == statOf(after)}
	if !r.stable {
		r.err = errors.New("the file changed while it was read")
		return r, nil
	}
	if r.doc, r.err = parseObject(data); r.err != nil {
		writing, known := beingWritten(fh)
		// Nobody writes it now, and nobody wrote it since it was read.
		final := false
		if fi, err := fh.Stat(); err == nil {
			final = statOf(fi) == statOf(after)
		}
		r.writing, r.settled = writing || !known, known && !writing && final
	}
	return r, nil
}
