// Package jsonfile is the stategen backend that keeps state in plain JSON
// files, in the layout of the JSON backend of the Python StateManager
// (shared/reference/state_manager.py), so that the Python program and
// stategen read and write each other's state. Importing the package
// registers the URL scheme "json": json:DIR for a directory relative to the
// working directory, json:/ABS/DIR or json:///ABS/DIR for an absolute one.
// The Python program's own directory is json:.claude/state.
//
// # Layout
//
//	DIR/<namespace>/state.json               the namespace's keys
//	DIR/<namespace>/checkpoints/<name>.json  one checkpoint, in the same shape
//	DIR/<namespace>/.lock                    the writers' lock file, and the highest revision written
//
// state.json is one JSON object, formatted as Python's
// json.dump(state, f, indent=2) formats it, with one entry per key:
//
//	{
//	  "__stategen__": {
//	    "value": {
//	      "revision": 7,
//	      "schema": {
//	        "name": "ADWState",
//	        "version": 2
//	      },
//	      "keys": 1
//	    },
//	    "timestamp": "2025-01-02T03:04:05.123456"
//	  },
//	  "branch_name": {
//	    "value": "feat/issue-42",
//	    "timestamp": "2025-01-02T03:04:05.123456",
//	    "revision": 7
//	  }
//	}
//
// "value" is the key's JSON value and "timestamp" the UTC time of its last
// write, as Python's datetime.utcnow().isoformat() writes it (RFC 3339 is
// accepted too). The Python program reads only "value"; the extra fields are
// stategen's bookkeeping. "revision" is the namespace revision that last
// wrote the key. The reserved entry "__stategen__" (a name stategen never
// gives a key) holds the namespace's revision, its schema and its number of
// keys; keeping them in the same file makes a write of data, revision and
// schema one atomic replace. Python's list_keys shows the reserved entry; its
// load ignores it unless asked for it by name. Keys whose names stategen
// refuses (see runtime.ValidateName) are not stategen's: they are invisible
// to it and kept as they are by every write.
//
// A checkpoint file is a copy of state.json (which is what Python's
// checkpoint writes); stategen's checkpoints add "created" to the reserved
// entry, and a checkpoint without it (written by Python) is dated by the
// file's modification time.
//
// # Writes by other programs
//
// Python's writers know nothing of revisions, so stategen infers them, always
// erring towards a conflict rather than a lost update:
//   - An entry without "revision" (written by Python's save) has the
//     namespace revision plus one, and so has the namespace: a
//     compare-and-set against a revision read before that write fails.
//   - A file with fewer or more keys than the reserved entry counts (Python's
//     delete) has the namespace revision plus one.
//   - The .lock file holds the highest revision stategen has written to the
//     namespace. A state.json whose revision is lower was put back by someone
//     else (Python's restore_checkpoint copies a checkpoint over it): the
//     namespace and every key then have that highest revision plus one, so
//     revisions never go back.
//
// Two foreign writes in a row without a stategen write between them share a
// revision, and a hand edit that keeps every revision field is invisible;
// programs that only share state through stategen never meet either.
//
// # Safety
//
// Every write (Apply, PutCheckpoint, DeleteCheckpoint) holds the namespace's
// lock, an flock(2) lock on .lock that excludes other processes (and a mutex
// that excludes the process's own goroutines), and replaces its file
// atomically: a temporary file in the same directory, fsync, rename over the
// old one, fsync of the directory. Readers take no lock: they see the old
// file or the new one. Every path goes through an os.Root of DIR, so nothing
// outside DIR is read or created whatever a name or a symbolic link says;
// directories are created 0700 and files 0600. A file that does not parse, or
// an entry without "value", is runtime.ErrCorrupt and is never rewritten:
// writes to its namespace fail the same way until it is repaired.
//
// The backend cannot expire data: a TTL is runtime.ErrUnsupported.
package jsonfile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/fsstore"
)

func init() { runtime.Register("json", open) }

