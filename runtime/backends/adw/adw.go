// Package adw is the stategen backend for the state files of the Python ADW
// (AI Developer Workflow) scripts, so that a Go port and the Python phases
// it replaces share one workflow run's state while the port is under way.
// Importing the package registers the URL scheme "adw": adw:DIR for a
// directory relative to the working directory (the Python scripts use
// adw:agents), adw:/ABS/DIR or adw:///ABS/DIR for an absolute one.
//
// # Layout
//
//	DIR/<adw_id>/adw_state.json                        the run's state, as Python writes it
//	DIR/<adw_id>/.stategen/meta.json                   stategen's bookkeeping
//	DIR/<adw_id>/.stategen/checkpoints/<name>.json     checkpoints
//	DIR/<adw_id>/.stategen/lock                        the writers' lock file
//
// A namespace is one ADW id; each member of the flat JSON object in
// adw_state.json is one key. stategen writes the file exactly as Python's
// ADWState.save does (json.dump(state.model_dump(), f, indent=2)): two-space
// indentation, non-ASCII escaped as \uXXXX, no trailing newline, numbers as
// they were written. Members keep their order; new keys go at the end,
// sorted among themselves. Members stategen did not write are kept by every
// write, and so are members whose names stategen refuses (see
// runtime.ValidateName), which it does not show at all. A Restore removes
// the keys written after its checkpoint, as it must, but never those.
//
// # Bookkeeping
//
// Nothing of stategen's goes into adw_state.json, which Python's model
// validation would reject. Beside it, meta.json describes the
// adw_state.json stategen last wrote (its revision, schema, each key's
// revision and its SHA-256) and, under "prev", the one that write
// replaced:
//
//	{"revision": 7, "schema": {"name": "ADWState", "version": 2},
//	 "keys": {"adw_id": 1, "branch_name": 7}, "sha256": "9f86d0...",
//	 "prev": {"revision": 6, ...}}
//
// A write replaces meta.json (and syncs its directory), then
// adw_state.json; a reader reads meta.json, then adw_state.json, and takes
// the description whose hash the file has. A reader between the renames,
// or the state a crash between them leaves, pairs the old file with prev:
// the old state, wholly, at its own revision and schema, so a migration is
// never seen half done and a compare-and-set against it conflicts with the
// write that lands. A reader that missed both renames sees meta change and
// reads again. A file that matches neither description was written by
// someone else (a Python phase): the namespace and all its keys then have
// the recorded revision plus one, so a compare-and-set against anything
// read before fails. A file without meta.json (written by Python alone) is
// at revision 1, every key with it. Two foreign writes in a row without a
// stategen write between them share a revision.
//
// Checkpoints are stategen's own JSON files (name, creation time, revision,
// schema, and each key's value and revision); the ADW scripts have none.
//
// # Safety
//
// As in runtime/backends/jsonfile: writers hold the namespace's flock(2)
// lock (and a per-process mutex), files are replaced atomically (temporary
// file, fsync, rename, fsync of the directory), readers take no lock, every
// path goes through an os.Root of DIR, directories are created 0700 and files
// 0600, and a file that does not parse is runtime.ErrCorrupt and is never
// rewritten. A TTL is runtime.ErrUnsupported.
package adw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/fsstore"
)

func init() { runtime.Register("adw", open) }

const (
	dataFile = "adw_state.json"
	sgDir    = ".stategen"
	metaFile = sgDir + "/meta.json"
	lockFile = sgDir + "/lock"
	cpDir    = sgDir + "/checkpoints"
)

// Backend is the ADW file backend. It is safe for concurrent use, and
// several processes may use one directory at once.
type Backend struct {
	dir *fsstore.Dir
}

var _ runtime.Stamper = (*Backend)(nil)

func open(_ context.Context, u *url.URL, cfg runtime.Config) (runtime.Backend, error) {
	if cfg.TTL > 0 {
		return nil, fmt.Errorf("adw: expiring data (TTL): %w", runtime.ErrUnsupported)
	}
	dir, err := fsstore.URLPath(u)
	if err != nil {
		return nil, fmt.Errorf("adw: %w", err)
	}
	return Open(dir)
}

// Open opens the store in dir (the ADW scripts' agents directory),
// creating the directory if needed.
func Open(dir string) (*Backend, error) {
	d, err := fsstore.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("adw: open %s: %w", dir, err)
	}
	return &Backend{dir: d}, nil
}

// Close releases the directory.
func (b *Backend) Close() error { return b.dir.Close() }

