package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Schema describes a state type T: its name and version, stored with its
// state, and its persisted fields. stategen generates one per type.
type Schema[T any] struct {
	Name    string
	Version int
	Fields  []Field[T]
	// Migrations[n] upgrades stored state from version n to n+1; every
	// generated read and write runs the steps from the stored version on.
	Migrations map[int]MigrationFunc
}

// Ref is the schema as stored state records it: its name and version, its
// keys and which of them are secret, so that tools without T (the stategen
// CLI) know what to redact.
func (s *Schema[T]) Ref() SchemaRef {
	ref := SchemaRef{Name: s.Name, Version: s.Version, Keys: make([]string, 0, len(s.Fields))}
	for _, f := range s.Fields {
		ref.Keys = append(ref.Keys, f.Key)
		if f.Secret {
			ref.Secret = append(ref.Secret, f.Key)
		}
	}
	return ref
}

// New returns a T with every field that has a default set to it, and the
// others zero: the value generated constructors (NewT) return. A default
// that does not decode as its field's type panics; the generator checks
// defaults, so it means the generated code is stale.
func (s *Schema[T]) New() *T {
	v := new(T)
	for _, f := range s.Fields {
		if f.Default == nil {
			continue
		}
		if err := f.decode(v, f.Default); err != nil {
			panic(fmt.Sprintf("stategen: default %s of key %s of %s does not decode: %v (run go generate)", f.Default, f.Key, s.Name, err))
		}
	}
	return v
}

// Field is one persisted field of T: its key and options, and how to encode
// and decode it within a *T. Build one with FieldOf.
type Field[T any] struct {
	Key      string
	Required bool
	Secret   bool
	Default  json.RawMessage
	encode   func(*T) ([]byte, error)
	decode   func(*T, []byte) error
	// copy deep-copies the field from src to dst (the whole-struct cache).
	copy func(dst, src *T)
	// mismatch describes a value decode refused, for ErrTypeMismatch.
	mismatch func(data []byte, err error) error
}

// FieldOf makes the Field of T that field points into, stored under k.
func FieldOf[T, V any](k *Key[V], field func(*T) *V) Field[T] {
	return Field[T]{
		Key: k.Name, Required: k.Required, Secret: k.Secret, Default: k.Default,
		encode: func(v *T) ([]byte, error) { return k.Codec.Encode(*field(v)) },
		decode: func(v *T, data []byte) (err error) {
			*field(v), err = k.Codec.Decode(data)
			return err
		},
		copy:     func(dst, src *T) { *field(dst) = k.Codec.clone(*field(src)) },
		mismatch: k.mismatch,
	}
}

// StateStore is a typed view of one namespace under a schema: whole-struct
// Save, Load and Update, and the namespace's checkpoints. Generated stores
// embed it and add per-field accessors (Key's methods, through it as a
// View).
//
// Every write records the schema (name, version, keys, secret keys) and is
// conditioned on the namespace recording no other version; every read of
// state stored by an older version migrates it first (see Migration).
type StateStore[T any] struct {
	scope
	schema *Schema[T]
}

// NewStateStore returns the view of namespace ns of st under schema.
func NewStateStore[T any](st *Store, ns string, schema *Schema[T]) (*StateStore[T], error) {
	if err := ValidateName("namespace", ns); err != nil {
		return nil, st.wrap("open", ns, "", err)
	}
	return &StateStore[T]{scope: scope{st: st, ns: ns, ref: schema.Ref(), migrations: schema.Migrations}, schema: schema}, nil
}

func (s *StateStore[T]) view() *scope { return &s.scope }

// Store is the Store the view reads and writes.
func (s *StateStore[T]) Store() *Store { return s.st }

// Namespace is the namespace the view reads and writes.
func (s *StateStore[T]) Namespace() string { return s.ns }

// WithLease returns a copy of the view whose every write (Save, Update,
// Restore, the per-field Save, Update and Delete of generated stores, and
// the write-back of a migration) is fenced by l: applied, atomically, only
// while l is the run's current lease, else nothing is written and the
// error wraps ErrFenced. l must be a lease of the view's namespace; nil
// returns a view without a lease. The view s is left as it was.
func (s *StateStore[T]) WithLease(l *Lease) *StateStore[T] {
	c := *s
	c.lease = l
	return &c
}

// Lease is the lease the view's writes are fenced by, nil when none.
func (s *StateStore[T]) Lease() *Lease { return s.lease }

// Save stores every field of v (zero values and all: build v with the
// generated constructor to start from the defaults), and the schema, in one
// atomic write. A required field without a value is ErrMissing, and nothing
// is written.
func (s *StateStore[T]) Save(ctx context.Context, v *T) error {
	b, err := s.batch(v)
	if err != nil {
		return err
	}
	_, err = s.write(ctx, "save", "", b, true)
	return err
}

