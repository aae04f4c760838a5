package filestore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/stategen/stategen/runtime"
)

// Backend is a store directory in one Format. It is safe for concurrent
// use, and several processes may use one directory at once.
type Backend struct {
	dir      *Dir
	f        Format
	readOnly bool
	logger   *slog.Logger
	metas    metaCache // the bookkeeping last parsed, by namespace
}

var (
	_ runtime.Stamper      = (*Backend)(nil)
	_ runtime.SchemaGetter = (*Backend)(nil)
)

// Open returns the backend for the store directory dir in format f. The
// directory is created by the first write; with cfg.ReadOnly a directory
// that does not exist is an error wrapping runtime.ErrNotFound. A TTL
// (cfg.TTL) is the runtime's to apply: files do not expire by themselves.
func Open(dir string, f Format, cfg runtime.Config) (*Backend, error) {
	d, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	if cfg.ReadOnly && !d.Exists() {
		return nil, d.noStore()
	}
	b := &Backend{dir: d, f: f, readOnly: cfg.ReadOnly, logger: cfg.Logger}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	return b, nil
}

// PlainSecrets reports whether the format keeps secret values in the clear
// (see runtime.PlainSecrets).
func (b *Backend) PlainSecrets() bool {
	p, ok := b.f.(runtime.PlainSecrets)
	return ok && p.PlainSecrets()
}

// Close releases the directory.
func (b *Backend) Close() error { return b.dir.Close() }

// path is the path of a namespace's file.
func (b *Backend) path(ns, name string) string { return ns + "/" + name }

func (b *Backend) notFound(ns string) error {
	if !b.dir.Exists() {
		return b.dir.noStore()
	}
	return fmt.Errorf("%s %q (%s): %w", b.f.Noun(), ns, b.dir.Join(b.path(ns, b.f.DataFile())), runtime.ErrNotFound)
}