func dataPath(ns string) string     { return ns + "/" + dataFile }
func metaPath(ns string) string     { return ns + "/" + metaFile }
func lockPath(ns string) string     { return ns + "/" + lockFile }
func cpPath(ns, name string) string { return ns + "/" + cpDir + "/" + name + ".json" }

// description is what stategen knows of one adw_state.json: its
// revision, schema, key revisions and hash.
type description struct {
	Revision int64              `json:"revision"`
	Schema   *runtime.SchemaRef `json:"schema,omitempty"`
	Keys     map[string]int64   `json:"keys"`
	SHA256   string             `json:"sha256"`
}

// meta is meta.json: the description of the file being written, and of
// the one it replaces, so that a reader (or a crash) between the two
// renames still pairs a file with its own revision and schema.
type meta struct {
	description
	Prev *description `json:"prev,omitempty"`
}

// nsState is a namespace as read from its two files.
type nsState struct {
	doc  *fsstore.Node // adw_state.json; nil when there is none
	sum  string        // its hash
	meta *meta         // nil when there is none
	desc *description  // the description adw_state.json matches; nil: a foreign write
	rev  int64         // effective revision; 0: the namespace does not exist
}

// Schema is the schema the namespace records; it makes nsState an
// fsstore.State.
func (st *nsState) Schema() runtime.SchemaRef { return st.schema() }

func (st *nsState) schema() runtime.SchemaRef {
	switch {
	case st.desc != nil && st.desc.Schema != nil:
		return *st.desc.Schema
	case st.desc == nil && st.meta != nil && st.meta.Schema != nil:
		return *st.meta.Schema // a foreign write: the best guess
	}
	return runtime.SchemaRef{}
}

// keyRev is a present key's effective revision.
func (st *nsState) keyRev(k string) int64 {
	if st.desc != nil {
		if r, ok := st.desc.Keys[k]; ok && r > 0 && r <= st.rev {
			return r
		}
	}
	return st.rev
}

// described is the description of the file as read, for meta's prev; nil
// when there is no file.
func (st *nsState) described() *description {
	if st.doc == nil {
		return nil
	}
	d := &description{Revision: st.rev, Keys: map[string]int64{}, SHA256: st.sum}
	if s := st.schema(); !s.IsZero() {
		d.Schema = &s
	}
	for _, m := range st.doc.Members {
		if fsstore.IsKey(m.Key) {
			d.Keys[m.Key] = st.keyRev(m.Key)
		}
	}
	return d
}

// values returns stategen's keys.
func (st *nsState) values() map[string]runtime.Value {
	out := map[string]runtime.Value{}
	if st.doc == nil {
		return out
	}
	for _, m := range st.doc.Members {
		if fsstore.IsKey(m.Key) {
			out[m.Key] = runtime.Value{Data: fsstore.AppendCompact(nil, m.Value), Revision: st.keyRev(m.Key)}
		}
	}
	return out
}

// readOpt reads a file that may be missing (nil, nil).
func (b *Backend) readOpt(name string) ([]byte, error) {
	data, err := b.dir.ReadFile(name)
	if fsstore.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", b.dir.Join(name), err)
	}
	if data == nil {
		data = []byte{} // present but empty: not the same as missing
	}
	return data, nil
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// load reads a namespace.
func (b *Backend) load(ns string) (*nsState, error) {
	var data, metaData []byte
	var m *meta
	for attempt := 0; ; attempt++ {
		var err error
		// Meta first, then data. A writer replaces meta.json first, then
		// adw_state.json, so a reader may see the new meta with the old
		// file, which meta's prev describes; or, if both renames happen
		// between its two reads, the old meta with the new file, which it
		// notices by reading meta again.
		if metaData, err = b.readOpt(metaPath(ns)); err != nil {
			return nil, err
		}
		if m, err = b.decodeMeta(ns, metaData); err != nil {
			return nil, err
		}
		if data, err = b.readOpt(dataPath(ns)); err != nil {
			return nil, err
		}
		if m == nil || data == nil || m.describes(sum(data)) != nil || attempt == 2 {
			break
		}
		again, err := b.readOpt(metaPath(ns))
		if err != nil {
			return nil, err
		}
		if bytes.Equal(again, metaData) {
			break // a foreign write
		}
	}
	st := &nsState{meta: m}
	if data != nil {
		doc, err := fsstore.ParseObject(data)
		if err != nil {
			return nil, runtime.Corrupt(b.dir.Join(dataPath(ns)), err)
		}
		st.doc, st.sum = doc, sum(data)
		if m != nil {
			st.desc = m.describes(st.sum)
		}
	}
	switch {
	case m == nil && data == nil:
		st.rev = 0
	case m == nil:
		st.rev = 1 // written by Python alone
	case st.desc != nil:
		st.rev = st.desc.Revision
	default:
		st.rev = m.Revision + 1 // written (or deleted) by someone else since
	}
	return st, nil
}