// batch encodes every field of v, refusing required fields without a value.
func (s *StateStore[T]) batch(v *T) (*Batch, error) {
	b := &Batch{Puts: make([]KV, 0, len(s.schema.Fields))}
	var missing []string
	for _, f := range s.schema.Fields {
		data, err := f.encode(v)
		if err != nil {
			return nil, s.st.wrap("encode", s.ns, f.Key, fmt.Errorf("%w: %v", ErrInvalidValue, err))
		}
		if f.Required && emptyJSON(data) {
			missing = append(missing, f.Key)
		}
		b.Puts = append(b.Puts, KV{Key: f.Key, Value: data})
	}
	if len(missing) > 0 {
		return nil, s.st.wrap("save", s.ns, "", missingError(missing))
	}
	return b, nil
}

// missingError is ErrMissing naming the required keys without a value.
func missingError(keys []string) error {
	noun := "key"
	if len(keys) > 1 {
		noun = "keys"
	}
	return fmt.Errorf("%w: %s %s (a required key must hold a value: not null, and not empty if a string, array or object)", ErrMissing, noun, strings.Join(keys, ", "))
}

// emptyJSON reports whether a value is what a required key may not hold:
// null, or an empty string, array or object. Numbers and booleans, 0 and
// false included, are values.
func emptyJSON(data []byte) bool {
	d := trimJSONSpace(data)
	if len(d) == 0 || string(d) == "null" || string(d) == `""` {
		return true
	}
	if d[0] != '[' && d[0] != '{' {
		return false
	}
	return len(trimJSONSpace(d[1:len(d)-1])) == 0
}

func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// Load reads the whole struct in one read. A namespace that holds nothing
// (no key but reserved ones, and no schema) is ErrNotFound; absent keys take
// their defaults (or zero values), and required keys without a value are
// ErrMissing, naming them.
//
// With the cache on, an unchanged namespace is served from it: in the
// strict mode (the default) after one cheap check that nothing changed
// (the backend's Stamp), in the relaxed mode for its TTL.
func (s *StateStore[T]) Load(ctx context.Context) (*T, error) {
	c := s.st.cache
	if c == nil {
		_, v, err := s.load(ctx)
		return v, err
	}
	var stamp Stamp
	if c.mode == cacheStrict {
		var err error
		if stamp, err = s.st.stamp(ctx, s.ns); err != nil {
			return nil, err
		}
	}
	if e, ok := c.get(s.ns, wholeKey); ok && (c.mode != cacheStrict || e.stamp == stamp) && e.live() {
		if w, ok := e.val.(whole[T]); ok && w.schema == s.schema {
			return s.schema.copy(w.v), nil
		}
	}
	before := c.marksOf(s.ns)
	snap, v, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	c.putRead(s.ns, wholeKey, before, cacheEntry{val: whole[T]{s.schema, s.schema.copy(v)}, rev: snap.Revision, stamp: stamp, until: runExpiry(snap)})
	return v, nil
}

// wholeKey is the cache's entry for a whole struct: no key is empty.
const wholeKey = ""

// whole is a whole struct in the cache, with the schema that decoded it.
type whole[T any] struct {
	schema *Schema[T]
	v      *T
}

// copy deep-copies the persisted fields of v into a new T.
func (s *Schema[T]) copy(v *T) *T {
	out := new(T)
	for _, f := range s.Fields {
		f.copy(out, v)
	}
	return out
}

// load reads and decodes the namespace (migrating older state), and
// returns the snapshot it decoded too.
func (s *StateStore[T]) load(ctx context.Context) (*Snapshot, *T, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return nil, nil, err
	}
	if snap.Schema.IsZero() && len(withoutReserved(snap.Values)) == 0 {
		return nil, nil, s.st.wrap("load", s.ns, "", fmt.Errorf("%w: the run holds no state yet", ErrNotFound))
	}
	v, err := s.decode(snap, true)
	return snap, v, err
}

// decode turns a snapshot into a T, after checking whose state it is.
// Update passes required false: it may be what first sets a required key.
func (s *StateStore[T]) decode(snap *Snapshot, required bool) (*T, error) {
	if err := s.checkSchema(snap.Schema); err != nil {
		return nil, err
	}
	values, err := s.st.unsealAll(s.ns, snap.Values)
	if err != nil {
		return nil, err
	}
	v, key, err := s.schema.decode(func(k string) ([]byte, bool) {
		val, ok := values[k]
		return val.Data, ok
	}, required)
	if err != nil {
		return nil, s.st.wrap("load", s.ns, key, err)
	}
	return v, nil
}

// Decode makes a T of stored values (key to JSON), as Load does: absent
// keys take their defaults, a required key without a value is ErrMissing,
// a value of the wrong type ErrTypeMismatch. It checks state that comes
// from elsewhere (a pipe, a file) before any of it is stored.
func (s *Schema[T]) Decode(values map[string]json.RawMessage) (*T, error) {
	v, _, err := s.decode(func(k string) ([]byte, bool) {
		data, ok := values[k]
		return data, ok
	}, true)
	return v, err
}

