package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"
)

// Migration is a namespace's stored values while one schema step runs:
// the step from version From to From+1 of a schema. Migration functions
// change the values through it; nothing is stored until every step has
// succeeded, and then in one atomic write.
type Migration struct {
	// From is the version the step upgrades from.
	From int
	// Namespace is the namespace being migrated.
	Namespace string

	values map[string]json.RawMessage
}

// Get returns a key's stored JSON.
func (m *Migration) Get(key string) (json.RawMessage, bool) {
	v, ok := m.values[key]
	return v, ok
}

// Keys lists the keys, sorted.
func (m *Migration) Keys() []string {
	keys := make([]string, 0, len(m.values))
	for k := range m.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Set stores v under key: a json.RawMessage as it is (it must be valid
// JSON), anything else as encoding/json encodes it.
func (m *Migration) Set(key string, v any) error {
	if err := ValidateName("key", key); err != nil {
		return err
	}
	var data json.RawMessage
	switch v := v.(type) {
	case json.RawMessage:
		if !json.Valid(v) {
			return fmt.Errorf("%w: set %s: not valid JSON", ErrInvalidValue, key)
		}
		data = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%w: set %s: %v", ErrInvalidValue, key, err)
		}
		data = b
	}
	m.values[key] = data
	return nil
}

// Rename moves a key's value to a new key. Renaming an absent key does
// nothing (older state may never have had it); renaming onto a key that
// exists is an error, so no value is lost by accident.
func (m *Migration) Rename(from, to string) error {
	if err := ValidateName("key", to); err != nil {
		return err
	}
	v, ok := m.values[from]
	if !ok {
		return nil
	}
	if _, taken := m.values[to]; taken {
		return fmt.Errorf("rename %s to %s: %s already holds a value (delete it first if it should go)", from, to, to)
	}
	m.values[to] = v
	delete(m.values, from)
	return nil
}

// Delete removes a key; an absent key is no error.
func (m *Migration) Delete(key string) error {
	delete(m.values, key)
	return nil
}

// MigrationFunc upgrades stored state by one schema version.
type MigrationFunc func(*Migration) error

// scope is one namespace of a Store under a schema, without the schema's
// Go type: what whole-struct and per-field access share. It checks the
// schema stored state records, and migrates older state.
type scope struct {
	st  *Store
	ns  string
	ref SchemaRef // the schema whole: name, version, keys, secret keys
	// migrations[n] upgrades stored state from version n to n+1.
	migrations map[int]MigrationFunc
	// lease, when set, fences every write (see StateStore.WithLease).
	lease *Lease
}

// apply is the one place where the view's writes reach the Store: fenced
// by the view's lease when it has one.
func (sc *scope) apply(ctx context.Context, op, key string, b *Batch) (int64, error) {
	if sc.lease != nil {
		return sc.st.applyFenced(ctx, sc.lease, op, sc.ns, key, b)
	}
	return sc.st.apply(ctx, op, sc.ns, key, b)
}

// View is what the per-field accessors of generated code (Key's methods)
// read and write through: one namespace of a Store under a schema.
// *StateStore[T] is a View, and so is every generated store, which embeds
// one.
type View interface {
	view() *scope
}

// checkSchema refuses state written under another schema or a newer
// version of this one. State that records no schema (written by hand or by
// another program) is read as this version.
func (sc *scope) checkSchema(stored SchemaRef) error {
	switch {
	case stored.Name == "" && stored.Version == 0:
		return nil
	case stored.Name != sc.ref.Name:
		return sc.st.wrap("load", sc.ns, "", fmt.Errorf("%w: it holds %s, not %s", ErrSchemaMismatch, stored, sc.ref))
	case stored.Version > sc.ref.Version:
		return sc.st.wrap("load", sc.ns, "", fmt.Errorf("%w: stored %s, this program has %s", ErrSchemaTooNew, stored, sc.ref))
	case stored.Version < sc.ref.Version:
		return sc.st.wrap("load", sc.ns, "", fmt.Errorf("%w: stored %s, this program has %s and no migration to it", ErrSchemaMismatch, stored, sc.ref))
	}
	return nil
}

// current reads the namespace, migrating it to the schema's version first
// when it is older; a migration that lost a race starts over. It does not
// check the schema: checkSchema says what is wrong with what it returns.
func (sc *scope) current(ctx context.Context) (*Snapshot, error) {
	var out *Snapshot
	err := sc.st.retryConflicts(ctx, "migrate", sc.ns, "", func() (int64, bool, error) {
		snap, err := sc.st.Snapshot(ctx, sc.ns)
		if err != nil {
			return 0, false, err
		}
		out, err = sc.migrate(ctx, snap)
		return snap.Revision, false, err
	})
	return out, err
}

// settle brings stored state to this schema after a write conditioned on
// the schema conflicted: older state is migrated (so that the write can be
// tried again), newer state or another schema's is refused. A namespace
// that is gone needs nothing.
//
// It returns the revision it read, for the caller's loop to tell a
// namespace that changes from one that does not.
func (sc *scope) settle(ctx context.Context) (int64, error) {
	snap, err := sc.current(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return snap.Revision, sc.checkSchema(snap.Schema)
}

// write applies b, which must carry no other condition, recording the
// schema and conditioned on the namespace recording no other version:
// stored state of an older version is migrated first, then the write is
// tried again; newer state is refused. It returns the new revision.
func (sc *scope) write(ctx context.Context, op, key string, b *Batch, record bool) (int64, error) {
	if record {
		b.Schema = &sc.ref
	}
	b.IfSchema = &sc.ref
	var rev int64
	err := sc.st.retryConflicts(ctx, op, sc.ns, key, func() (int64, bool, error) {
		var err error
		rev, err = sc.apply(ctx, op, key, b)
		if !errors.Is(err, ErrConflict) || errors.Is(err, ErrUnknownOutcome) {
			return 0, false, err
		}
		read, serr := sc.settle(ctx)
		if serr != nil {
			return read, true, serr
		}
		return read, false, err
	})
	return rev, err
}

// migrate brings snap to the schema's version, if it is older: it runs the
// steps in memory, and only when all succeed checkpoints the old state and
// writes the new one in one write conditioned on the snapshot's revision.
// It returns the snapshot to decode (the migrated one), or ErrConflict when
// another writer got there first. A read-only Store migrates in memory
// only, writing nothing.
func (sc *scope) migrate(ctx context.Context, snap *Snapshot) (*Snapshot, error) {
	stored := snap.Schema
	if stored.Name != sc.ref.Name || stored.Version >= sc.ref.Version {
		return snap, nil // checkSchema says what is wrong, if anything
	}
	// The steps see secret values in the clear (a rename must not carry a
	// value sealed for its old key), and the write-back seals them anew.
	plain, err := sc.st.unsealAll(sc.ns, snap.Values)
	if err != nil {
		return nil, err
	}
	m := &Migration{Namespace: sc.ns, values: make(map[string]json.RawMessage, len(plain))}
	for k, v := range plain {
		m.values[k] = v.Data
	}
	for n := stored.Version; n < sc.ref.Version; n++ {
		step := sc.migrations[n]
		if step == nil {
			return nil, sc.st.wrap("migrate", sc.ns, "", fmt.Errorf("%w: stored %s, this program has %s and no migration from version %d to %d",
				ErrSchemaMismatch, stored, sc.ref, n, n+1))
		}
		m.From = n
		if err := step(m); err != nil {
			return nil, sc.st.wrap("migrate", sc.ns, "", fmt.Errorf("migration of %s from version %d to %d failed, nothing was changed: %w", sc.ref.Name, n, n+1, err))
		}
	}
	out := &Snapshot{Namespace: sc.ns, Revision: snap.Revision, Schema: sc.ref, Values: make(map[string]Value, len(m.values))}
	if sc.st.opts.readOnly {
		for k, v := range m.values {
			out.Values[k] = Value{Data: v, Revision: snap.Revision}
		}
		return out, nil
	}

	// Keep the old state: a checkpoint of the very snapshot migrated.
	name := fmt.Sprintf("pre-migrate-v%d-%s", stored.Version, checkpointName(time.Now()))
	old := withoutReserved(snap.Values) // a checkpoint leaves the run's bookkeeping out
	cp := &Checkpoint{
		CheckpointInfo: CheckpointInfo{Name: name, Created: time.Now(), Revision: snap.Revision, Schema: stored, Keys: len(old)},
		Values:         old,
	}
	if err := sc.st.putCheckpoint(ctx, sc.ns, cp); err != nil {
		return nil, err
	}
	b := &Batch{Replace: true, Schema: &sc.ref, Conds: []Cond{{Revision: snap.Revision}}}
	for _, k := range m.Keys() {
		b.Puts = append(b.Puts, KV{Key: k, Value: m.values[k]})
	}
	rev, err := sc.apply(ctx, "migrate", "", b)
	if err != nil {
		return nil, err
	}
	sc.st.opts.logger.LogAttrs(ctx, slog.LevelInfo, "stategen: migrated stored state",
		slog.String("namespace", sc.ns), slog.String("from", stored.String()), slog.String("to", sc.ref.String()), slog.String("checkpoint", name))
	out.Revision = rev
	for k, v := range m.values {
		out.Values[k] = Value{Data: v, Revision: rev}
	}
	return out, nil
}

// Migrate brings the namespace's stored state to the schema's version now,
// as every generated read and write does on its own when it meets older
// state.
func (s *StateStore[T]) Migrate(ctx context.Context) error {
	snap, err := s.current(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.checkSchema(snap.Schema)
}
