// Package pysqlite reads the SQLite layout of the Python StateManager that
// stategen replaces (the state_manager.py ADW scripts copy): one database
// per namespace, DIR/<namespace>/state.db, with a table state (key, value as
// JSON text, timestamp) and a table checkpoints (name, state as the JSON
// of a list of [key, value, timestamp] rows, created_at). Importing the
// package registers the URL scheme pysqlite: pysqlite:DIR, where the
// Python program's own directory is pysqlite:.claude/state.
//
// It is read-only, a source for `stategen migrate`: the Python program has
// no revisions (every key reads as revision 1), no schema and no locking,
// and writing its layout would only carry those defects along. Writes are
// refused with runtime.ErrReadOnly, and nothing is ever created: a
// directory that does not exist is runtime.ErrNotFound ("no store at
// DIR"). DIR is taken as written, '%' included.
package pysqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/sqlite" // the driver, and its file names
)

func init() { runtime.Register("pysqlite", open) }

// Backend reads one directory of Python state databases.
type Backend struct {
	dir string

	mu  sync.Mutex
	dbs map[string]*sql.DB // by namespace, opened read-only on first use
}

func open(_ context.Context, u *url.URL, cfg runtime.Config) (runtime.Backend, error) {
	dir := sqlite.URLPath(u)
	if dir == "" {
		return nil, errors.New("pysqlite: URL has no directory (pysqlite:DIR, e.g. pysqlite:.claude/state)")
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pysqlite: no store at %s: %w", dir, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pysqlite: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("pysqlite: %s is not a directory", dir)
	}
	return &Backend{dir: dir, dbs: map[string]*sql.DB{}}, nil
}

var errReadOnly = fmt.Errorf("pysqlite: the Python SQLite layout is only a source for stategen migrate: %w", runtime.ErrReadOnly)

// db opens a namespace's database read-only; a missing one is ErrNotFound.
func (b *Backend) db(ns string) (*sql.DB, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if db, ok := b.dbs[ns]; ok {
		return db, nil
	}
	path := filepath.Join(b.dir, ns, "state.db")
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, runtime.ErrNotFound
		}
		return nil, err
	}
	db, err := sql.Open("sqlite", sqlite.FileURI(path)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	b.dbs[ns] = db
	return db, nil
}

// pyTime reads Python's datetime.isoformat() (no zone: UTC, as utcnow wrote it).
func pyTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func value(where, data, ts string) (runtime.Value, error) {
	if !json.Valid([]byte(data)) {
		return runtime.Value{}, runtime.Corrupt(where, errors.New("stored value is not valid JSON"))
	}
	return runtime.Value{Data: json.RawMessage(data), Revision: 1, Updated: pyTime(ts)}, nil
}

// Get reads one key.
func (b *Backend) Get(ctx context.Context, ns, key string) (runtime.Value, error) {
	db, err := b.db(ns)
	if err != nil {
		return runtime.Value{}, err
	}
	var data, ts sql.NullString
	err = db.QueryRowContext(ctx, `SELECT value, timestamp FROM state WHERE key = ?`, key).Scan(&data, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return runtime.Value{}, runtime.ErrNotFound
	}
	if err != nil {
		return runtime.Value{}, err
	}
	return value("key "+key, data.String, ts.String)
}

// Snapshot reads a namespace's state table.
func (b *Backend) Snapshot(ctx context.Context, ns string) (*runtime.Snapshot, error) {
	db, err := b.db(ns)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT key, value, timestamp FROM state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	snap := &runtime.Snapshot{Namespace: ns, Revision: 1, Values: map[string]runtime.Value{}}
	for rows.Next() {
		var key string
		var data, ts sql.NullString
		if err := rows.Scan(&key, &data, &ts); err != nil {
			return nil, err
		}
		if runtime.ValidateName("key", key) != nil {
			continue // a key stategen cannot name is left behind
		}
		if snap.Values[key], err = value("key "+key, data.String, ts.String); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(snap.Values) == 0 {
		return nil, runtime.ErrNotFound
	}
	return snap, nil
}

// Namespaces lists the directories holding a state.db.
func (b *Backend) Namespaces(context.Context) ([]string, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || runtime.ValidateName("namespace", e.Name()) != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(b.dir, e.Name(), "state.db")); err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// GetCheckpoint reads one checkpoint row.
func (b *Backend) GetCheckpoint(ctx context.Context, ns, name string) (*runtime.Checkpoint, error) {
	db, err := b.db(ns)
	if err != nil {
		return nil, err
	}
	var state, created sql.NullString
	err = db.QueryRowContext(ctx, `SELECT state, created_at FROM checkpoints WHERE name = ?`, name).Scan(&state, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, runtime.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeCheckpoint(name, state.String, created.String)
}

// decodeCheckpoint reads the JSON list of [key, value, timestamp] rows the
// Python program stores as a checkpoint.
func decodeCheckpoint(name, state, created string) (*runtime.Checkpoint, error) {
	var rows [][3]*string
	if err := json.Unmarshal([]byte(state), &rows); err != nil {
		return nil, runtime.Corrupt("checkpoint "+name, err)
	}
	cp := &runtime.Checkpoint{CheckpointInfo: runtime.CheckpointInfo{Name: name, Created: pyTime(created), Revision: 1}, Values: map[string]runtime.Value{}}
	for _, r := range rows {
		if r[0] == nil || r[1] == nil || runtime.ValidateName("key", *r[0]) != nil {
			continue
		}
		ts := ""
		if r[2] != nil {
			ts = *r[2]
		}
		v, err := value("checkpoint "+name+" key "+*r[0], *r[1], ts)
		if err != nil {
			return nil, err
		}
		cp.Values[*r[0]] = v
	}
	cp.Keys = len(cp.Values)
	return cp, nil
}

// Checkpoints lists a namespace's checkpoints whose names stategen accepts.
func (b *Backend) Checkpoints(ctx context.Context, ns string) ([]runtime.CheckpointInfo, error) {
	db, err := b.db(ns)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT name, state, created_at FROM checkpoints`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.CheckpointInfo
	for rows.Next() {
		var name string
		var state, created sql.NullString
		if err := rows.Scan(&name, &state, &created); err != nil {
			return nil, err
		}
		if runtime.ValidateName("checkpoint", name) != nil {
			continue
		}
		cp, err := decodeCheckpoint(name, state.String, created.String)
		switch {
		case errors.Is(err, runtime.ErrCorrupt):
			out = append(out, runtime.CheckpointInfo{Name: name, Err: err})
		case err != nil:
			return nil, err
		default:
			out = append(out, cp.CheckpointInfo)
		}
	}
	return out, rows.Err()
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

// Close closes the databases opened.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, db := range b.dbs {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}
