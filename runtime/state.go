package runtime

import (
	"bytes"
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
	// Migrations[n] upgrades stored state from version n to n+1; Load and
	// Update run the steps from the stored version on.
	Migrations map[int]MigrationFunc
}

// Ref names the schema as stored state records it.
func (s *Schema[T]) Ref() SchemaRef { return SchemaRef{Name: s.Name, Version: s.Version} }

// Field is one persisted field of T: its key and options, and how to encode
// and decode it within a *T. Build one with FieldOf.
type Field[T any] struct {
	Key      string
	Required bool
	Secret   bool
	Default  json.RawMessage
	encode   func(*T) ([]byte, error)
	decode   func(*T, []byte) error
}

// Key is one field's typed key: its storage name, options and codec. The
// per-field accessors of generated code call its methods.
type Key[V any] struct {
	Name     string
	Required bool
	Secret   bool
	// Default is the JSON used when the key is absent; nil for none.
	Default json.RawMessage
	Codec   *Codec[V]
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
	}
}

// Load reads the key, or its default when it is absent; without a default
// an absent key is ErrNotFound.
func (k *Key[V]) Load(ctx context.Context, st *Store, ns string) (V, error) {
	v, err := Load(ctx, st, ns, k.Name, k.Codec)
	if errors.Is(err, ErrNotFound) && k.Default != nil {
		return k.defaultValue(st, ns)
	}
	return v, err
}

func (k *Key[V]) defaultValue(st *Store, ns string) (V, error) {
	v, err := k.Codec.Decode(k.Default)
	if err != nil {
		return v, st.wrap("decode default", ns, k.Name, fmt.Errorf("%w: default %s: %v", ErrInvalidValue, k.Default, err))
	}
	return v, nil
}

// Save stores v under the key.
func (k *Key[V]) Save(ctx context.Context, st *Store, ns string, v V) error {
	return Save(ctx, st, ns, k.Name, v, k.Codec)
}

// Delete removes the key; an absent key is no error.
func (k *Key[V]) Delete(ctx context.Context, st *Store, ns string) error {
	_, err := st.Delete(ctx, ns, k.Name)
	return err
}

// Update applies fn to the key's value (its default, or the zero value,
// when absent) and stores the result, retrying on conflict until ctx ends.
func (k *Key[V]) Update(ctx context.Context, st *Store, ns string, fn func(V) (V, error)) (V, error) {
	return Update(ctx, st, ns, k.Name, k.Codec, func(v V, found bool) (V, error) {
		if !found && k.Default != nil {
			d, err := k.defaultValue(st, ns)
			if err != nil {
				return v, err
			}
			v = d
		}
		return fn(v)
	})
}

// StateStore is a typed view of one namespace under a schema: whole-struct
// Save, Load and Update, and the namespace's checkpoints. Generated stores
// embed it and add per-field accessors.
type StateStore[T any] struct {
	st     *Store
	ns     string
	schema *Schema[T]
}

// NewStateStore returns the view of namespace ns of st under schema.
func NewStateStore[T any](st *Store, ns string, schema *Schema[T]) (*StateStore[T], error) {
	if err := ValidateName("namespace", ns); err != nil {
		return nil, st.wrap("open", ns, "", err)
	}
	return &StateStore[T]{st: st, ns: ns, schema: schema}, nil
}

// Store is the Store the view reads and writes.
func (s *StateStore[T]) Store() *Store { return s.st }

// Namespace is the namespace the view reads and writes.
func (s *StateStore[T]) Namespace() string { return s.ns }

// Save stores every field of v, and the schema's name and version, in one
// atomic write.
func (s *StateStore[T]) Save(ctx context.Context, v *T) error {
	b, err := s.batch(v)
	if err != nil {
		return err
	}
	_, err = s.st.Apply(ctx, s.ns, b)
	return err
}

// batch encodes every field of v.
func (s *StateStore[T]) batch(v *T) (*Batch, error) {
	ref := s.schema.Ref()
	b := &Batch{Puts: make([]KV, 0, len(s.schema.Fields)), Schema: &ref}
	for _, f := range s.schema.Fields {
		data, err := f.encode(v)
		if err != nil {
			return nil, s.st.wrap("encode", s.ns, f.Key, fmt.Errorf("%w: %v", ErrInvalidValue, err))
		}
		b.Puts = append(b.Puts, KV{Key: f.Key, Value: data})
	}
	return b, nil
}

