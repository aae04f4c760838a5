package filestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/stategen/stategen/runtime"
)

// A checkpoint file is in the shape of the Python StateManager's state
// files, whatever the format, so that the Python program can read and
// restore the checkpoints of a json: store:
//
//	{
//	  "__stategen__": {
//	    "value": {"revision": 7, "schema": {...}, "keys": 1, "created": "2025-01-02T03:04:05.123456789Z", "size": 312},
//	    "timestamp": "2025-01-02T03:04:05.123456"
//	  },
//	  "branch_name": {"value": "feat/issue-42", "timestamp": "2025-01-02T03:04:05.123456", "revision": 7}
//	}
//
// A checkpoint without the reserved entry (written by Python, which copies
// state.json) is dated by its file's modification time.
//
// The reserved entry comes first and records the file's size, so that a
// listing reads only a file's first bytes: a file whose entry is not first,
// or whose size is not the one its entry records (cut short, written by an
// earlier release, or a copy Python made of a state.json holding the entry
// after a restore, with other keys), is read whole.

// checkpointInfo is the reserved entry's value.
type checkpointInfo struct {
	Revision int64              `json:"revision"`
	Schema   *runtime.SchemaRef `json:"schema,omitempty"`
	Keys     int                `json:"keys"`
	Created  time.Time          `json:"created"`
	// Labels and lineage (runtime.CheckpointMeta), when it has any.
	Meta *runtime.CheckpointMeta `json:"meta,omitempty"`
	// Size is the length in bytes of the file stategen wrote; zero in the
	// files of earlier releases.
	Size int64 `json:"size,omitempty"`
}

// How much of a checkpoint file a listing reads for its reserved entry:
// headerRead, which holds an entry with a schema and a few labels, then, if
// the entry goes on past it, up to headerLimit; the file of an entry longer
// than that (labels by the thousand) is read whole.
const (
	headerRead  = 1 << 10
	headerLimit = 64 << 10
)

// parseInfo reads a checkpoint's reserved entry.
func parseInfo(entry []byte) (*checkpointInfo, error) {
	v, _, _, err := unwrapEntry(entry)
	var info checkpointInfo
	if err == nil {
		err = json.Unmarshal(v, &info)
	}
	if err != nil {
		return nil, fmt.Errorf("entry %q: %w", legacyKey, err)
	}
	return &info, nil
}

// describe is what info says of its checkpoint: all but its name.
func (info *checkpointInfo) describe() runtime.CheckpointInfo {
	d := runtime.CheckpointInfo{Revision: info.Revision, Created: info.Created, Keys: info.Keys}
	if info.Schema != nil {
		d.Schema = *info.Schema
	}
	if info.Meta != nil {
		d.CheckpointMeta = *info.Meta
	}
	return d
}

func (b *Backend) cpPath(ns, name string) string {
	return b.path(ns, b.f.CheckpointDir()+"/"+name+".json")
}

func checkCheckpoint(ns, name string) error {
	if err := checkNames(ns); err != nil {
		return err
	}
	return runtime.ValidateName("checkpoint", name)
}

// encodeCheckpoint is the content of cp's file, written at t.
func encodeCheckpoint(cp *runtime.Checkpoint, t time.Time) ([]byte, error) {
	info := checkpointInfo{Revision: cp.Revision, Keys: len(cp.Values), Created: cp.Created.UTC()}
	if info.Created.IsZero() {
		info.Created = t.UTC()
	}
	if !cp.Schema.IsZero() {
		info.Schema = &cp.Schema
	}
	if !cp.CheckpointMeta.IsZero() {
		info.Meta = &cp.CheckpointMeta
	}
	o := &object{}
	keys := make([]string, 0, len(cp.Values))
	for k := range cp.Values {
		if err := runtime.ValidateName("key", k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := cp.Values[k]
		data, err := checkValue(v.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: checkpoint %q, value of key %q: %v", runtime.ErrInvalidValue, cp.Name, k, err)
		}
		updated := v.Updated
		if updated.IsZero() {
			updated = info.Created
		}
		o.set(k, appendEntry(nil, data, updated, v.Revision))
	}
	// The keys' members, after the reserved entry: "\n}" or ",\n  ...\n}".
	rest := []byte("\n}")
	if len(o.members) > 0 {
		rest = append([]byte{','}, o.appendPython(nil)[1:]...)
	}
	// The reserved entry records the whole file's size, its own digits
	// included: a few rounds settle it.
	for {
		infoJSON, err := json.Marshal(info)
		if err != nil {
			return nil, err
		}
		head := &object{}
		head.set(legacyKey, appendEntry(nil, infoJSON, t, 0))
		data := head.appendPython(nil)
		data = append(data[:len(data)-len("\n}")], rest...)
		if int64(len(data)) == info.Size {
			return data, nil
		}
		info.Size = int64(len(data))
	}
}

// decodeCheckpoint reads a checkpoint file; Created is zero when the file
// does not say.
func decodeCheckpoint(data []byte) (*runtime.Checkpoint, error) {
	o, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	if cp, ok, err := decodeOldCheckpoint(o, data); ok {
		return cp, err
	}
	cp := &runtime.Checkpoint{Values: make(map[string]runtime.Value, len(o.members))}
	hasInfo := false
	if raw, ok := o.get(legacyKey); ok {
		info, err := parseInfo(raw)
		if err != nil {
			return nil, err
		}
		cp.CheckpointInfo, hasInfo = info.describe(), true
	}
	for _, m := range o.members {
		if !isKey(m.key) {
			continue
		}
		v, ts, rev, err := unwrapEntry(m.value)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", m.key, err)
		}
		cp.Values[m.key] = runtime.Value{Data: appendCompact(nil, v), Revision: rev, Updated: ts}
		if !hasInfo {
			cp.Revision = max(cp.Revision, rev)
		}
	}
	cp.Keys = len(cp.Values)
	return cp, nil
}

