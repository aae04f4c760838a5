package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultURL is the store used when neither the caller nor $STATEGEN_STORE
// names one: an embedded SQLite database in the working directory.
const DefaultURL = "sqlite:.stategen/state.db"

// EnvStore names the environment variable that supplies the store URL when
// Open is given an empty one.
const EnvStore = "STATEGEN_STORE"

// Store is a handle on one state store. It is safe for concurrent use.
type Store struct {
	be      Backend
	stamper Stamper // nil when the backend has no cheap change marker
	name    string  // for errors and logs; never holds a password
	opts    options
	cache   *cache // nil when off

	plainSecrets bool      // the backend keeps secret values in plain text
	warnPlain    sync.Once // the warning that secrets go unsealed, once

	ttlRecorded sync.Map // namespaces whose TTL this Store recorded
}

// Open opens the store at rawURL with the backend registered for its scheme.
// An empty rawURL means $STATEGEN_STORE, or else DefaultURL.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	if rawURL == "" {
		rawURL = os.Getenv(EnvStore)
	}
	if rawURL == "" {
		rawURL = DefaultURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL, password included: name only the problem.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("stategen: store URL %q: %w", redactRaw(rawURL), err)
	}
	name := redact(u)
	open, ok := lookupScheme(u.Scheme)
	if !ok {
		return nil, fmt.Errorf("stategen: store %s: %w %q (known: %s; a backend is linked by importing its package, or all of them with runtime/backends/all)",
			name, ErrUnknownScheme, u.Scheme, strings.Join(Schemes(), ", "))
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if spec := os.Getenv(EnvKeys); o.keys == nil && spec != "" {
		if o.keys, err = ParseKeyring(spec); err != nil {
			return nil, fmt.Errorf("stategen: %s: %w", EnvKeys, err)
		}
	}
	// The first connection follows the retry policy like every later call:
	// a server that drops it (a network hiccup, a proxy) is tried again.
	var be Backend
	err = o.retry.run(ctx, func() (err error) {
		be, err = open(ctx, u, Config{TTL: o.keyTTL, Logger: o.logger, ReadOnly: o.readOnly})
		return err
	}, retryLogger(ctx, o.logger, "open", name, ""))
	if err != nil {
		return nil, fmt.Errorf("stategen: open %s: %w", name, err)
	}
	return newStore(be, name, o), nil
}

// New wraps an already opened backend in a Store; name identifies it in
// errors and logs.
func New(be Backend, name string, opts ...Option) *Store {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return newStore(be, name, o)
}

func newStore(be Backend, name string, o options) *Store {
	s := &Store{be: be, name: name, opts: o, cache: newCache(o.cache, o.ttl)}
	if st, ok := be.(Stamper); ok {
		s.stamper = st
	}
	if p, ok := be.(PlainSecrets); ok {
		s.plainSecrets = p.PlainSecrets()
	}
	if o.cache == cacheStrict && s.stamper == nil {
		s.cache = nil
	}
	return s
}

// redact is the URL with its passwords hidden: the user info's and those
// of query parameters such as go-redis's password and sentinel_password,
// whatever the URL's shape (redis//:PW@host and redis:/:PW@host, which do
// not parse as having user info, included).
func redact(u *url.URL) string {
	q := u.Query()
	changed := false
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q[k] = []string{"xxxxx"}
			changed = true
		}
	}
	c := *u
	if changed {
		c.RawQuery = q.Encode()
	}
	return redactRaw(c.Redacted())
}

// RedactURL is a store URL as stategen prints it: every password replaced
// by xxxxx, whatever the URL's shape, parsed or not.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return redact(u)
	}
	return redactRaw(raw)
}

