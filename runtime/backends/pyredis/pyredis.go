// Package pyredis reads the Redis layout of the Python StateManager that
// stategen replaces: one string per key, state:<namespace>:<key>, holding
// the value as JSON text (the program sets each to expire after a day), and
// one string per checkpoint, checkpoint:<namespace>:<name>, holding a JSON
// object of key to value. Importing the package registers the URL schemes
// pyredis and pyrediss (TLS): pyredis://[user:password@]host:port/db, with
// go-redis's options as query parameters; the Python program's own server
// is pyredis://localhost:6379/0.
//
// It is read-only, a source for `stategen migrate`: the Python program has
// no revisions (every key reads as revision 1), no schema and no locking,
// and its keys expire, so state should be moved off it rather than written
// to it. Writes are refused with runtime.ErrReadOnly. Listing uses SCAN,
// never KEYS. A namespace, key or checkpoint whose name stategen does not
// accept (see runtime.ValidateName) is an error naming it, so that a
// migration never leaves state behind without saying so. Checkpoints record
// no time: one named as the program names them, auto_YYYYMMDD_HHMMSS, is
// dated by its name, any other by the Unix epoch.
package pyredis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
)

func init() {
	runtime.Register("pyredis", open)
	runtime.Register("pyrediss", open)
}

// Backend reads one Redis database in the Python StateManager's layout.
type Backend struct {
	client *goredis.Client
}

func open(ctx context.Context, u *url.URL, _ runtime.Config) (runtime.Backend, error) {
	c := *u
	c.Scheme = strings.TrimPrefix(u.Scheme, "py") // redis or rediss
	if c.Host == "" {
		return nil, fmt.Errorf("pyredis: URL names no host (%s://host:port/db)", u.Scheme)
	}
	opts, err := goredis.ParseURL(c.String())
	if err != nil {
		// go-redis's errors quote the URL, password included: keep only
		// what is wrong.
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "://") {
			msg = msg[:i]
		}
		return nil, fmt.Errorf("pyredis: %s", strings.ReplaceAll(msg, c.String(), "URL"))
	}
	b := &Backend{client: goredis.NewClient(opts)}
	if err := b.client.Ping(ctx).Err(); err != nil {
		b.client.Close()
		return nil, runtime.Transient(fmt.Errorf("pyredis: cannot reach %s: %w", opts.Addr, err))
	}
	return b, nil
}

// Close releases the connections.
func (b *Backend) Close() error { return b.client.Close() }

var errReadOnly = fmt.Errorf("the Python StateManager's Redis layout is read-only here, a source for stategen migrate: %w", runtime.ErrReadOnly)

func stateKey(ns, key string) string { return "state:" + ns + ":" + key }

// scan returns every key matching pattern (SCAN, never KEYS), sorted.
func (b *Backend) scan(ctx context.Context, pattern string) ([]string, error) {
	var out []string
	iter := b.client.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, runtime.Transient(err)
	}
	sort.Strings(out)
	return out, nil
}

// names returns, for each key matching prefix+"*", what follows prefix,
// refusing names stategen does not accept.
func (b *Backend) names(ctx context.Context, prefix, kind string) ([]string, error) {
	keys, err := b.scan(ctx, escape(prefix)+"*")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		name := strings.TrimPrefix(k, prefix)
		if err := runtime.ValidateName(kind, name); err != nil {
			return nil, fmt.Errorf("key %q in Redis: %w (rename it there first)", k, err)
		}
		out = append(out, name)
	}
	return out, nil
}

// escape quotes the glob characters of a SCAN pattern. Names stategen
// accepts have none, but a namespace read from a key may not be one.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func value(where string, data string) (runtime.Value, error) {
	if !json.Valid([]byte(data)) {
		return runtime.Value{}, runtime.Corrupt(where, errors.New("stored value is not valid JSON"))
	}
	return runtime.Value{Data: json.RawMessage(data), Revision: 1}, nil
}

// Get reads one key.
func (b *Backend) Get(ctx context.Context, ns, key string) (runtime.Value, error) {
	data, err := b.client.Get(ctx, stateKey(ns, key)).Result()
	if errors.Is(err, goredis.Nil) {
		return runtime.Value{}, fmt.Errorf("key %q of namespace %q: %w", key, ns, runtime.ErrNotFound)
	}
	if err != nil {
		return runtime.Value{}, runtime.Transient(err)
	}
	return value(stateKey(ns, key), data)
}