const (
	stateFile   = "state.json"
	cpDir       = "checkpoints"
	lockFile    = ".lock"
	reservedKey = "__stategen__"
	// tsLayout is how Python's datetime.utcnow().isoformat() writes a time
	// (when the microseconds are not zero, which it then leaves out).
	tsLayout = "2006-01-02T15:04:05.000000"
)

// now is the clock of timestamps; tests set it.
var now = time.Now

// Backend is the JSON file backend. It is safe for concurrent use, and
// several processes may use one directory at once.
type Backend struct {
	dir    *fsstore.Dir
	logger *slog.Logger
}

var _ runtime.Stamper = (*Backend)(nil)

func open(_ context.Context, u *url.URL, cfg runtime.Config) (runtime.Backend, error) {
	if cfg.TTL > 0 {
		return nil, fmt.Errorf("jsonfile: expiring data (TTL): %w", runtime.ErrUnsupported)
	}
	dir, err := fsstore.URLPath(u)
	if err != nil {
		return nil, fmt.Errorf("jsonfile: %w", err)
	}
	b, err := Open(dir)
	if err != nil {
		return nil, err
	}
	if cfg.Logger != nil {
		b.logger = cfg.Logger
	}
	return b, nil
}

// Open opens the store in dir, creating the directory if needed.
func Open(dir string) (*Backend, error) {
	d, err := fsstore.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("jsonfile: open %s: %w", dir, err)
	}
	return &Backend{dir: d, logger: slog.New(slog.DiscardHandler)}, nil
}

// Close releases the directory.
func (b *Backend) Close() error { return b.dir.Close() }

func statePath(ns string) string    { return ns + "/" + stateFile }
func lockPath(ns string) string     { return ns + "/" + lockFile }
func cpPath(ns, name string) string { return ns + "/" + cpDir + "/" + name + ".json" }

// nsState is a parsed state.json or checkpoint file.
type nsState struct {
	doc     *fsstore.Node // the file's object; nil when there is no file
	rev     int64         // the namespace's effective revision
	mark    int64         // the highest revision stategen wrote (state.json only)
	schema  runtime.SchemaRef
	created time.Time // from the reserved entry; zero if it has none
	entries map[string]*entry
}

// entry is one stategen key of a file.
type entry struct {
	node    *fsstore.Node // the entry object, {"value": ..., "timestamp": ..., "revision": ...}
	value   *fsstore.Node
	rev     int64 // effective revision
	updated time.Time
}

func (e *entry) toValue() runtime.Value {
	return runtime.Value{Data: fsstore.AppendCompact(nil, e.value), Revision: e.rev, Updated: e.updated}
}

// meta is the value of the reserved entry.
type meta struct {
	revision int64
	schema   runtime.SchemaRef
	keys     int64 // -1 when not recorded
	created  time.Time
}

// decode interprets a parsed file. mark is the highest revision stategen
// wrote to the namespace (0 for checkpoints, which nobody rewrites).
func decode(doc *fsstore.Node, mark int64) (*nsState, error) {
	if doc.Kind != fsstore.Object {
		return nil, fmt.Errorf("want a JSON object, found %s", doc.Kind)
	}
	st := &nsState{doc: doc, mark: mark, entries: map[string]*entry{}}
	m := meta{keys: -1}
	hasMeta := false
	if r := doc.Get(reservedKey); r != nil {
		var err error
		if m, err = decodeMeta(r); err != nil {
			return nil, fmt.Errorf("entry %q: %w", reservedKey, err)
		}
		hasMeta = true
	}
	st.schema, st.created = m.schema, m.created
	rev := m.revision
	var unrevised []*entry
	for _, mem := range doc.Members {
		if mem.Key == reservedKey || !fsstore.IsKey(mem.Key) {
			continue
		}
		e, err := decodeEntry(mem.Value)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", mem.Key, err)
		}
		if e.rev == 0 {
			unrevised = append(unrevised, e)
		}
		rev = max(rev, e.rev)
		st.entries[mem.Key] = e
	}
	switch {
	case mark > rev:
		// Older than stategen's last write: someone put back an earlier
		// copy. No revision in it says what it claims any more.
		rev = mark + 1
		for _, e := range st.entries {
			e.rev = rev
		}
	case len(unrevised) > 0 || hasMeta && m.keys >= 0 && m.keys != int64(len(st.entries)):
		// Written by someone after stategen's last write.
		rev++
		for _, e := range unrevised {
			e.rev = rev
		}
	}
	st.rev = rev
	return st, nil
}