// redactRaw hides the password of a URL written as text, parsed or not:
// whatever stands between a ':' and the last '@' before the path, after
// the scheme and its slashes, as in scheme://user:PW@host, scheme:/:PW@host,
// //:PW@host or scheme//:PW@host.
func redactRaw(raw string) string {
	rest, query, hasQuery := strings.Cut(raw, "?")
	at := strings.LastIndex(rest, "@")
	if at >= 0 {
		start := 0
		if i := strings.Index(rest, ":"); i > 0 && isScheme(rest[:i]) {
			start = i + 1
		}
		for start < at && rest[start] == '/' {
			start++
		}
		if user, _, ok := strings.Cut(rest[start:at], ":"); ok && !strings.HasSuffix(rest[start:at], ":xxxxx") {
			rest = rest[:start] + user + ":xxxxx" + rest[at:]
		}
	}
	if !hasQuery {
		return rest
	}
	if q, err := url.ParseQuery(query); err == nil {
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q[k] = []string{"xxxxx"}
				query = q.Encode()
			}
		}
	} else if strings.Contains(strings.ToLower(query), "password") {
		query = "xxxxx"
	}
	return rest + "?" + query
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' and '.'.
func isScheme(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// Name is the store's URL with any password redacted.
func (s *Store) Name() string { return s.name }

// Logger is the logger the Store reports to.
func (s *Store) Logger() *slog.Logger { return s.opts.logger }

// Close releases the backend's connections and files.
func (s *Store) Close() error { return s.be.Close() }

// do runs one backend operation with the retry policy and wraps its error.
func (s *Store) do(ctx context.Context, op, ns, key string, f func() error) error {
	return s.wrap(op, ns, key, s.retry(ctx, op, ns, f))
}

// retry runs f under the retry policy, logging each retry.
func (s *Store) retry(ctx context.Context, op, ns string, f func() error) error {
	return s.opts.retry.run(ctx, f, retryLogger(ctx, s.opts.logger, op, s.name, ns))
}

// retryLogger returns the function that logs each retry of op.
func retryLogger(ctx context.Context, l *slog.Logger, op, store, ns string) func(attempt int, err error) {
	return func(attempt int, err error) {
		l.LogAttrs(ctx, slog.LevelWarn, "stategen: retrying after a transient error",
			slog.String("op", op), slog.String("store", store), slog.String("namespace", ns),
			slog.Int("attempt", attempt), slog.String("error", err.Error()))
	}
}

func (s *Store) wrap(op, ns, key string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, store: s.name, ns: ns, key: key, err: err}
}

// Get returns one key's stored value. An absent key is ErrNotFound.
func (s *Store) Get(ctx context.Context, ns, key string) (Value, error) {
	if err := validateKey(ns, key); err != nil {
		return Value{}, s.wrap("get", ns, key, err)
	}
	var v Value
	err := s.do(ctx, "get", ns, key, func() (err error) {
		v, err = s.be.Get(ctx, ns, key)
		return err
	})
	return v, err
}

// Put stores one key and returns the namespace's new revision.
func (s *Store) Put(ctx context.Context, ns, key string, value json.RawMessage) (int64, error) {
	return s.apply(ctx, "put", ns, key, &Batch{Puts: []KV{{Key: key, Value: value}}})
}

// Delete removes keys (absent ones are no error) and returns the new revision.
func (s *Store) Delete(ctx context.Context, ns string, keys ...string) (int64, error) {
	return s.apply(ctx, "delete", ns, strings.Join(keys, ","), &Batch{Deletes: keys})
}

// Apply writes a batch atomically and returns the namespace's new revision.
// If a condition fails nothing is written and the error is ErrConflict.
func (s *Store) Apply(ctx context.Context, ns string, b *Batch) (int64, error) {
	return s.apply(ctx, "apply", ns, "", b)
}

func (s *Store) apply(ctx context.Context, op, ns, key string, b *Batch) (int64, error) {
	return s.applyBatch(ctx, op, ns, key, b, false)
}

// applyReserved is apply for the runtime's own writes, which may also put,
// delete and condition on reserved keys (IsReserved).
func (s *Store) applyReserved(ctx context.Context, op, ns, key string, b *Batch) (int64, error) {
	return s.applyBatch(ctx, op, ns, key, b, true)
}