// Load reads the whole struct in one read. A namespace that holds nothing is
// ErrNotFound; absent keys take their defaults (or zero values), and absent
// required keys, or required keys that hold null, are ErrMissing, naming
// them.
func (s *StateStore[T]) Load(ctx context.Context) (*T, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return s.decode(snap, true)
}

// decode turns a snapshot into a T, after checking whose state it is.
// Update passes required false: it may be what first sets a required key.
func (s *StateStore[T]) decode(snap *Snapshot, required bool) (*T, error) {
	if err := s.checkSchema(snap.Schema); err != nil {
		return nil, err
	}
	v := new(T)
	var missing []string
	for _, f := range s.schema.Fields {
		data := []byte(nil)
		val, ok := snap.Values[f.Key]
		switch {
		case ok && f.Required && required && isNull(val.Data):
			// A stored null (Python writes one for an unset field) is no
			// more a value than an absent key.
			missing = append(missing, f.Key)
			continue
		case ok:
			data = val.Data
		case f.Default != nil:
			data = f.Default
		default:
			if f.Required && required {
				missing = append(missing, f.Key)
			}
			continue
		}
		if err := f.decode(v, data); err != nil {
			return nil, s.st.wrap("decode", s.ns, f.Key, Corrupt("value of key "+f.Key, err))
		}
	}
	if len(missing) > 0 {
		return nil, s.st.wrap("load", s.ns, "", fmt.Errorf("%w: %s", ErrMissing, strings.Join(missing, ", ")))
	}
	return v, nil
}

// isNull reports whether data is the JSON null.
func isNull(data []byte) bool { return string(bytes.TrimSpace(data)) == "null" }

// checkSchema refuses state written under another schema or a newer
// version of this one. State that records no schema (written by hand or by
// another program) is read as this version.
func (s *StateStore[T]) checkSchema(stored SchemaRef) error {
	switch {
	case stored.IsZero():
		return nil
	case stored.Name != s.schema.Name:
		return s.st.wrap("load", s.ns, "", fmt.Errorf("%w: it holds %s, not %s", ErrSchemaMismatch, stored, s.schema.Ref()))
	case stored.Version > s.schema.Version:
		return s.st.wrap("load", s.ns, "", fmt.Errorf("%w: stored %s, this program has %s", ErrSchemaTooNew, stored, s.schema.Ref()))
	case stored.Version < s.schema.Version:
		return s.st.wrap("load", s.ns, "", fmt.Errorf("%w: stored %s, this program has %s and no migration to it", ErrSchemaMismatch, stored, s.schema.Ref()))
	}
	return nil
}

// Update reads the whole struct (defaults and zero values when the
// namespace holds nothing), lets fn change it, and writes it back on
// condition that nobody wrote the namespace meanwhile, starting over on
// conflict until ctx ends. It returns the value written. fn runs again only
// after a conflict with another writer, never after a write that may have
// landed: that is ErrUnknownOutcome.
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
		if _, err := s.st.Apply(ctx, s.ns, b); err != nil {
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
func (s *StateStore[T]) Checkpoint(ctx context.Context, name string) (CheckpointInfo, error) {
	return s.st.Checkpoint(ctx, s.ns, name)
}

// Restore makes the namespace exactly the checkpoint; a missing one is
// ErrNotFound.
func (s *StateStore[T]) Restore(ctx context.Context, name string) error {
	_, err := s.st.Restore(ctx, s.ns, name)
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
	return s.st.Prune(ctx, s.ns, r, false)
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
	info := SchemaInfo{Name: s.Name, Version: s.Version}
	for _, f := range s.Fields {
		info.Keys = append(info.Keys, f.Key)
		if f.Secret {
			info.Secret = append(info.Secret, f.Key)
		}
	}
	return info
}

var (
	schemasMu sync.RWMutex
	schemas   = map[string]SchemaInfo{}
)

// RegisterSchema makes a schema known to tools linked into the same program
// (the CLI redacts its secret keys). Generated code registers each schema
// from init; the last registration of a name wins.
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