// decodeOldCheckpoint reads the checkpoints of the ADW layout of earlier
// releases, {"name": ..., "created": "...", "revision": N, "schema": {...},
// "values": {"k": {"value": V, "revision": r}}}, which no state file
// resembles: its "created" is a string where an entry is an object.
func decodeOldCheckpoint(o *object, data []byte) (*runtime.Checkpoint, bool, error) {
	created, ok1 := o.get("created")
	values, ok2 := o.get("values")
	if _, has := o.get(legacyKey); has || !ok1 || !ok2 || created[0] != '"' || values[0] != '{' {
		return nil, false, nil
	}
	var f struct {
		Created  time.Time          `json:"created"`
		Revision int64              `json:"revision"`
		Schema   *runtime.SchemaRef `json:"schema"`
		Values   map[string]struct {
			Value    json.RawMessage `json:"value"`
			Revision int64           `json:"revision"`
		} `json:"values"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, true, err
	}
	cp := &runtime.Checkpoint{Values: make(map[string]runtime.Value, len(f.Values))}
	cp.Created, cp.Revision, cp.Keys = f.Created, f.Revision, len(f.Values)
	if f.Schema != nil {
		cp.Schema = *f.Schema
	}
	for k, v := range f.Values {
		if v.Value == nil {
			return nil, true, fmt.Errorf("key %q has no value", k)
		}
		cp.Values[k] = runtime.Value{Data: appendCompact(nil, v.Value), Revision: v.Revision}
	}
	return cp, true, nil
}

// PutCheckpoint writes a checkpoint file atomically, under the namespace's
// lock.
func (b *Backend) PutCheckpoint(ctx context.Context, ns string, cp *runtime.Checkpoint) error {
	if err := checkCheckpoint(ns, cp.Name); err != nil {
		return err
	}
	if b.readOnly {
		return fmt.Errorf("write checkpoint %q: %w", cp.Name, runtime.ErrReadOnly)
	}
	data, err := encodeCheckpoint(cp, now())
	if err != nil {
		return err
	}
	unlock, err := b.dir.Lock(ctx, b.path(ns, lockFile))
	if err != nil {
		return err
	}
	defer unlock()
	return b.dir.WriteFiles(File{Name: b.cpPath(ns, cp.Name), Data: data})
}

// GetCheckpoint reads one checkpoint.
func (b *Backend) GetCheckpoint(_ context.Context, ns, name string) (*runtime.Checkpoint, error) {
	if err := checkCheckpoint(ns, name); err != nil {
		return nil, err
	}
	return b.readCheckpoint(ns, name, false)
}

// readCheckpoint reads a checkpoint file. With infoOnly it reads, where it
// can, only the file's reserved entry, and returns the checkpoint without
// its values.
func (b *Backend) readCheckpoint(ns, name string, infoOnly bool) (*runtime.Checkpoint, error) {
	p := b.cpPath(ns, name)
	fh, err := b.dir.OpenFile(p)
	if IsNotExist(err) {
		return nil, fmt.Errorf("checkpoint %q (%s): %w", name, b.dir.Join(p), runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", b.dir.Join(p), err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", b.dir.Join(p), err)
	}
	var cp *runtime.Checkpoint
	if infoOnly {
		cp = readHeader(fh, fi.Size())
	}
	if cp == nil {
		data, err := readAll(fh, fi.Size())
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", b.dir.Join(p), err)
		}
		if cp, err = decodeCheckpoint(data); err != nil {
			return nil, runtime.Corrupt(b.dir.Join(p), err)
		}
	}
	cp.Name = name
	if cp.Created.IsZero() {
		// Written by Python, which records no time: the file's is the best.
		cp.Created = fi.ModTime()
	}
	return cp, nil
}

// readHeader reads a checkpoint's description from the reserved entry at
// the start of its file, of size bytes, without its values; nil where the
// entry is not first, or not whole within headerLimit bytes, or does not
// record that size: then only reading the file whole tells.
func readHeader(fh *os.File, size int64) *runtime.Checkpoint {
	for _, limit := range [...]int64{headerRead, headerLimit} {
		buf := make([]byte, min(size, limit))
		n, _ := fh.ReadAt(buf, 0)
		entry, whole := firstEntry(buf[:n])
		if entry != nil {
			info, err := parseInfo(entry)
			if err != nil || info.Size != size {
				return nil
			}
			return &runtime.Checkpoint{CheckpointInfo: info.describe()}
		}
		if whole || int64(n) == size {
			return nil
		}
	}
	return nil
}

// firstEntry returns the value of the reserved member that begins the
// object whose first bytes are head, or nil; whole is false where head
// ends before the member does (or before what follows it), so that more of
// the file may tell.
func firstEntry(head []byte) (entry []byte, whole bool) {
	i := skipSpace(head, 0)
	if i == len(head) || head[i] != '{' {
		return nil, true
	}
	i = skipSpace(head, i+1)
	key := `"` + legacyKey + `"`
	if !bytes.HasPrefix(head[i:], []byte(key)) {
		return nil, true
	}
	i = skipSpace(head, i+len(key))
	if i == len(head) || head[i] != ':' {
		return nil, true
	}
	i = skipSpace(head, i+1)
	end, err := skipValue(head, i, 1)
	if err != nil {
		return nil, end < len(head)
	}
	switch j := skipSpace(head, end); {
	case j == len(head):
		return nil, false
	case head[j] != ',' && head[j] != '}':
		return nil, true
	}
	return head[i:end], true
}

// Checkpoints lists a namespace's checkpoint files whose names stategen
// accepts. One that cannot be read is listed with its error.
func (b *Backend) Checkpoints(ctx context.Context, ns string) ([]runtime.CheckpointInfo, error) {
	if err := checkNames(ns); err != nil {
		return nil, err
	}
	dir := b.path(ns, b.f.CheckpointDir())
	ents, err := b.dir.ReadDir(dir)
	if IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b.dir.Join(dir), err)
	}
	var out []runtime.CheckpointInfo
	vanished := false
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || runtime.ValidateName("checkpoint", name) != nil {
			continue
		}
		cp, err := b.readCheckpoint(ns, name, true)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			vanished = true
			continue // deleted since the listing
		case errors.Is(err, runtime.ErrCorrupt):
			out = append(out, runtime.CheckpointInfo{Name: name, Err: err})
		case err != nil:
			return nil, err
		default:
			out = append(out, cp.CheckpointInfo)
		}
	}
	if vanished {
		// The namespace may have been dropped (its directory renamed
		// away) since the listing: then it has no checkpoints at all,
		// never some of them.
		if _, err := b.dir.Stat(ns); IsNotExist(err) {
			return nil, nil
		}
		if _, err := b.dir.Stat(dir); IsNotExist(err) {
			return nil, nil
		}
	}
	return out, nil
}

// DeleteCheckpoint removes a checkpoint file, under the namespace's lock.
func (b *Backend) DeleteCheckpoint(ctx context.Context, ns, name string) error {
	if err := checkCheckpoint(ns, name); err != nil {
		return err
	}
	if b.readOnly {
		return fmt.Errorf("delete checkpoint %q: %w", name, runtime.ErrReadOnly)
	}
	p := b.cpPath(ns, name)
	// Found missing before locking, so that removing nothing creates no
	// lock file.
	if _, err := b.dir.Stat(p); IsNotExist(err) {
		return fmt.Errorf("checkpoint %q (%s): %w", name, b.dir.Join(p), runtime.ErrNotFound)
	}
	unlock, err := b.dir.Lock(ctx, b.path(ns, lockFile))
	if err != nil {
		return err
	}
	defer unlock()
	if err := b.dir.Remove(p); err != nil {
		if IsNotExist(err) {
			return fmt.Errorf("checkpoint %q (%s): %w", name, b.dir.Join(p), runtime.ErrNotFound)
		}
		return fmt.Errorf("delete checkpoint %s: %w", b.dir.Join(p), err)
	}
	return nil
}
