package runtime

import (
	"context"
	"encoding/json"
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

// migrate brings snap to the schema's version, if it is older: it runs the
// steps in memory, and only when all succeed checkpoints the old state and
// writes the new one in one write conditioned on the snapshot's revision.
// It returns the snapshot to decode (the migrated one), or ErrConflict when
// another writer got there first.
func (s *StateStore[T]) migrate(ctx context.Context, snap *Snapshot) (*Snapshot, error) {
	stored := snap.Schema
	if stored.IsZero() || stored.Name != s.schema.Name || stored.Version >= s.schema.Version {
		return snap, nil // checkSchema says what is wrong, if anything
	}
	m := &Migration{Namespace: s.ns, values: make(map[string]json.RawMessage, len(snap.Values))}
	for k, v := range snap.Values {
		m.values[k] = v.Data
	}
	for n := stored.Version; n < s.schema.Version; n++ {
		step := s.schema.Migrations[n]
		if step == nil {
			return nil, s.st.wrap("migrate", s.ns, "", fmt.Errorf("%w: stored %s, this program has %s and no migration from version %d to %d",
				ErrSchemaMismatch, stored, s.schema.Ref(), n, n+1))
		}
		m.From = n
		if err := step(m); err != nil {
			return nil, s.st.wrap("migrate", s.ns, "", fmt.Errorf("migration of %s from version %d to %d failed, nothing was changed: %w", s.schema.Name, n, n+1, err))
		}
	}

	// Keep the old state: a checkpoint of the very snapshot migrated.
	name := fmt.Sprintf("pre-migrate-v%d-%s", stored.Version, checkpointName(time.Now()))
	cp := &Checkpoint{
		CheckpointInfo: CheckpointInfo{Name: name, Created: time.Now(), Revision: snap.Revision, Schema: stored, Keys: len(snap.Values)},
		Values:         snap.Values,
	}
	if err := s.st.do(ctx, "checkpoint", s.ns, name, func() error { return s.st.be.PutCheckpoint(ctx, s.ns, cp) }); err != nil {
		return nil, err
	}
	ref := s.schema.Ref()
	b := &Batch{Replace: true, Schema: &ref, Conds: []Cond{{Revision: snap.Revision}}}
	for _, k := range m.Keys() {
		b.Puts = append(b.Puts, KV{Key: k, Value: m.values[k]})
	}
	rev, err := s.st.Apply(ctx, s.ns, b)
	if err != nil {
		return nil, err
	}
	s.st.opts.logger.LogAttrs(ctx, slog.LevelInfo, "stategen: migrated stored state",
		slog.String("namespace", s.ns), slog.String("from", stored.String()), slog.String("to", ref.String()), slog.String("checkpoint", name))
	out := &Snapshot{Namespace: s.ns, Revision: rev, Schema: ref, Values: make(map[string]Value, len(m.values))}
	for k, v := range m.values {
		out.Values[k] = Value{Data: v, Revision: rev}
	}
	return out, nil
}

// current reads the namespace, migrating it to the schema's version first
// when it is older; a migration that lost a race starts over.
func (s *StateStore[T]) current(ctx context.Context) (*Snapshot, error) {
	var out *Snapshot
	err := s.st.retryConflicts(ctx, "migrate", s.ns, "", func() (int64, bool, error) {
		snap, err := s.st.Snapshot(ctx, s.ns)
		if err != nil {
			return 0, false, err
		}
		out, err = s.migrate(ctx, snap)
		return snap.Revision, false, err
	})
	return out, err
}

// Migrate brings the namespace's stored state to the schema's version now,
// as Load and Update do on their own. Per-field accessors read keys as they
// are stored, so a program that uses only them calls Migrate once.
func (s *StateStore[T]) Migrate(ctx context.Context) error {
	_, err := s.current(ctx)
	return err
}