func (s *Store) applyBatch(ctx context.Context, op, ns, key string, b *Batch, reserved bool) (int64, error) {
	if err := validateBatch(ns, b, reserved); err != nil {
		return 0, s.wrap(op, ns, key, err)
	}
	if err := s.writable(op, ns, key); err != nil {
		return 0, err
	}
	b = s.seal(ns, b)
	if b.Restore != "" {
		// A restore records which checkpoint the run came from (lineage),
		// whatever path it takes (fenced or not).
		ref, err := json.Marshal(CheckpointRef{Namespace: ns, Checkpoint: b.Restore})
		if err != nil {
			return 0, s.wrap(op, ns, key, err)
		}
		c := *b
		c.Puts = append(slices.Clip(b.Puts), KV{Key: keyRestored, Value: ref})
		b = &c
	}
	if !reserved {
		var err error
		if b, err = s.absentCond(ctx, ns, b); err != nil {
			return 0, s.wrap(op, ns, key, err)
		}
	}
	recordTTL := false
	if ttl := s.opts.keyTTL; ttl > 0 && !s.ttlKnown(ns) {
		// The run's first write through this Store records its TTL.
		c := *b
		c.Puts = append(append([]KV(nil), b.Puts...), ttlKV(ttl))
		b, recordTTL = &c, true
	}
	if (len(b.Conds) > 0 || b.IfSchema != nil) && b.ID == "" {
		c := *b // the caller's batch stays as it was
		c.ID = batchID()
		b = &c
	}
	var rev int64
	var maybe error // the first failure after which the batch may have landed
	err := s.retry(ctx, op, ns, func() (err error) {
		rev, err = s.be.Apply(ctx, ns, b)
		if maybe == nil && mayHaveApplied(err) {
			maybe = err
			if b.ID != "" {
				c := *b
				c.Retry = true
				b = &c
			}
		}
		return err
	})
	if err != nil && maybe != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrUnknownOutcome) {
		// The retries ran out, or the context ended, after an attempt
		// that may have landed. (A conflict after it is no such case: the
		// backend found the batch's ID not applied, or it would have said
		// ErrUnknownOutcome.)
		err = fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
	if s.cache != nil {
		// Also on error: a write that failed after reaching the backend may
		// have landed.
		s.cache.wrote(ns, rev, err)
	}
	if err != nil {
		return 0, s.wrap(op, ns, key, err)
	}
	if recordTTL {
		s.ttlRecorded.Store(ns, true)
	}
	return rev, nil
}

func (s *Store) ttlKnown(ns string) bool {
	_, ok := s.ttlRecorded.Load(ns)
	return ok
}

