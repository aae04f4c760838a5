package filestore

import (
	"context"
	"fmt"
	"maps"
	"path"

	"github.com/stategen/stategen/runtime"
)

// maxValueDepth is how deeply a value may nest: a checkpoint file holds
// it two levels down (its object, the entry), and a data file at most as
// deep.
const maxValueDepth = MaxDepth - 2

// parseBatch checks a batch's names (the Store did, but a backend used
// directly must not let a bad name reach a path) and values, and returns
// the values to put, compact, by key (the last one winning for a repeated
// key), and the keys in first-seen order.
func parseBatch(ns string, batch *runtime.Batch) (map[string][]byte, []string, error) {
	if err := checkNames(ns, batch.Deletes...); err != nil {
		return nil, nil, err
	}
	for _, c := range batch.Conds {
		if c.Key != "" {
			if err := checkNames(ns, c.Key); err != nil {
				return nil, nil, err
			}
		}
	}
	puts := make(map[string][]byte, len(batch.Puts))
	order := make([]string, 0, len(batch.Puts))
	for _, kv := range batch.Puts {
		if err := checkNames(ns, kv.Key); err != nil {
			return nil, nil, err
		}
		v, err := checkValue(kv.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: value of key %q: %v", runtime.ErrInvalidValue, kv.Key, err)
		}
		if _, dup := puts[kv.Key]; !dup {
			order = append(order, kv.Key)
		}
		puts[kv.Key] = v
	}
	return puts, order, nil
}

// checkValue checks that v is one JSON value the files can hold and
// returns it compact.
func checkValue(v []byte) ([]byte, error) {
	i := skipSpace(v, 0)
	end, err := skipValue(v, i, 0)
	if err == nil {
		err = checkEnd(v, end)
	}
	if err != nil {
		return nil, err
	}
	if d := depth(v[i:end]); d > maxValueDepth {
		return nil, fmt.Errorf("nested %d levels deep; the file backends keep at most %d", d, maxValueDepth)
	}
	return appendCompact(nil, v[i:end]), nil
}

// checkConds checks a batch's conditions (Conds and IfSchema) against st.
func (b *Backend) checkConds(ns string, st *nsState, batch *runtime.Batch) error {
	if want := batch.IfSchema; want != nil && !st.schema.IsZero() && !st.schema.SameVersion(*want) {
		return fmt.Errorf("schema of %s %s: %w: expected %s, found %s", b.f.Noun(), ns, runtime.ErrConflict, *want, st.schema)
	}
	for _, c := range batch.Conds {
		have, subject := int64(0), b.f.Noun()+" "+ns
		if c.Key != "" {
			subject = "key " + c.Key
			have = st.keyRevs[c.Key]
		} else if st.exists() {
			have = st.rev
		}
		if have != c.Revision {
			return fmt.Errorf("%s: %w: expected revision %d, found %d", subject, runtime.ErrConflict, c.Revision, have)
		}
	}
	return nil
}

// maxRestarts bounds how often a write starts over because another
// program changed the data file while it was being written.
const maxRestarts = 5

// Apply performs a batch under the namespace's lock: the bookkeeping, then
// the data file, each replaced atomically. A failing condition creates
// nothing, not even the store's directory.
func (b *Backend) Apply(ctx context.Context, ns string, batch *runtime.Batch) (int64, error) {
	puts, order, err := parseBatch(ns, batch)
	if err != nil {
		return 0, err
	}
	if b.readOnly {
		return 0, fmt.Errorf("write %s %q: %w", b.f.Noun(), ns, runtime.ErrReadOnly)
	}
	if _, err := b.dir.Stat(ns); IsNotExist(err) {
		if err := b.checkConds(ns, &nsState{}, batch); err != nil {
			return 0, err
		}
	}
	unlock, err := b.dir.Lock(ctx, b.path(ns, lockFile))
	if err != nil {
		return 0, err
	}
	defer unlock()
	for attempt := 0; ; attempt++ {
		st, err := b.load(ctx, ns, readLocked)
		if err != nil {
			return 0, err
		}
		if err := b.checkConds(ns, st, batch); err != nil {
			return 0, err
		}
		rev, err := b.write(st, batch, puts, order, attempt < maxRestarts)
		if err != errRestart {
			return rev, err
		}
	}
}

// errRestart says the data file changed under a write, which must start
// over from reading it.
var errRestart = fmt.Errorf("the data file changed while it was written")

