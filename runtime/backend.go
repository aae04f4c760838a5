package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"
)

// Backend is the contract a storage backend fulfils. The Store validates
// names and values, retries, caches and logs; a backend only stores.
//
// Every method works on one namespace at a time except Namespaces. A
// namespace has a revision that every successful Apply increases; each key
// carries the namespace revision of the Apply that last wrote it. Backends
// wrap their errors with ErrNotFound, ErrConflict and ErrCorrupt where they
// apply, and mark retryable failures with Transient. The conformance suite in
// runtime/backends/backendtest proves each backend keeps the contract.
type Backend interface {
	// Get returns one key. An absent key is ErrNotFound.
	Get(ctx context.Context, ns, key string) (Value, error)
	// Snapshot returns the whole namespace as of one revision, with the
	// schema it records (Name, Version, Keys and Secret as written). A
	// namespace that holds no key and no schema is ErrNotFound.
	Snapshot(ctx context.Context, ns string) (*Snapshot, error)
	// Apply performs a batch atomically (all or nothing, also across a
	// crash of the writer) and returns the namespace's new revision. A failed
	// condition (Conds or IfSchema) is ErrConflict and changes nothing.
	Apply(ctx context.Context, ns string, b *Batch) (int64, error)
	// Namespaces lists the namespaces that hold a key, a schema or
	// checkpoints, sorted: one whose keys were all deleted is not listed.
	Namespaces(ctx context.Context) ([]string, error)

	// PutCheckpoint stores snap under name, replacing a checkpoint of that
	// name, in one atomic write. The checkpoint's Schema is kept whole, as
	// Batch.Schema is.
	PutCheckpoint(ctx context.Context, ns string, cp *Checkpoint) error
	// GetCheckpoint reads a checkpoint; a missing one is ErrNotFound.
	GetCheckpoint(ctx context.Context, ns, name string) (*Checkpoint, error)
	// Checkpoints lists a namespace's checkpoints, in any order. A
	// checkpoint that cannot be read is listed with its Name and Err (which
	// wraps ErrCorrupt), never dropped, and does not fail the listing.
	Checkpoints(ctx context.Context, ns string) ([]CheckpointInfo, error)
	// DeleteCheckpoint removes one; a missing one is ErrNotFound.
	DeleteCheckpoint(ctx context.Context, ns, name string) error

	// Close releases connections and files.
	Close() error
}

// SchemaGetter is implemented by backends that can read one key together
// with the schema its namespace records, in one read. Per-field loads of
// generated code use it to see whether stored state needs migrating; the
// Store falls back to Snapshot for a backend without it, which for a
// backend that reads a namespace whole (a file) costs nothing more.
type SchemaGetter interface {
	// GetWithSchema is Get that also returns the namespace's recorded
	// schema: at least its Name and Version (Keys and Secret may be left
	// out), the zero SchemaRef when it records none. An absent key is
	// ErrNotFound, and the schema is returned with it all the same.
	GetWithSchema(ctx context.Context, ns, key string) (Value, SchemaRef, error)
}

// CheckpointCopier is implemented by backends that copy a namespace into a
// checkpoint inside the store, in one atomic write, its values never
// travelling to the program and back (SQL's INSERT … SELECT).
// Store.Checkpoint uses it where it exists, and Snapshot then PutCheckpoint
// elsewhere; both must give the same checkpoint.
type CheckpointCopier interface {
	// CopyCheckpoint stores the namespace's current state as checkpoint
	// info.Name created at info.Created, replacing one of that name: its
	// keys but the reserved ones, its schema, the labels info carries, and
	// as Restored the checkpoint the run was restored or forked from (its
	// reserved lineage key, as Snapshot.RunInfo reads it). It returns the
	// checkpoint's info with Revision, Schema, Keys and Restored filled in.
	//
	// A run that would read as not found is ErrNotFound and nothing is
	// stored: one with neither a key of the user's nor a schema, or one
	// idle longer than its TTL at info.Created (RunInfo.Expired). A
	// stored value that is not JSON is ErrCorrupt, nothing stored.
	//
	// In the same write it then removes the other checkpoints that keep
	// does not keep (Retention.Doomed, the new checkpoint counted as the
	// newest); the zero Retention removes none.
	CopyCheckpoint(ctx context.Context, ns string, info CheckpointInfo, keep Retention) (CheckpointInfo, error)
}