// checkNames refuses the names the Store refuses. The backend checks again
// so that a caller that skips the Store still cannot address a path outside
// a namespace directory. Reserved keys (the runtime's bookkeeping, a lease)
// pass (but legacyKey, the files' own member): the runtime writes them,
// and they are kept beside the data file.
func checkNames(ns string, keys ...string) error {
	if err := runtime.ValidateName("namespace", ns); err != nil {
		return err
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	return nil
}

// inFile reports whether key is kept in the data file: never a reserved
// key, which is stategen's own and so goes into the bookkeeping beside it
// (Python's programs neither see nor drop it).
func (b *Backend) inFile(key string) bool { return !runtime.IsReserved(key) && b.f.InFile(key) }

// isKey reports whether name is one stategen accepts as a key. A data
// file's members with other names are not stategen's: they are neither
// shown nor dropped.
func isKey(name string) bool { return checkKey(name) == nil }

// checkKey checks a key name: a name the Store accepts, or one of the
// runtime's reserved keys (runtime.IsReserved), which the files keep like
// any other, but never legacyKey.
func checkKey(name string) error {
	if runtime.IsReserved(name) && name != legacyKey && len(name) > len(runtime.ReservedPrefix) {
		if err := runtime.ValidateName("key", "r"+name[len(runtime.ReservedPrefix):]); err != nil {
			return fmt.Errorf("%w: reserved key name %q", runtime.ErrInvalidName, name)
		}
		return nil
	}
	return runtime.ValidateName("key", name)
}

// value returns key's value, compact, and when it was written.
func (b *Backend) value(st *nsState, key string) (runtime.Value, bool, error) {
	if member, ok := st.docValue(key); ok {
		v, updated, err := b.f.Unwrap(member)
		if err != nil {
			return runtime.Value{}, false, runtime.Corrupt(fmt.Sprintf("%s, key %q", b.dir.Join(b.path(st.name, b.f.DataFile())), key), err)
		}
		return runtime.Value{Data: appendCompact(nil, v), Revision: st.keyRevs[key], Updated: updated}, true, nil
	}
	if v, ok := st.extra[key]; ok {
		return runtime.Value{Data: v, Revision: st.keyRevs[key]}, true, nil
	}
	return runtime.Value{}, false, nil
}

// Get reads one key.
func (b *Backend) Get(ctx context.Context, ns, key string) (runtime.Value, error) {
	v, _, err := b.GetWithSchema(ctx, ns, key)
	return v, err
}

// GetWithSchema reads one key and the schema its namespace records: the
// namespace is read whole anyway.
func (b *Backend) GetWithSchema(ctx context.Context, ns, key string) (runtime.Value, runtime.SchemaRef, error) {
	if err := checkNames(ns, key); err != nil {
		return runtime.Value{}, runtime.SchemaRef{}, err
	}
	st, err := b.load(ctx, ns, readAdopt)
	if err != nil {
		return runtime.Value{}, runtime.SchemaRef{}, err
	}
	if st.rev == 0 {
		return runtime.Value{}, runtime.SchemaRef{}, b.notFound(ns)
	}
	if expired, err := b.expired(st); err != nil || expired {
		if err == nil {
			err = fmt.Errorf("%s %q expired: %w", b.f.Noun(), ns, runtime.ErrNotFound)
		}
		return runtime.Value{}, st.schema, err
	}
	v, ok, err := b.value(st, key)
	if err != nil {
		return runtime.Value{}, st.schema, err
	}
	if !ok {
		return runtime.Value{}, st.schema, fmt.Errorf("key %q of %s %q: %w", key, b.f.Noun(), ns, runtime.ErrNotFound)
	}
	return v, st.schema, nil
}

// Snapshot reads a namespace.
func (b *Backend) Snapshot(ctx context.Context, ns string) (*runtime.Snapshot, error) {
	if err := checkNames(ns); err != nil {
		return nil, err
	}
	st, err := b.load(ctx, ns, readAdopt)
	if err != nil {
		return nil, err
	}
	if !st.exists() {
		return nil, b.notFound(ns)
	}
	return b.snapshot(st)
}

// expired reports whether st's run has expired now (RunInfo.Expired). Only
// a run that records a TTL is looked at whole for it.
func (b *Backend) expired(st *nsState) (bool, error) {
	if _, ok := st.keyRevs[runtime.KeyTTL]; !ok {
		return false, nil
	}
	snap, err := b.snapshot(st)
	if err != nil {
		return false, err
	}
	return snap.RunInfo().Expired(time.Now()), nil
}

// snapshot is the Snapshot of a namespace read.
func (b *Backend) snapshot(st *nsState) (*runtime.Snapshot, error) {
	snap := &runtime.Snapshot{Namespace: st.name, Revision: st.rev, Schema: st.schema, Values: make(map[string]runtime.Value, len(st.keyRevs))}
	dated := true
	for k := range st.keys() {
		v, _, err := b.value(st, k)
		if err != nil {
			return nil, err
		}
		dated = dated && !v.Updated.IsZero()
		snap.Values[k] = v
	}
	if !dated {
		// A key the format does not date (the ADW layout, the keys kept
		// in the bookkeeping): the files' times date the last write.
		snap.Updated = st.lastWrite()
	}
	return snap, nil
}

// lastWrite is the time of a namespace's last write: the later of its
// data file's and its bookkeeping's modification times, as read.
func (st *nsState) lastWrite() time.Time {
	t := st.metaTime
	if st.data != nil {
		if d := time.Unix(0, st.data.MTime); d.After(t) {
			t = d
		}
	}
	return t
}

// Stamp combines the identities (inode, size, modification time, device)
// of the data file and the bookkeeping, one of which changes with every
// write, by stategen or anyone else, and of the checkpoint directory, whose
// modification time changes when a checkpoint is written or removed (for
// the change feed; to the granularity of the file system's clock).
func (b *Backend) Stamp(_ context.Context, ns string) (runtime.Stamp, error) {
	if err := checkNames(ns); err != nil {
		return runtime.Stamp{}, err
	}
	var stamps [3]runtime.Stamp
	for i, name := range []string{b.path(ns, b.f.DataFile()), b.path(ns, metaFile), b.path(ns, b.f.CheckpointDir())} {
		fi, err := b.dir.Stat(name)
		if err != nil && !IsNotExist(err) {
			return runtime.Stamp{}, fmt.Errorf("stat %s: %w", b.dir.Join(name), err)
		}
		stamps[i] = FileStamp(fi)
	}
	return MixStamps(stamps[:]...), nil
}

// Namespaces lists the directories of the store that hold a key, a schema
// or a checkpoint, and whose names stategen accepts. A namespace whose
// files cannot be read is listed, so that it can be found and repaired.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	ents, err := b.dir.ReadDir(".")
	if IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b.dir.Path(), err)
	}
	var out []string
	for _, e := range ents { // sorted by ReadDir
		ns := e.Name()
		if !e.IsDir() || runtime.ValidateName("namespace", ns) != nil {
			continue
		}
		if cps, err := b.dir.ReadDir(b.path(ns, b.f.CheckpointDir())); err == nil && len(cps) > 0 {
			out = append(out, ns)
			continue
		}
		if st, err := b.load(ctx, ns, readPeek); err != nil || st.exists() {
			out = append(out, ns)
		}
	}
	return out, nil
}

// now is the clock of the times written into files.
var now = time.Now