// Snapshot reads a namespace's keys: a SCAN, then MGET in batches. Keys
// that expire in between are left out.
func (b *Backend) Snapshot(ctx context.Context, ns string) (*runtime.Snapshot, error) {
	keys, err := b.names(ctx, "state:"+ns+":", "key")
	if err != nil {
		return nil, err
	}
	snap := &runtime.Snapshot{Namespace: ns, Revision: 1, Values: make(map[string]runtime.Value, len(keys))}
	for start := 0; start < len(keys); start += 500 {
		chunk := keys[start:min(start+500, len(keys))]
		full := make([]string, len(chunk))
		for i, k := range chunk {
			full[i] = stateKey(ns, k)
		}
		vals, err := b.client.MGet(ctx, full...).Result()
		if err != nil {
			return nil, runtime.Transient(err)
		}
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue // expired since the SCAN
			}
			if snap.Values[chunk[i]], err = value(full[i], s); err != nil {
				return nil, err
			}
		}
	}
	if len(snap.Values) == 0 {
		return nil, fmt.Errorf("namespace %q: %w", ns, runtime.ErrNotFound)
	}
	return snap, nil
}

// Namespaces lists the namespaces that hold a key or a checkpoint.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	for _, prefix := range []string{"state:", "checkpoint:"} {
		keys, err := b.scan(ctx, prefix+"*")
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			ns, _, ok := strings.Cut(strings.TrimPrefix(k, prefix), ":")
			if !ok {
				continue // not the program's: it always writes prefix:ns:name
			}
			if err := runtime.ValidateName("namespace", ns); err != nil {
				return nil, fmt.Errorf("key %q in Redis: %w (rename it there first)", k, err)
			}
			seen[ns] = true
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out, nil
}

// created dates a checkpoint by the name the program gives those it names.
func created(name string) time.Time {
	if t, err := time.Parse("auto_20060102_150405", name); err == nil {
		return t
	}
	return time.Unix(0, 0).UTC()
}

// GetCheckpoint reads one checkpoint.
func (b *Backend) GetCheckpoint(ctx context.Context, ns, name string) (*runtime.Checkpoint, error) {
	key := "checkpoint:" + ns + ":" + name
	data, err := b.client.Get(ctx, key).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("checkpoint %q of namespace %q: %w", name, ns, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, runtime.Transient(err)
	}
	var vals map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &vals); err != nil {
		return nil, runtime.Corrupt(key, err)
	}
	cp := &runtime.Checkpoint{
		CheckpointInfo: runtime.CheckpointInfo{Name: name, Created: created(name), Revision: 1, Keys: len(vals)},
		Values:         make(map[string]runtime.Value, len(vals)),
	}
	for k, v := range vals {
		if err := runtime.ValidateName("key", k); err != nil {
			return nil, fmt.Errorf("checkpoint %q: %w", key, err)
		}
		cp.Values[k] = runtime.Value{Data: v, Revision: 1}
	}
	return cp, nil
}

// Checkpoints lists a namespace's checkpoints; one that cannot be read is
// listed with its error.
func (b *Backend) Checkpoints(ctx context.Context, ns string) ([]runtime.CheckpointInfo, error) {
	names, err := b.names(ctx, "checkpoint:"+ns+":", "checkpoint")
	if err != nil {
		return nil, err
	}
	out := make([]runtime.CheckpointInfo, 0, len(names))
	for _, name := range names {
		cp, err := b.GetCheckpoint(ctx, ns, name)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			continue // gone since the SCAN
		case errors.Is(err, runtime.ErrCorrupt):
			out = append(out, runtime.CheckpointInfo{Name: name, Err: err})
		case err != nil:
			return nil, err
		default:
			out = append(out, cp.CheckpointInfo)
		}
	}
	return out, nil
}

// Apply is refused: the layout is read-only.
func (b *Backend) Apply(context.Context, string, *runtime.Batch) (int64, error) {
	return 0, errReadOnly
}

// PutCheckpoint is refused: the layout is read-only.
func (b *Backend) PutCheckpoint(context.Context, string, *runtime.Checkpoint) error {
	return errReadOnly
}

// DeleteCheckpoint is refused: the layout is read-only.
func (b *Backend) DeleteCheckpoint(context.Context, string, string) error { return errReadOnly }