func decodeMeta(r *fsstore.Node) (meta, error) {
	m := meta{keys: -1}
	v := r.Get("value")
	if r.Kind != fsstore.Object || v == nil || v.Kind != fsstore.Object {
		return m, errors.New(`want an object with an object "value"`)
	}
	var err error
	m.revision, err = v.Get("revision").Int()
	if err == nil && m.revision < 0 {
		err = fmt.Errorf("negative revision %d", m.revision)
	}
	if err != nil {
		return m, fmt.Errorf("revision: %w", err)
	}
	if s := v.Get("schema"); s != nil {
		name, version := s.Get("name"), s.Get("version")
		if s.Kind != fsstore.Object || name == nil || name.Kind != fsstore.String {
			return m, errors.New(`schema: want {"name": string, "version": integer}`)
		}
		ver, err := version.Int()
		if err != nil {
			return m, fmt.Errorf("schema version: %w", err)
		}
		m.schema = runtime.SchemaRef{Name: name.Text, Version: int(ver)}
		for _, f := range []struct {
			name string
			keys *[]string
		}{{"keys", &m.schema.Keys}, {"secret", &m.schema.Secret}} {
			field, keys := f.name, f.keys
			a := s.Get(field)
			if a == nil {
				continue
			}
			if a.Kind != fsstore.Array {
				return m, fmt.Errorf("schema %s: want an array of strings", field)
			}
			for _, e := range a.Elems {
				if e.Kind != fsstore.String {
					return m, fmt.Errorf("schema %s: want an array of strings", field)
				}
				*keys = append(*keys, e.Text)
			}
		}
	}
	if k := v.Get("keys"); k != nil {
		if m.keys, err = k.Int(); err != nil {
			return m, fmt.Errorf("keys: %w", err)
		}
	}
	if c := v.Get("created"); c != nil {
		if c.Kind == fsstore.String {
			m.created = parseTime(c.Text)
		}
		if m.created.IsZero() {
			return m, errors.New("created: want a time")
		}
	}
	return m, nil
}

func decodeEntry(n *fsstore.Node) (*entry, error) {
	if n.Kind != fsstore.Object {
		return nil, fmt.Errorf(`want an object with a "value", found %s`, n.Kind)
	}
	e := &entry{node: n, value: n.Get("value")}
	if e.value == nil {
		return nil, errors.New(`no "value"`)
	}
	if ts := n.Get("timestamp"); ts != nil && ts.Kind == fsstore.String {
		e.updated = parseTime(ts.Text) // informative only: an odd one is no reason to refuse the data
	}
	if r := n.Get("revision"); r != nil {
		rev, err := r.Int()
		if err == nil && rev < 1 {
			err = fmt.Errorf("revision %d is not positive", rev)
		}
		if err != nil {
			return nil, fmt.Errorf("revision: %w", err)
		}
		e.rev = rev
	}
	return e, nil
}

// parseTime reads Python's isoformat (no zone: UTC) or RFC 3339.
func parseTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func formatTime(t time.Time) string { return t.UTC().Format(tsLayout) }