// describes returns the description, current or previous, of the file with
// the given hash; nil if neither is it.
func (m *meta) describes(hash string) *description {
	switch {
	case m.SHA256 == hash:
		return &m.description
	case m.Prev != nil && m.Prev.SHA256 == hash:
		return m.Prev
	}
	return nil
}

// decodeMeta parses meta.json; nil data gives nil.
func (b *Backend) decodeMeta(ns string, data []byte) (*meta, error) {
	if data == nil {
		return nil, nil
	}
	var m meta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, runtime.Corrupt(b.dir.Join(metaPath(ns)), err)
	}
	if m.Revision < 1 {
		return nil, runtime.Corrupt(b.dir.Join(metaPath(ns)), fmt.Errorf("revision %d is not positive", m.Revision))
	}
	return &m, nil
}

func (b *Backend) notFound(ns string) error {
	return fmt.Errorf("ADW id %q (%s): %w", ns, b.dir.Join(dataPath(ns)), runtime.ErrNotFound)
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
	if st.rev == 0 {
		return runtime.Value{}, b.notFound(ns)
	}
	var v *fsstore.Node
	if st.doc != nil {
		v = st.doc.Get(key)
	}
	if v == nil {
		return runtime.Value{}, fmt.Errorf("key %q in %s: %w", key, b.dir.Join(dataPath(ns)), runtime.ErrNotFound)
	}
	return runtime.Value{Data: fsstore.AppendCompact(nil, v), Revision: st.keyRev(key)}, nil
}

// Snapshot reads a namespace.
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
	return &runtime.Snapshot{Namespace: ns, Revision: st.rev, Schema: st.schema(), Values: st.values()}, nil
}

// Stamp combines the identities (inode, size, modification time, device) of
// adw_state.json and meta.json, one of which changes with every write.
func (b *Backend) Stamp(_ context.Context, ns string) (runtime.Stamp, error) {
	if err := fsstore.CheckNames(ns); err != nil {
		return runtime.Stamp{}, err
	}
	var stamps [2]runtime.Stamp
	for i, name := range []string{dataPath(ns), metaPath(ns)} {
		fi, err := b.dir.Stat(name)
		if err != nil && !fsstore.IsNotExist(err) {
			return runtime.Stamp{}, fmt.Errorf("stat %s: %w", b.dir.Join(name), err)
		}
		stamps[i] = fsstore.FileStamp(fi)
	}
	return fsstore.MixStamps(stamps[:]...), nil
}

// Exists says whether the namespace holds a key or a schema: one that does
// not is not found, and a namespace condition at revision 0 asks for that.
func (st *nsState) Exists() bool {
	if st.rev == 0 {
		return false
	}
	if !st.schema().IsZero() {
		return true
	}
	if st.doc != nil {
		for _, m := range st.doc.Members {
			if fsstore.IsKey(m.Key) {
				return true
			}
		}
	}
	return false
}

// Revision, Exists and KeyRevision make nsState an fsstore.State.
func (st *nsState) Revision() int64 { return st.rev }

// KeyRevision is a present key's effective revision.
func (st *nsState) KeyRevision(key string) (int64, bool) {
	if st.doc != nil && st.doc.Get(key) != nil {
		return st.keyRev(key), true
	}
	return 0, false
}