// absentCond returns b with its condition that the namespace not exist
// (Cond{Revision: 0}) made a condition on the namespace's revision when
// it holds only reserved keys: for the user, as for Snapshot, such a
// namespace does not exist, and the condition is that nobody writes its
// state meanwhile.
func (s *Store) absentCond(ctx context.Context, ns string, b *Batch) (*Batch, error) {
	i := slices.IndexFunc(b.Conds, func(c Cond) bool { return c.Key == "" && c.Revision == 0 })
	if i < 0 {
		return b, nil
	}
	var raw *Snapshot
	err := s.retry(ctx, "apply", ns, func() (err error) {
		raw, err = s.be.Snapshot(ctx, ns)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := userSnapshot(raw); err == nil {
		return b, nil // it exists: the condition fails as it should
	}
	c := *b
	c.Conds = slices.Clone(b.Conds)
	c.Conds[i].Revision = raw.Revision
	return &c, nil
}

// writable refuses a write to a Store opened ReadOnly, whatever its
// backend would do.
func (s *Store) writable(op, ns, key string) error {
	if s.opts.readOnly {
		return s.wrap(op, ns, key, ErrReadOnly)
	}
	return nil
}

// batchID is a random name for a batch, unique for all practical purposes.
func batchID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validate(ns string) error { return ValidateName("namespace", ns) }

func validateKey(ns, key string) error {
	if err := ValidateName("namespace", ns); err != nil {
		return err
	}
	return ValidateName("key", key)
}

func validateBatch(ns string, b *Batch, reserved bool) error {
	if err := ValidateName("namespace", ns); err != nil {
		return err
	}
	validKey := func(k string) error {
		if reserved {
			return ValidateStoredKey(k)
		}
		return ValidateName("key", k)
	}
	for _, kv := range b.Puts {
		if err := validKey(kv.Key); err != nil {
			return err
		}
		if !json.Valid(kv.Value) {
			return fmt.Errorf("%w: value of key %q is not valid JSON", ErrInvalidValue, kv.Key)
		}
	}
	for _, k := range b.Deletes {
		if err := validKey(k); err != nil {
			return err
		}
	}
	for _, c := range b.Conds {
		if c.Key == "" {
			continue
		}
		if err := validKey(c.Key); err != nil {
			return err
		}
	}
	if b.Schema != nil && b.Schema.Name != "" {
		return ValidateName("schema", b.Schema.Name)
	}
	return nil
}

// Snapshot returns a namespace's keys and values as of one revision: its
// state, without the runtime's reserved keys (Run describes those). A
// namespace never written, or holding only reserved keys, is ErrNotFound,
// and so is a run idle longer than its TTL (WithTTL).
func (s *Store) Snapshot(ctx context.Context, ns string) (*Snapshot, error) {
	snap, err := s.rawSnapshot(ctx, ns)
	if err != nil {
		return nil, err
	}
	return s.state(snap)
}

// state is the state of a raw snapshot: ErrNotFound for a run that expired
// or holds only reserved keys.
func (s *Store) state(snap *Snapshot) (*Snapshot, error) {
	expires := runExpiry(snap)
	if !expires.IsZero() && time.Now().After(expires) {
		r := snap.RunInfo()
		return nil, s.wrap("snapshot", snap.Namespace, "", fmt.Errorf("%w: the run expired (idle longer than its TTL %s, since %s)", ErrNotFound, r.TTL, r.Updated.Format(time.RFC3339)))
	}
	out, err := userSnapshot(snap)
	if err != nil {
		return nil, s.wrap("snapshot", snap.Namespace, "", err)
	}
	if out != snap {
		out.Expires = expires
	}
	return out, nil
}

// userSnapshot is snap without its reserved keys; ErrNotFound when nothing
// else is left.
func userSnapshot(snap *Snapshot) (*Snapshot, error) {
	values := withoutReserved(snap.Values)
	if len(values) == 0 && snap.Schema.IsZero() {
		return nil, ErrNotFound
	}
	if len(values) == len(snap.Values) {
		return snap, nil
	}
	c := *snap
	c.Values = values
	return &c, nil
}

// rawSnapshot is the backend's Snapshot, reserved keys included, whatever
// the run's TTL says.
func (s *Store) rawSnapshot(ctx context.Context, ns string) (*Snapshot, error) {
	if err := validate(ns); err != nil {
		return nil, s.wrap("snapshot", ns, "", err)
	}
	var snap *Snapshot
	err := s.do(ctx, "snapshot", ns, "", func() (err error) {
		snap, err = s.be.Snapshot(ctx, ns)
		return err
	})
	return snap, err
}

// Keys lists a namespace's keys, sorted.
func (s *Store) Keys(ctx context.Context, ns string) ([]string, error) {
	snap, err := s.Snapshot(ctx, ns)
	if err != nil {
		return nil, err
	}
	return snap.Keys(), nil
}

// Schema returns the schema a namespace's state was last written under.
func (s *Store) Schema(ctx context.Context, ns string) (SchemaRef, error) {
	snap, err := s.Snapshot(ctx, ns)
	if err != nil {
		return SchemaRef{}, err
	}
	return snap.Schema, nil
}

// Namespaces lists the store's namespaces, sorted.
func (s *Store) Namespaces(ctx context.Context) ([]string, error) {
	var names []string
	err := s.do(ctx, "namespaces", "", "", func() (err error) {
		names, err = s.be.Namespaces(ctx)
		return err
	})
	return names, err
}

// conflictRetry paces read-modify-write loops that lost a race: short sleeps,
// jittered so that competing writers spread out.
var conflictRetry = RetryPolicy{Initial: 500 * time.Microsecond, Max: 20 * time.Millisecond}

// maxStuck is how many times in a row a read-modify-write may find its
// condition failing on a namespace (or key) that reads the same revision
// each time before it reports the stored state inconsistent instead of
// trying again. A conflict means another writer changed what was read, and
// revisions only grow, so the next read sees a newer one; the same
// revision read again and again means the backend's reads and its
// conditions disagree, and retrying would spin until the context ends.
const maxStuck = 5

// retryConflicts runs attempt until it ends other than with ErrConflict,
// sleeping a short jittered while between attempts, until ctx ends. An
// attempt returns the revision it read and conditioned its write on, and
// reports an error as final (never retried, even if it wraps ErrConflict)
// when it comes from the caller's own function. A write whose outcome is
// unknown is never tried again: it may have landed.
func (s *Store) retryConflicts(ctx context.Context, op, ns, key string, attempt func() (read int64, final bool, err error)) error {
	stuck, last := 0, int64(-1)
	for n := 1; ; n++ {
		read, final, err := attempt()
		if err == nil || final || !errors.Is(err, ErrConflict) || errors.Is(err, ErrUnknownOutcome) {
			return err
		}
		if read != last {
			stuck, last = 0, read
		}
		if stuck++; stuck >= maxStuck {
			what := "the namespace"
			if key != "" {
				what = "key " + key
			}
			cause := err
			if oe := (*opError)(nil); errors.As(err, &oe) {
				cause = oe.err
			}
			return s.wrap(op, ns, key, fmt.Errorf("%w: %s reads the same at revision %d each time, yet the write conditioned on it failed %d times in a row (last: %v): the backend's reads and its conditions disagree",
				ErrCorrupt, what, read, stuck, cause))
		}
		if !sleep(ctx, conflictRetry.backoff(n)) {
			return err
		}
	}
}

// UpdateKey reads a key, calls fn with its value (found is false when absent)
// and writes fn's result on condition that nobody wrote the key meanwhile,
// starting over on conflict until it succeeds or ctx ends. It returns the
// stored value. fn never runs again after a write that may have landed (a
// lost reply): the Store retries that very write, which the backend applies
// at most once, and if it cannot tell whether it landed the error is
// ErrUnknownOutcome.
func (s *Store) UpdateKey(ctx context.Context, ns, key string, fn func(cur Value, found bool) (json.RawMessage, error)) (Value, error) {
	var out Value
	err := s.retryConflicts(ctx, "update", ns, key, func() (int64, bool, error) {
		cur, err := s.Get(ctx, ns, key)
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, false, err
		}
		next, err := fn(cur, found)
		if err != nil {
			return cur.Revision, true, err
		}
		rev, err := s.apply(ctx, "update", ns, key, &Batch{
			Puts:  []KV{{Key: key, Value: next}},
			Conds: []Cond{{Key: key, Revision: cur.Revision}},
		})
		out = Value{Data: next, Revision: rev}
		return cur.Revision, false, err
	})
	if err != nil {
		return Value{}, err
	}
	return out, nil
}

// UpdateNamespace reads a snapshot (nil when the namespace does not exist),
// asks fn for the batch to write, and applies it on condition that the
// namespace did not change meanwhile, starting over on conflict until it
// succeeds or ctx ends. It returns the new revision. As with UpdateKey, fn
// never runs again after a write that may have landed (ErrUnknownOutcome).
func (s *Store) UpdateNamespace(ctx context.Context, ns string, fn func(*Snapshot) (*Batch, error)) (int64, error) {
	var rev int64
	err := s.retryConflicts(ctx, "update", ns, "", func() (int64, bool, error) {
		// The condition is on the namespace as stored, reserved keys
		// and all; fn sees its state, nil when it holds none (or expired).
		raw, err := s.rawSnapshot(ctx, ns)
		var have int64
		var snap *Snapshot
		switch {
		case err == nil:
			have = raw.Revision
			if snap, err = s.state(raw); err != nil {
				snap = nil
			}
		case !errors.Is(err, ErrNotFound):
			return 0, false, err
		}
		b, err := fn(snap)
		if err != nil {
			return have, true, err
		}
		b.Conds = append(b.Conds, Cond{Revision: have})
		rev, err = s.apply(ctx, "update", ns, "", b)
		return have, false, err
	})
	return rev, err
}