// Stamper is implemented by backends that can tell cheaply whether a
// namespace may have changed since an earlier call. The strict cache uses it:
// an entry is valid while the stamp taken before it was read still matches.
// A backend without it gets no strict caching (every read goes through).
type Stamper interface {
	// Stamp returns a value that differs whenever ns may have changed
	// (it may also differ when it has not).
	Stamp(ctx context.Context, ns string) (Stamp, error)
}

// Stamp is a backend's cheap change marker (a data version, a revision, a
// file's identity, size and modification time). Comparable, no allocation.
type Stamp [4]int64

// Value is one stored key.
type Value struct {
	// Data is the stored JSON value.
	Data json.RawMessage
	// Revision is the namespace revision of the write that stored it.
	Revision int64
	// Updated is when it was stored (zero where the backend does not know).
	Updated time.Time
}

// SchemaRef names the schema and version stored state was written under,
// and what a tool needs to show that state without the program's Go types:
// the schema's keys and which of them are secret. Backends store it whole
// with the namespace (and with each checkpoint) as Batch.Schema gives it,
// and return it whole from Snapshot, GetCheckpoint and Checkpoints; its
// JSON form (the field tags below) is how backends that store JSON keep it.
// The zero value means none recorded.
type SchemaRef struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Keys are the schema's persisted keys, in declaration order; nil when
	// the writer did not record them (stategen before Keys existed, or a
	// hand-made batch).
	Keys []string `json:"keys,omitempty"`
	// Secret are the keys whose values tools must not print (the fields
	// tagged secret), so that every stategen binary redacts them.
	Secret []string `json:"secret,omitempty"`
}

// IsZero reports whether no schema is recorded.
func (s SchemaRef) IsZero() bool {
	return s.Name == "" && s.Version == 0 && len(s.Keys) == 0 && len(s.Secret) == 0
}

// SameVersion reports whether s and o name the same schema version: the
// comparison that decides whether state needs migrating (Keys and Secret
// do not count).
func (s SchemaRef) SameVersion(o SchemaRef) bool { return s.Name == o.Name && s.Version == o.Version }

// Equal reports whether s and o are the same in every field (go-cmp uses it).
func (s SchemaRef) Equal(o SchemaRef) bool {
	return s.SameVersion(o) && slices.Equal(s.Keys, o.Keys) && slices.Equal(s.Secret, o.Secret)
}

// IsSecret reports whether key is one of the schema's secret keys.
func (s SchemaRef) IsSecret(key string) bool { return slices.Contains(s.Secret, key) }

func (s SchemaRef) String() string {
	if s.IsZero() {
		return "no schema"
	}
	return fmt.Sprintf("%s v%d", s.Name, s.Version)
}

// Snapshot is a namespace's content as of one revision.
type Snapshot struct {
	Namespace string
	Revision  int64
	Schema    SchemaRef
	Values    map[string]Value
	// Updated, when a backend sets it, is the time of the namespace's
	// last write; where the values' own Updated do not tell it (a file
	// format that dates no key), a backend should set it.
	Updated time.Time
	// Expires is when the run expires, its TTL after its last write
	// (WithTTL): the Store sets it on the snapshots it returns, which
	// leave out the reserved key that records the TTL. Zero when the run
	// has none; backends leave it zero.
	Expires time.Time
}