// decode makes a T from get's values; key names the field a type mismatch
// is about.
func (s *Schema[T]) decode(get func(key string) ([]byte, bool), required bool) (v *T, key string, err error) {
	v = new(T)
	var missing []string
	for _, f := range s.Fields {
		data, ok := get(f.Key)
		if !ok {
			data = f.Default
		}
		if f.Required && required && (data == nil || emptyJSON(data)) {
			missing = append(missing, f.Key)
		}
		if data == nil {
			continue
		}
		if err := f.decode(v, data); err != nil {
			return nil, f.Key, f.mismatch(data, err)
		}
	}
	if len(missing) > 0 {
		return nil, "", missingError(missing)
	}
	return v, "", nil
}

// Update reads the whole struct (defaults and zero values when the
// namespace holds nothing), lets fn change it, and writes it back on
// condition that nobody wrote the namespace meanwhile, starting over on
// conflict until ctx ends. It returns the value written. A required field
// fn leaves without a value is ErrMissing, and nothing is written. fn runs
// again only after a conflict with another writer, never after a write that
// may have landed: that is ErrUnknownOutcome.
func (s *StateStore[T]) Update(ctx context.Context, fn func(*T) error) (*T, error) {
	var out *T
	err := s.st.retryConflicts(ctx, "update", s.ns, "", func() (int64, bool, error) {
		// One read serves both the migration of older state and the update.
		snap, err := s.current(ctx)
		switch {
		case errors.Is(err, ErrNotFound):
			snap = &Snapshot{Namespace: s.ns}
		case err != nil:
			return 0, false, err
		}
		v, err := s.decode(snap, false)
		if err != nil {
			return snap.Revision, false, err
		}
		if err := fn(v); err != nil {
			return snap.Revision, true, err
		}
		b, err := s.batch(v)
		if err != nil {
			return snap.Revision, true, err
		}
		b.Conds = []Cond{{Revision: snap.Revision}}
		b.Schema, b.IfSchema = &s.ref, &s.ref
		if _, err := s.apply(ctx, "update", "", b); err != nil {
			return snap.Revision, false, err
		}
		out = v
		return snap.Revision, false, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Checkpoint snapshots the namespace under name ("" generates a sortable one).
// Under a lease (WithLease) it first checks that the lease is still
// current, and fails with ErrFenced if not; that check and the checkpoint
// are two steps, not one: checkpoints are not fenced as writes are.
func (s *StateStore[T]) Checkpoint(ctx context.Context, name string, opts ...CheckpointOption) (CheckpointInfo, error) {
	if s.lease != nil {
		if err := s.lease.Check(ctx); err != nil {
			return CheckpointInfo{}, err
		}
	}
	return s.st.Checkpoint(ctx, s.ns, name, opts...)
}

// Fork starts run newNS as exactly checkpoint name of this run, recording
// its lineage (Store.Fork), and returns a typed view of it. newNS must not
// exist (ErrConflict).
func (s *StateStore[T]) Fork(ctx context.Context, name, newNS string) (*StateStore[T], error) {
	if _, err := s.st.Fork(ctx, s.ns, name, newNS); err != nil {
		return nil, err
	}
	return NewStateStore(s.st, newNS, s.schema)
}

// Restore makes the namespace exactly the checkpoint; a missing one is
// ErrNotFound.
func (s *StateStore[T]) Restore(ctx context.Context, name string) error {
	b, err := s.st.restoreBatch(ctx, s.ns, name)
	if err != nil {
		return err
	}
	_, err = s.apply(ctx, "restore", name, b)
	return err
}

// Checkpoints lists the namespace's checkpoints, oldest first.
func (s *StateStore[T]) Checkpoints(ctx context.Context) ([]CheckpointInfo, error) {
	return s.st.Checkpoints(ctx, s.ns)
}

// DeleteCheckpoint removes a checkpoint; a missing one is ErrNotFound.
func (s *StateStore[T]) DeleteCheckpoint(ctx context.Context, name string) error {
	return s.st.DeleteCheckpoint(ctx, s.ns, name)
}

// Prune removes the checkpoints r does not keep and returns them.
func (s *StateStore[T]) Prune(ctx context.Context, r Retention) ([]CheckpointInfo, error) {
	return s.st.Prune(ctx, s.ns, r)
}

// SchemaInfo is what tools know of a schema without its Go type: its name,
// version and keys, and which keys are secret.
type SchemaInfo struct {
	Name    string
	Version int
	Keys    []string
	Secret  []string
}

// Info describes the schema for tools.
func (s *Schema[T]) Info() SchemaInfo {
	return SchemaInfo(s.Ref())
}

var (
	schemasMu sync.RWMutex
	schemas   = map[string]SchemaInfo{}
)

// RegisterSchema makes a schema known to tools linked into the same program.
// Generated code registers each schema from init; the last registration of
// a name wins. Stored state records its schema's secret keys itself (see
// SchemaRef), so the stategen CLI redacts them without it; the registry
// covers state written before it did.
func RegisterSchema(info SchemaInfo) {
	schemasMu.Lock()
	defer schemasMu.Unlock()
	schemas[info.Name] = info
}

// LookupSchema returns a registered schema.
func LookupSchema(name string) (SchemaInfo, bool) {
	schemasMu.RLock()
	defer schemasMu.RUnlock()
	info, ok := schemas[name]
	return info, ok
}