// Apply performs a batch: adw_state.json, then meta.json, each replaced
// atomically, under the namespace's lock.
func (b *Backend) Apply(ctx context.Context, ns string, batch *runtime.Batch) (int64, error) {
	return fsstore.Apply(ctx, b.dir, ns, lockPath(ns), "ADW id "+ns, batch, &nsState{},
		func() (*nsState, error) { return b.load(ns) },
		func(st *nsState, puts map[string]*fsstore.Node, order []string) (int64, error) {
			rev := st.rev + 1
			doc := st.doc
			if doc == nil {
				doc = fsstore.NewObject()
			}
			fsstore.Merge(doc, batch, puts, order, func(v *fsstore.Node) *fsstore.Node { return v })
			data := fsstore.AppendPython(nil, doc)

			m := meta{description: description{Revision: rev, Keys: map[string]int64{}, SHA256: sum(data)}, Prev: st.described()}
			if s := st.schema(); !s.IsZero() {
				m.Schema = &s
			}
			if batch.Schema != nil {
				m.Schema = nil
				if !batch.Schema.IsZero() {
					s := *batch.Schema
					m.Schema = &s
				}
			}
			for _, mem := range doc.Members {
				if !fsstore.IsKey(mem.Key) {
					continue
				}
				if _, put := puts[mem.Key]; put {
					m.Keys[mem.Key] = rev
				} else {
					m.Keys[mem.Key] = st.keyRev(mem.Key)
				}
			}
			metaData, err := json.MarshalIndent(&m, "", "  ")
			if err != nil {
				return 0, fmt.Errorf("encode %s: %w", b.dir.Join(metaPath(ns)), err)
			}
			metaData = append(metaData, '\n')
			// meta.json first, durably (its directory synced) before the data
			// is renamed, so that even a power loss cannot keep the new file
			// without the meta that describes it: see load.
			if err := b.dir.WriteFiles(fsstore.File{Name: metaPath(ns), Data: metaData}); err != nil {
				return 0, err
			}
			if err := b.dir.WriteFiles(fsstore.File{Name: dataPath(ns), Data: data}); err != nil {
				return 0, err
			}
			return rev, nil
		})
}

// Namespaces lists the ADW ids of DIR: directories that hold an
// adw_state.json or stategen checkpoints.
func (b *Backend) Namespaces(context.Context) ([]string, error) {
	ns, err := b.dir.Namespaces(dataFile, cpDir)
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

// checkpointFile is the content of a checkpoint file.
type checkpointFile struct {
	Name     string                     `json:"name"`
	Created  time.Time                  `json:"created"`
	Revision int64                      `json:"revision"`
	Schema   *runtime.SchemaRef         `json:"schema,omitempty"`
	Values   map[string]checkpointValue `json:"values"`
}

type checkpointValue struct {
	Value    json.RawMessage `json:"value"`
	Revision int64           `json:"revision"`
}

// PutCheckpoint writes .stategen/checkpoints/<name>.json atomically.
func (b *Backend) PutCheckpoint(ctx context.Context, ns string, cp *runtime.Checkpoint) error {
	if err := fsstore.CheckNames(ns); err != nil {
		return err
	}
	if err := runtime.ValidateName("checkpoint", cp.Name); err != nil {
		return err
	}
	f := checkpointFile{Name: cp.Name, Created: cp.Created.UTC(), Revision: cp.Revision, Values: make(map[string]checkpointValue, len(cp.Values))}
	if f.Created.IsZero() {
		f.Created = time.Now().UTC()
	}
	if !cp.Schema.IsZero() {
		f.Schema = &cp.Schema
	}
	for k, v := range cp.Values {
		if err := runtime.ValidateName("key", k); err != nil {
			return err
		}
		if !json.Valid(v.Data) {
			return fmt.Errorf("%w: checkpoint %q, value of key %q is not valid JSON", runtime.ErrInvalidValue, cp.Name, k)
		}
		f.Values[k] = checkpointValue{Value: v.Data, Revision: v.Revision}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // values are kept as they were given
	enc.SetIndent("", "  ")
	if err := enc.Encode(&f); err != nil {
		return fmt.Errorf("encode checkpoint %q: %w", cp.Name, err)
	}
	unlock, err := b.dir.Lock(ctx, lockPath(ns))
	if err != nil {
		return err
	}
	defer unlock()
	return b.dir.WriteFiles(fsstore.File{Name: cpPath(ns, cp.Name), Data: buf.Bytes()})
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
	var f checkpointFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, runtime.Corrupt(b.dir.Join(p), err)
	}
	cp := &runtime.Checkpoint{
		CheckpointInfo: runtime.CheckpointInfo{Name: name, Created: f.Created, Revision: f.Revision, Keys: len(f.Values)},
		Values:         make(map[string]runtime.Value, len(f.Values)),
	}
	if f.Schema != nil {
		cp.Schema = *f.Schema
	}
	if cp.Created.IsZero() {
		return nil, runtime.Corrupt(b.dir.Join(p), errors.New(`no "created" time`))
	}
	for k, v := range f.Values {
		if v.Value == nil {
			return nil, runtime.Corrupt(b.dir.Join(p), fmt.Errorf(`key %q has no "value"`, k))
		}
		var c bytes.Buffer
		json.Compact(&c, v.Value) // valid: Unmarshal checked the whole file
		cp.Values[k] = runtime.Value{Data: c.Bytes(), Revision: v.Revision}
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