// Keys returns the snapshot's keys, sorted.
func (s *Snapshot) Keys() []string {
	keys := make([]string, 0, len(s.Values))
	for k := range s.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// KV is one key and the JSON value to store under it.
type KV struct {
	Key   string
	Value json.RawMessage
}

// Cond is a precondition of a Batch: the revision a key (or, with an empty
// Key, the whole namespace) must have for the batch to apply. Revision 0
// means the key must be absent, or the namespace must not exist (hold no
// key and no schema, as for Snapshot).
type Cond struct {
	Key      string
	Revision int64
}

// Batch is a set of writes to one namespace, applied atomically.
type Batch struct {
	// Puts are stored; a key that appears twice keeps the last value.
	Puts []KV
	// Deletes are removed; deleting an absent key is no error.
	Deletes []string
	// Replace makes the namespace hold exactly Puts: every other key is
	// removed, but the reserved ones (IsReserved), which stay unless
	// Deletes names them.
	Replace bool
	// Conds must all hold or nothing is written (ErrConflict).
	Conds []Cond
	// Schema, if set, is recorded as the namespace's schema, whole (Keys
	// and Secret included); the zero SchemaRef means "no schema" and
	// removes any recorded one, so that a namespace whose keys are then
	// all deleted does not exist.
	Schema *SchemaRef
	// IfSchema, if set, is a condition like Conds: the namespace must
	// record no schema, or one of IfSchema's Name and Version (Keys and
	// Secret do not count), or nothing is written and the error wraps
	// ErrConflict. Generated code sets it on every write, so that a write
	// never stamps older stored state with a newer version unmigrated.
	IfSchema *SchemaRef
	// Restore names the checkpoint the batch restores (Store.Restore sets
	// it), for a backend with a native change feed to report; the others
	// ignore it.
	Restore string
	// ID names the batch so that a retried Apply is not applied twice. The
	// Store sets it on conditional batches and keeps it across its retries.
	// A backend whose write can land without the writer hearing so (a
	// network store losing the reply) must remember the IDs it applied:
	// Apply of a batch whose ID it applied returns that write's revision
	// and applies nothing. Other backends ignore it.
	ID string
	// Retry is set by the Store on a retry of a batch with an ID after an
	// attempt that may have landed. A backend that remembers IDs and finds
	// the batch's conditions failing must then know that the ID was not
	// applied (it still remembers every ID applied since the conditions'
	// revisions) to report ErrConflict; otherwise it reports
	// ErrUnknownOutcome, since the conflict may be the lost attempt's own
	// doing.
	Retry bool
}

// Checkpoint is a named copy of a namespace's state.
type Checkpoint struct {
	CheckpointInfo
	Values map[string]Value
}

// CheckpointInfo describes a checkpoint.
type CheckpointInfo struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Revision is the namespace revision the checkpoint copies.
	Revision int64     `json:"revision"`
	Schema   SchemaRef `json:"schema"`
	// Keys is the number of keys it holds.
	Keys int `json:"keys"`
	CheckpointMeta
	// Err is set, and the other fields but Name are zero, for a checkpoint
	// that could not be read; it wraps ErrCorrupt.
	Err error `json:"-"`
}

// CheckpointMeta is what a checkpoint records about the run besides its
// state: its labels and the checkpoint the run was last restored from.
// Backends store it with the checkpoint's bookkeeping, as the JSON of its
// field tags (MarshalJSON of the zero value is "{}"), so that listing
// checkpoints reads it without reading their values.
type CheckpointMeta struct {
	// Labels are those given to Checkpoint (WithLabels).
	Labels map[string]string `json:"labels,omitempty"`
	// Restored is the checkpoint the run was last restored from, or
	// forked from, when this one was taken; nil if neither.
	Restored *CheckpointRef `json:"restored,omitempty"`
}

// IsZero reports whether m records nothing.
func (m CheckpointMeta) IsZero() bool { return len(m.Labels) == 0 && m.Restored == nil }

// CheckpointRef names one checkpoint of one run.
type CheckpointRef struct {
	Namespace  string `json:"namespace"`
	Checkpoint string `json:"checkpoint"`
}

func (r CheckpointRef) String() string { return r.Namespace + "@" + r.Checkpoint }

// Config is what a backend receives from Open besides its URL.
type Config struct {
	// TTL, when positive, makes a namespace expire that long after its last
	// write. A backend that expires data natively (Redis) does so; for
	// the others the runtime records the TTL with the run (a reserved
	// key), reads a run idle longer than it as not found, and Store.GC
	// deletes it.
	TTL time.Duration
	// Logger receives the backend's diagnostics. Never nil.
	Logger *slog.Logger
	// ReadOnly asks the backend to create and change nothing: opening a
	// store that does not exist fails with an error wrapping ErrNotFound
	// that says there is no store at its location, and every write fails
	// with ErrReadOnly.
	ReadOnly bool
}

// Opener opens a backend for a URL of its scheme.
type Opener func(ctx context.Context, u *url.URL, cfg Config) (Backend, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a backend available under a URL scheme. Backend packages
// call it from init, as database/sql drivers do; registering a scheme twice
// panics.
func Register(scheme string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic("stategen: backend scheme registered twice: " + scheme)
	}
	registry[scheme] = open
}

// Schemes lists the registered URL schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

func lookupScheme(scheme string) (Opener, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	o, ok := registry[scheme]
	return o, ok
}