// write applies a batch to the namespace as read, st; the lock is held.
// With mayRestart it gives up with errRestart, having changed nothing, when
// another program changed the data file after st was read.
func (b *Backend) write(st *nsState, batch *runtime.Batch, puts map[string][]byte, order []string, mayRestart bool) (int64, error) {
	ns := st.name
	rev := st.rev + 1
	if st.meta != nil {
		rev = max(rev, st.meta.Revision+1) // never reuse one a crashed write took
	}
	doc := st.doc
	if doc == nil {
		doc = &object{}
	}
	extra := maps.Clone(st.extra)
	keyRevs := maps.Clone(st.keyRevs)
	// Deletes, then puts: a key both deleted and put is put.
	gone := map[string]bool{}
	if batch.Replace {
		for k := range st.keys() {
			if !runtime.IsReserved(k) {
				gone[k] = true
			}
		}
	}
	for _, k := range batch.Deletes {
		gone[k] = true
	}
	for _, k := range order {
		delete(gone, k)
	}
	for k := range gone {
		delete(extra, k)
		delete(keyRevs, k)
	}
	// One pass over the data file's members removes what goes and what
	// moves beside it.
	n := len(doc.members)
	doc.remove(func(k string) bool {
		if _, put := puts[k]; put {
			return !b.inFile(k)
		}
		return gone[k] || k == legacyKey
	})
	changed := len(doc.members) != n // the data file changes
	t := now()
	for _, k := range order {
		if b.inFile(k) {
			doc.set(k, b.f.Wrap(puts[k], t))
			delete(extra, k)
			changed = true
		} else {
			extra[k] = puts[k]
		}
		keyRevs[k] = rev
	}

	next := &nsState{name: ns, rev: rev, schema: st.schema, keyRevs: keyRevs, extra: extra, data: st.data}
	if batch.Schema != nil {
		next.schema = *batch.Schema // a zero one: none recorded
	}
	dataName := b.path(ns, b.f.DataFile())
	tmp := ""
	if changed {
		var id fileID
		var err error
		if tmp, id, err = b.dir.writeTemp(File{Name: dataName, Data: doc.appendPython(nil)}); err != nil {
			return 0, err
		}
		next.data = &id
	}
	testHook("written", ns)
	// The last look before anything is replaced: a change by another
	// program since st was read makes the write start over, and so meet
	// its condition against the new revision.
	if mayRestart && !b.unchanged(dataName, st.data) {
		if tmp != "" {
			b.dir.root.Remove(tmp)
		}
		return 0, errRestart
	}
	if err := b.writeMeta(ns, &meta{description: *next.describe(), Prev: st.describe()}); err != nil {
		if tmp != "" {
			b.dir.root.Remove(tmp)
		}
		return 0, err
	}
	if tmp == "" {
		return rev, nil
	}
	testHook("meta", ns)
	// And the very last, just before the swap. Writing the bookkeeping took
	// a sync of its own, time enough for another program's save: if one
	// came, the bookkeeping goes back to describing the state as read (at
	// this write's revision, which no reader has seen paired with any
	// file), and the write starts over.
	if mayRestart && !b.unchanged(dataName, st.data) {
		undo := st.describe()
		undo.Revision = rev
		if err := b.writeMeta(ns, &meta{description: *undo}); err != nil {
			b.dir.root.Remove(tmp)
			return 0, err
		}
		b.dir.root.Remove(tmp)
		return 0, errRestart
	}
	testHook("swap", ns)
	return rev, b.install(tmp, dataName, st.data)
}

// testHook lets tests act at the named instants of a write: "written"
// (the new data file is in its temporary file) and "meta" (the bookkeeping
// is replaced, the data file not yet: the last look at the data file is
// still to come) and "swap" (after that look).
var testHook = func(point, ns string) {}

// unchanged reports whether the data file is still the version was (nil:
// still absent), as far as stat tells.
func (b *Backend) unchanged(name string, was *fileID) bool {
	fi, err := b.dir.Stat(name)
	if IsNotExist(err) {
		return was == nil
	}
	return err == nil && was != nil && statOf(fi) == was.stat()
}

// install puts the written data file tmp in place of the version was. If
// another program replaced or rewrote the data file in the instant before
// (its write already begun, or its rename landing), that version is what
// the exchange displaced: it is put back, so that it counts as written
// after this one (which it overwrote anyway, Python saving every field it
// has), rather than being lost. The bookkeeping already names this write's
// file, so the next read sees the put-back version as a foreign write on
// top of it.
func (b *Backend) install(tmp, name string, was *fileID) error {
	swapped, err := b.dir.swap(tmp, name)
	if err != nil {
		b.dir.root.Remove(tmp)
		return fmt.Errorf("write %s: %w", b.dir.Join(name), err)
	}
	if swapped {
		fi, err := b.dir.Stat(tmp)
		if err == nil && (was == nil || statOf(fi) != was.stat()) {
			if _, err := b.dir.swap(tmp, name); err != nil {
				return fmt.Errorf("put back %s: %w", b.dir.Join(name), err)
			}
		}
		if err := b.dir.root.Remove(tmp); err != nil && !IsNotExist(err) {
			return fmt.Errorf("write %s: %w", b.dir.Join(name), err)
		}
	}
	return b.dir.syncDir(path.Dir(name))
}