// readMark reads the highest revision stategen wrote to ns. It is advisory:
// missing or unreadable means 0. It is read without the lock: a read torn
// by a concurrent rewrite could only yield a spurious higher revision, which
// makes a later compare-and-set conflict, never wrongly succeed.
func (b *Backend) readMark(ns string) int64 {
	data, err := b.dir.ReadFile(lockPath(ns))
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// writeMark records rev as the highest revision written to ns. The lock
// file is held; it is overwritten in place, never replaced, and always with
// the same width, so no truncation is needed.
func (b *Backend) writeMark(ns string, rev int64) {
	if err := b.dir.WriteSmall(lockPath(ns), fmt.Appendf(nil, "%020d\n", rev)); err != nil {
		// The state is written; only the protection against a foreign
		// rollback is weaker until the next write.
		b.logger.Warn("jsonfile: cannot record the revision in the lock file",
			slog.String("file", b.dir.Join(lockPath(ns))), slog.String("error", err.Error()))
	}
}

// load reads and decodes a namespace's state.json; a missing file gives a
// state without doc.
func (b *Backend) load(ns string) (*nsState, error) {
	// The mark first: a writer renames state.json before it raises the mark,
	// so this order never pairs an old file with a newer mark, which would
	// look like a rollback.
	mark := b.readMark(ns)
	name := statePath(ns)
	data, err := b.dir.ReadFile(name)
	if fsstore.IsNotExist(err) {
		return &nsState{mark: mark, entries: map[string]*entry{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", b.dir.Join(name), err)
	}
	return b.decodeFile(name, data, mark)
}

func (b *Backend) decodeFile(name string, data []byte, mark int64) (*nsState, error) {
	doc, err := fsstore.Parse(data)
	var st *nsState
	if err == nil {
		st, err = decode(doc, mark)
	}
	if err != nil {
		return nil, runtime.Corrupt(b.dir.Join(name), err)
	}
	return st, nil
}

func (b *Backend) notFound(ns string) error {
	return fmt.Errorf("namespace %q (%s): %w", ns, b.dir.Join(statePath(ns)), runtime.ErrNotFound)
}

// Get reads one key.
func (b *Backend) Get(_ context.Context, ns, key string) (runtime.Value, error) {
	if err := fsstore.CheckNames(ns, key); err != nil {
		return runtime.Value{}, err
	}
	st, err := b.load(ns)
	if err != nil {
		return runtime.Value{}, err
	}
	if st.doc == nil {
		return runtime.Value{}, b.notFound(ns)
	}
	e := st.entries[key]
	if e == nil {
		return runtime.Value{}, fmt.Errorf("key %q in %s: %w", key, b.dir.Join(statePath(ns)), runtime.ErrNotFound)
	}
	return e.toValue(), nil
}

// Snapshot reads a namespace: one file, so one revision.
func (b *Backend) Snapshot(_ context.Context, ns string) (*runtime.Snapshot, error) {
	if err := fsstore.CheckNames(ns); err != nil {
		return nil, err
	}
	st, err := b.load(ns)
	if err != nil {
		return nil, err
	}
	if !st.Exists() {
		return nil, b.notFound(ns)
	}
	snap := &runtime.Snapshot{Namespace: ns, Revision: st.rev, Schema: st.schema, Values: make(map[string]runtime.Value, len(st.entries))}
	for k, e := range st.entries {
		snap.Values[k] = e.toValue()
	}
	return snap, nil
}

// Stamp returns state.json's identity: inode, size, modification time and
// device, which change with every atomic replace, by stategen or Python.
func (b *Backend) Stamp(_ context.Context, ns string) (runtime.Stamp, error) {
	if err := fsstore.CheckNames(ns); err != nil {
		return runtime.Stamp{}, err
	}
	fi, err := b.dir.Stat(statePath(ns))
	if fsstore.IsNotExist(err) {
		return runtime.Stamp{}, nil
	}
	if err != nil {
		return runtime.Stamp{}, fmt.Errorf("stat %s: %w", b.dir.Join(statePath(ns)), err)
	}
	return fsstore.FileStamp(fi), nil
}

// Exists says whether the namespace holds a key or a schema: one that does
// not is not found, and a namespace condition at revision 0 asks for that.
func (st *nsState) Exists() bool {
	return st.doc != nil && (len(st.entries) > 0 || !st.schema.IsZero())
}

// Revision, Exists and KeyRevision make nsState an fsstore.State.
func (st *nsState) Revision() int64 { return st.rev }

// Schema is the schema the namespace records.
func (st *nsState) Schema() runtime.SchemaRef { return st.schema }

// KeyRevision is a present key's effective revision.
func (st *nsState) KeyRevision(key string) (int64, bool) {
	if e := st.entries[key]; e != nil {
		return e.rev, true
	}
	return 0, false
}

func entryNode(value *fsstore.Node, ts string, rev int64) *fsstore.Node {
	n := fsstore.NewObject()
	n.Set("value", value)
	n.Set("timestamp", fsstore.StringNode(ts))
	if rev > 0 {
		n.Set("revision", fsstore.IntNode(rev))
	}
	return n
}

// setMeta writes the reserved entry: in place if the file has one, else
// first, where a reader of the file sees it before the keys.
func setMeta(doc *fsstore.Node, m meta, ts string) {
	v := fsstore.NewObject()
	v.Set("revision", fsstore.IntNode(m.revision))
	if !m.schema.IsZero() {
		s := fsstore.NewObject()
		s.Set("name", fsstore.StringNode(m.schema.Name))
		s.Set("version", fsstore.IntNode(int64(m.schema.Version)))
		for _, f := range []struct {
			name string
			keys []string
		}{{"keys", m.schema.Keys}, {"secret", m.schema.Secret}} {
			if name, keys := f.name, f.keys; len(keys) > 0 {
				a := &fsstore.Node{Kind: fsstore.Array}
				for _, k := range keys {
					a.Elems = append(a.Elems, fsstore.StringNode(k))
				}
				s.Set(name, a)
			}
		}
		v.Set("schema", s)
	}
	v.Set("keys", fsstore.IntNode(m.keys))
	if !m.created.IsZero() {
		v.Set("created", fsstore.StringNode(m.created.UTC().Format(time.RFC3339Nano)))
	}
	n := entryNode(v, ts, 0)
	if doc.Get(reservedKey) != nil {
		doc.Set(reservedKey, n)
		return
	}
	doc.Members = append([]fsstore.Member{{Key: reservedKey, Value: n}}, doc.Members...)
}

func countKeys(doc *fsstore.Node) int64 {
	var n int64
	for _, m := range doc.Members {
		if m.Key != reservedKey && fsstore.IsKey(m.Key) {
			n++
		}
	}
	return n
}

// Apply performs a batch as one atomic replace of state.json, under the
// namespace's lock.
func (b *Backend) Apply(ctx context.Context, ns string, batch *runtime.Batch) (int64, error) {
	return fsstore.Apply(ctx, b.dir, ns, lockPath(ns), "namespace "+ns, batch, &nsState{},
		func() (*nsState, error) { return b.load(ns) },
		func(st *nsState, puts map[string]*fsstore.Node, order []string) (int64, error) {
			rev := max(st.rev, st.mark) + 1
			ts := formatTime(now())
			doc := st.doc
			if doc == nil {
				doc = fsstore.NewObject()
			}
			// Keys left alone keep their revision, now written down, so that
			// it no longer depends on how the file was found (a
			// Python-written entry becomes an ordinary one).
			for k, e := range st.entries {
				if _, put := puts[k]; !put {
					e.node.Set("revision", fsstore.IntNode(e.rev))
				}
			}
			fsstore.Merge(doc, batch, puts, order, func(v *fsstore.Node) *fsstore.Node { return entryNode(v, ts, rev) })
			schema := st.schema
			if batch.Schema != nil {
				schema = *batch.Schema
			}
			setMeta(doc, meta{revision: rev, schema: schema, keys: countKeys(doc)}, ts)
			if err := b.dir.WriteFiles(fsstore.File{Name: statePath(ns), Data: fsstore.AppendPython(nil, doc)}); err != nil {
				return 0, err
			}
			b.writeMark(ns, rev)
			return rev, nil
		})
}

// Namespaces lists the directories of DIR that hold a state.json or a
// checkpoints directory and whose names stategen accepts.
func (b *Backend) Namespaces(context.Context) ([]string, error) {
	ns, err := b.dir.Namespaces(stateFile, cpDir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b.dir.Path(), err)
	}
	// A namespace whose file cannot be read is listed, so that it can be
	// found and repaired.
	return b.dir.Existing(ns, cpDir, func(ns string) bool {
		st, err := b.load(ns)
		return err != nil || st.Exists()
	}), nil
}

// PutCheckpoint writes checkpoints/<name>.json atomically: a state.json-shaped
// copy of the values whose reserved entry also records when it was taken.
func (b *Backend) PutCheckpoint(ctx context.Context, ns string, cp *runtime.Checkpoint) error {
	if err := fsstore.CheckNames(ns); err != nil {
		return err
	}
	if err := runtime.ValidateName("checkpoint", cp.Name); err != nil {
		return err
	}
	at := now()
	created := cp.Created
	if created.IsZero() {
		created = at
	}
	doc := fsstore.NewObject()
	setMeta(doc, meta{revision: cp.Revision, schema: cp.Schema, keys: int64(len(cp.Values)), created: created}, formatTime(at))
	keys := make([]string, 0, len(cp.Values))
	for k := range cp.Values {
		if err := runtime.ValidateName("key", k); err != nil {
			return err
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := cp.Values[k]
		n, err := fsstore.Parse(v.Data)
		if err != nil {
			return fmt.Errorf("%w: checkpoint %q, value of key %q: %v", runtime.ErrInvalidValue, cp.Name, k, err)
		}
		updated := v.Updated
		if updated.IsZero() {
			updated = created
		}
		doc.Set(k, entryNode(n, formatTime(updated), v.Revision))
	}
	unlock, err := b.dir.Lock(ctx, lockPath(ns))
	if err != nil {
		return err
	}
	defer unlock()
	return b.dir.WriteFiles(fsstore.File{Name: cpPath(ns, cp.Name), Data: fsstore.AppendPython(nil, doc)})
}

// GetCheckpoint reads one checkpoint.
func (b *Backend) GetCheckpoint(_ context.Context, ns, name string) (*runtime.Checkpoint, error) {
	if err := fsstore.CheckNames(ns); err != nil {
		return nil, err
	}
	if err := runtime.ValidateName("checkpoint", name); err != nil {
		return nil, err
	}
	return b.readCheckpoint(ns, name)
}

func (b *Backend) readCheckpoint(ns, name string) (*runtime.Checkpoint, error) {
	p := cpPath(ns, name)
	data, err := b.dir.ReadFile(p)
	if fsstore.IsNotExist(err) {
		return nil, fmt.Errorf("checkpoint %q (%s): %w", name, b.dir.Join(p), runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", b.dir.Join(p), err)
	}
	st, err := b.decodeFile(p, data, 0)
	if err != nil {
		return nil, err
	}
	created := st.created
	if created.IsZero() {
		// Written by Python, which records no time: the file's is the best.
		fi, err := b.dir.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", b.dir.Join(p), err)
		}
		created = fi.ModTime()
	}
	cp := &runtime.Checkpoint{
		CheckpointInfo: runtime.CheckpointInfo{Name: name, Created: created, Revision: st.rev, Schema: st.schema, Keys: len(st.entries)},
		Values:         make(map[string]runtime.Value, len(st.entries)),
	}
	for k, e := range st.entries {
		cp.Values[k] = e.toValue()
	}
	return cp, nil
}

// Checkpoints lists a namespace's checkpoint files.
func (b *Backend) Checkpoints(_ context.Context, ns string) ([]runtime.CheckpointInfo, error) {
	return b.dir.Checkpoints(ns, ns+"/"+cpDir, func(name string) (*runtime.Checkpoint, error) { return b.readCheckpoint(ns, name) })
}

// DeleteCheckpoint removes a checkpoint file.
func (b *Backend) DeleteCheckpoint(ctx context.Context, ns, name string) error {
	return b.dir.DeleteCheckpoint(ctx, ns, name, lockPath(ns), cpPath(ns, name))
}
