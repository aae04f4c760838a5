// Package sqlite is stategen's embedded default backend: every namespace in
// one SQLite database file, through modernc.org/sqlite (pure Go, no cgo).
//
// URL: sqlite:PATH (relative) or sqlite:///ABS/PATH, with optional query
// parameters synchronous=full|normal (default full: durable across power
// loss; normal is durable across a crash of the process) and busy_timeout
// (a Go duration, default 5s). PATH names the file exactly as written: no
// character in it, '%' included, is decoded or special. The file is
// created 0600 and its directory 0700. The database runs in WAL mode;
// writes take the write lock at the start of their transaction (BEGIN
// IMMEDIATE) so that two writers never deadlock upgrading a read lock.
// Concurrent writes through one Backend share commits, and so fsyncs:
// each batch keeps its own conditions and atomicity, and its caller
// returns once the commit that holds it is durable (group.go says how).
//
// Opened read-only (runtime.ReadOnly), the backend creates nothing: a
// missing file, or one without stategen's tables, is runtime.ErrNotFound
// ("no store at PATH"), and every write is runtime.ErrReadOnly. It opens
// the database with SQLite's mode=ro, and where even that cannot work
// because the directory is not writable (a read-only file system: a WAL
// database needs its -shm file) with immutable=1, which reads the file as
// it is, without locks; a -wal file left by a writer that did not close
// cleanly is then not seen.
//
// Tables: entries (one row per key, the JSON value as text), schemas (a
// namespace's schema: name, version and, as the JSON {"keys": [...],
// "secret": [...]}, its info), checkpoints (with schema_name,
// schema_version and schema_info, which also holds the checkpoint's
// labels and lineage, runtime.CheckpointMeta) and checkpoint_entries. A
// run's labels are entries rows of reserved keys __label.K, which the
// partial index entries_labels (key, value, ns) holds, so that listing the
// runs of a label reads a range of it. Drop deletes a namespace's rows
// from every table in one transaction. The info columns
// were added after the first layout; opening a database read-write adds
// them, read-only reads an older database without them.
//
// The database header's user_version records the layout's version
// (LayoutVersion; 0 in files written before it was recorded). Opening a
// database of a later version, written by a newer stategen whose layout
// this one could misread or damage, fails and changes nothing, read-only
// too; opening one of an earlier version for writing upgrades it.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/schemainfo"
)

func init() { runtime.Register("sqlite", open) }

// entries holds every key ever written to a namespace. A deleted key stays
// as a tombstone (value NULL) so that the namespace revision, the largest
// revision among its rows, never goes down; the row with the empty key (no
// user key is empty) records writes that changed no key. That makes a
// one-key write a single statement.
const schemaSQL = `
CREATE TABLE IF NOT EXISTS entries (
	ns       TEXT NOT NULL,
	key      TEXT NOT NULL,
	value    TEXT,
	revision INTEGER NOT NULL,
	updated  INTEGER NOT NULL,
	PRIMARY KEY (ns, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS schemas (
	ns      TEXT PRIMARY KEY,
	name    TEXT NOT NULL,
	version INTEGER NOT NULL,
	info    TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
	ns             TEXT NOT NULL,
	name           TEXT NOT NULL,
	created        INTEGER NOT NULL,
	revision       INTEGER NOT NULL,
	schema_name    TEXT NOT NULL,
	schema_version INTEGER NOT NULL,
	keys           INTEGER NOT NULL,
	schema_info    TEXT,
	PRIMARY KEY (ns, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoint_entries (
	ns       TEXT NOT NULL,
	name     TEXT NOT NULL,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	revision INTEGER NOT NULL,
	updated  INTEGER NOT NULL,
	PRIMARY KEY (ns, name, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_labels ON entries (key, value, ns) WHERE ` + labelRows + `;
`

// labelRows selects the rows of runs' labels (runtime.LabelKey), which the
// partial index entries_labels holds: a query must name this very term
// for SQLite to use it.
const labelRows = `key LIKE '\_\_label.%' ESCAPE '\'`

// The statements of the hot paths, prepared once per pool. nextRev is the
// namespace's next revision, computed inside the writing statement.
const (
	nextRev = `(SELECT COALESCE(MAX(revision), 0) + 1 FROM entries WHERE ns = ?1)`

	// runExpired is the condition that run ?1 has expired at time ?3
	// (nanoseconds), as runtime.RunInfo.Expired says: its reserved key
	// __ttl holds a TTL (nanoseconds; anything that is not a positive
	// number is none) and its last write, the newest of its live keys', is
	// older than ?3 minus that TTL. It reads one key by the primary key,
	// and the run's keys only when it has a TTL.
	runExpired = `EXISTS (SELECT 1 FROM entries AS t WHERE t.ns = ?1 AND t.key = '__ttl' AND t.value IS NOT NULL
		AND CAST(t.value AS INTEGER) > 0
		AND ?3 - (SELECT MAX(updated) FROM entries WHERE ns = ?1 AND key != '' AND value IS NOT NULL) > CAST(t.value AS INTEGER))`

	// sqlGet reads one key, absent when its run has expired at ?3.
	sqlGet = `SELECT value, revision, updated FROM entries WHERE ns = ?1 AND key = ?2 AND value IS NOT NULL AND NOT ` + runExpired
	// sqlPut stores one key unconditionally.
	sqlPut = `INSERT INTO entries (ns, key, value, revision, updated) VALUES (?1, ?2, ?3, ` + nextRev + `, ?4)
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated
		RETURNING revision`
	// sqlCreate stores one key only if it is absent (or a tombstone).
	sqlCreate = `INSERT INTO entries (ns, key, value, revision, updated) VALUES (?1, ?2, ?3, ` + nextRev + `, ?4)
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated
		WHERE entries.value IS NULL
		RETURNING revision`
	// sqlSwap stores one key only if it has revision ?5.
	sqlSwap = `UPDATE entries SET value = ?3, revision = ` + nextRev + `, updated = ?4
		WHERE ns = ?1 AND key = ?2 AND revision = ?5 AND value IS NOT NULL
		RETURNING revision`
	sqlNSRev     = `SELECT COALESCE(MAX(revision), 0) FROM entries WHERE ns = ?`
	sqlKeyRev    = `SELECT revision FROM entries WHERE ns = ? AND key = ? AND value IS NOT NULL`
	sqlDeleteKey = `UPDATE entries SET value = NULL, revision = ?3, updated = ?4 WHERE ns = ?1 AND key = ?2 AND value IS NOT NULL`

	// sqlGetSchema is sqlGet with the namespace's schema: always one row,
	// whose value is NULL when the key is absent (or its run expired).
	sqlGetSchema = `SELECT e.value, e.revision, e.updated, s.name, s.version
		FROM (SELECT ?1 AS ns, ?2 AS key) AS q
		LEFT JOIN entries AS e ON e.ns = q.ns AND e.key = q.key AND e.value IS NOT NULL AND NOT ` + runExpired + `
		LEFT JOIN schemas AS s ON s.ns = q.ns AND (s.name != '' OR s.version != 0)`

	// The one-key writes of generated code, which record the schema and
	// are conditioned on it, in one statement when the namespace already
	// records exactly that schema (?5 name, ?6 version, ?7 info); they
	// return no row otherwise, and the write takes the general path.
	schemaHeld = `EXISTS (SELECT 1 FROM schemas WHERE ns = ?1 AND name = ?5 AND version = ?6 AND info IS ?7)`
	sqlPutHeld = `INSERT INTO entries (ns, key, value, revision, updated) SELECT ?1, ?2, ?3, ` + nextRev + `, ?4 WHERE ` + schemaHeld + `
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated
		RETURNING revision`
	sqlCreateHeld = `INSERT INTO entries (ns, key, value, revision, updated) SELECT ?1, ?2, ?3, ` + nextRev + `, ?4 WHERE ` + schemaHeld + `
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated
		WHERE entries.value IS NULL
		RETURNING revision`
	sqlSwapHeld = `UPDATE entries SET value = ?3, revision = ` + nextRev + `, updated = ?4
		WHERE ns = ?1 AND key = ?2 AND revision = ?8 AND value IS NOT NULL AND ` + schemaHeld + `
		RETURNING revision`

	// The same, fenced: also on condition that another key (a run's
	// lease, ?9) has revision ?10 (?8 is the swap's own condition, and a
	// placeholder in the others).
	fenceHeld        = ` AND EXISTS (SELECT 1 FROM entries WHERE ns = ?1 AND key = ?9 AND revision = ?10 AND value IS NOT NULL) AND ?8 IS NOT NULL`
	sqlPutHeldFenced = `INSERT INTO entries (ns, key, value, revision, updated) SELECT ?1, ?2, ?3, ` + nextRev + `, ?4 WHERE ` + schemaHeld + fenceHeld + `
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated
		RETURNING revision`
	sqlCreateHeldFenced = `INSERT INTO entries (ns, key, value, revision, updated) SELECT ?1, ?2, ?3, ` + nextRev + `, ?4 WHERE ` + schemaHeld + fenceHeld + `
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated
		WHERE entries.value IS NULL
		RETURNING revision`
	sqlSwapHeldFenced = `UPDATE entries SET value = ?3, revision = ` + nextRev + `, updated = ?4
		WHERE ns = ?1 AND key = ?2 AND revision = ?8 AND value IS NOT NULL AND ` + schemaHeld + fenceHeld + `
		RETURNING revision`

	// hasSchema is the condition on a schemas row that it records one:
	// versions before this one stored a row of empty name and version 0
	// for state without a schema.
	hasSchema = `(name != '' OR version != 0)`
	// liveUserKey is the condition on an entries row that it holds a value
	// of a key of the user's: not the marker, not a tombstone, not
	// reserved (runtime.IsReserved).
	liveUserKey = `key != '' AND value IS NOT NULL AND key NOT LIKE '\_\_%' ESCAPE '\'`
)

// Backend is the SQLite backend. Writes go through a pool of one connection,
// so a process's writers queue in Go rather than spin on the file lock;
// reads use their own pool, which WAL lets run beside a writer.
type Backend struct {
	path     string
	readOnly bool
	// info says the database has the schema info columns; one opened
	// read-only may predate them.
	info  bool
	write *sql.DB // nil when read-only
	read  *sql.DB

	commits committer
	upserts stmtCache                                          // upsertMany's, by row count
	cp      struct{ head, row, clear, copy, damage *sql.Stmt } // CopyCheckpoint's

	get, getSchema, snapshot, put, create, swap, putHeldStmt, createHeld, swapHeld, nsRev, keyRev, deleteKey, revSchema, setSchema *sql.Stmt
	// putHeld, createHeld and swapHeld fenced by a condition on another key.
	putHeldFenced, createHeldFenced, swapHeldFenced *sql.Stmt

	stampMu   sync.Mutex
	stampConn *sql.Conn // used only for PRAGMA data_version, so it sees every commit as foreign
	// shm is the WAL index (the -shm file), whose header Stamp reads; nil
	// where there is none (a database opened immutable).
	shm *os.File
}

func open(ctx context.Context, u *url.URL, cfg runtime.Config) (runtime.Backend, error) {
	if u.Host != "" {
		return nil, fmt.Errorf("sqlite: URL names a host %q: use sqlite:relative/path or sqlite:///absolute/path", u.Host)
	}
	path := URLPath(u)
	if path == "" {
		return nil, errors.New("sqlite: URL has no file path (sqlite:PATH)")
	}
	q := u.Query()
	syncMode := "FULL"
	busy := 5 * time.Second
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "synchronous":
			switch strings.ToUpper(v) {
			case "FULL", "NORMAL":
				syncMode = strings.ToUpper(v)
			default:
				return nil, fmt.Errorf("sqlite: synchronous=%q: want full or normal", v)
			}
		case "busy_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("sqlite: busy_timeout=%q: want a duration such as 5s", v)
			}
			busy = d
		default:
			return nil, fmt.Errorf("sqlite: unknown URL parameter %q (known: synchronous, busy_timeout)", k)
		}
	}
	return Open(ctx, path, Options{Synchronous: syncMode, BusyTimeout: busy, ReadOnly: cfg.ReadOnly})
}

// Options are the settings of Open.
type Options struct {
	// Synchronous is FULL (the default) or NORMAL.
	Synchronous string
	// BusyTimeout bounds the wait for another connection's lock.
	BusyTimeout time.Duration
	// ReadOnly creates and changes nothing (see the package doc).
	ReadOnly bool
}

// Open opens the database at path, creating it (0600, in a directory made
// 0700) unless o.ReadOnly.
func Open(ctx context.Context, path string, o Options) (*Backend, error) {
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	if o.ReadOnly {
		return openReadOnly(ctx, path, o.BusyTimeout)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Create the file ourselves so that it is 0600; SQLite gives its -wal
	// and -shm files the database file's permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	// The pragmas go in the DSN so that every pooled connection gets them.
	dsn := FileURI(path) + fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(%s)",
		o.BusyTimeout.Milliseconds(), o.Synchronous)
	b := &Backend{path: path, info: true}
	b.commits.b = b
	if b.write, err = sql.Open("sqlite", dsn+"&_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	b.write.SetMaxOpenConns(1)
	b.write.SetMaxIdleConns(1)
	b.write.SetConnMaxIdleTime(0)
	if b.read, err = sql.Open("sqlite", dsn); err != nil {
		b.write.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	b.read.SetMaxIdleConns(4)
	if err := b.init(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, classify(err))
	}
	return b, nil
}

// URLPath is the file a sqlite: (or pysqlite:) URL names, exactly as
// written in it: sqlite:PATH keeps PATH as it is, and sqlite:///ABS/PATH
// is not percent-decoded either, so that x%41.db names x%41.db.
func URLPath(u *url.URL) string {
	switch {
	case u.Opaque != "":
		return u.Opaque
	case u.RawPath != "":
		return u.RawPath // the path as written, where it differs from Path's escaping
	}
	return u.EscapedPath() // Path's escaping is what was written
}

// FileURI is path as the file: URI that SQLite opens: '%', '?' and '#',
// which the URI syntax would read as escapes, query or fragment, are
// escaped, so that SQLite opens exactly the file named. A DSN for the
// modernc.org/sqlite driver is FileURI(path) followed by its query.
func FileURI(path string) string {
	var b strings.Builder
	b.WriteString("file:")
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// openReadOnly opens an existing database for reading only.
func openReadOnly(ctx context.Context, path string, busyTimeout time.Duration) (*Backend, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("sqlite: no store at %s: %w", path, runtime.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("sqlite: %w", err)
	case fi.IsDir():
		return nil, fmt.Errorf("sqlite: %s is a directory, not a database file", path)
	}
	dsn := FileURI(path) + fmt.Sprintf("?mode=ro&_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())
	b, err := openRead(ctx, path, dsn)
	if err != nil && cannotOpen(err) {
		// A WAL database needs its -shm file, which a read-only directory
		// cannot hold: read the file as it is.
		b, err = openRead(ctx, path, FileURI(path)+"?immutable=1")
	}
	return b, err
}

func openRead(ctx context.Context, path, dsn string) (*Backend, error) {
	b := &Backend{path: path, readOnly: true}
	var err error
	if b.read, err = sql.Open("sqlite", dsn); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	b.read.SetMaxIdleConns(4)
	var tables int
	err = b.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('entries', 'schemas', 'checkpoints', 'checkpoint_entries')`).Scan(&tables)
	if err == nil && tables != 4 {
		err = fmt.Errorf("no store at %s (the file holds no stategen tables): %w", path, runtime.ErrNotFound)
	}
	if err == nil {
		_, err = checkLayout(ctx, b.read)
	}
	if err == nil {
		err = b.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('schemas') WHERE name = 'info'`).Scan(&tables)
		b.info = tables == 1
	}
	if err == nil {
		err = b.prepare(ctx)
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, classify(err))
	}
	return b, nil
}

// cannotOpen reports SQLITE_CANTOPEN and the read-only errors SQLite gives
// a reader that cannot create the -shm file of a WAL database.
func cannotOpen(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY:
		return true
	}
	return false
}

// LayoutVersion is the version of the table layout this package writes:
// 1 was the first, 2 added the info columns.
const LayoutVersion = 2

// checkLayout reads the layout version db records, refusing a later one
// than this package knows.
func checkLayout(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return 0, err
	}
	if v > LayoutVersion {
		return v, fmt.Errorf("the database has layout version %d, written by a newer stategen; this one knows up to version %d", v, LayoutVersion)
	}
	return v, nil
}

func (b *Backend) init(ctx context.Context) error {
	v, err := checkLayout(ctx, b.write)
	if err != nil {
		return err
	}
	if _, err := b.write.ExecContext(ctx, schemaSQL); err != nil {
		return err
	}
	// Databases of the first layout lack the info columns.
	for table, column := range map[string]string{"schemas": "info", "checkpoints": "schema_info"} {
		var n int
		if err := b.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := b.write.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN "+column+" TEXT"); err != nil {
				return err
			}
		}
	}
	if v < LayoutVersion {
		if _, err := b.write.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, LayoutVersion)); err != nil {
			return err
		}
	}
	return b.prepare(ctx)
}

// prepare prepares the statements of the hot paths: the reads always, the
// writes unless read-only.
func (b *Backend) prepare(ctx context.Context) error {
	var err error
	prep := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = db.PrepareContext(ctx, q)
		return s
	}
	b.get = prep(b.read, sqlGet)
	b.getSchema = prep(b.read, sqlGetSchema)
	b.snapshot = prep(b.read, sqlSnapshot(b.infoColumn("info")))
	if !b.readOnly {
		b.put = prep(b.write, sqlPut)
		b.create = prep(b.write, sqlCreate)
		b.swap = prep(b.write, sqlSwap)
		b.putHeldStmt = prep(b.write, sqlPutHeld)
		b.createHeld = prep(b.write, sqlCreateHeld)
		b.swapHeld = prep(b.write, sqlSwapHeld)
		b.putHeldFenced = prep(b.write, sqlPutHeldFenced)
		b.createHeldFenced = prep(b.write, sqlCreateHeldFenced)
		b.swapHeldFenced = prep(b.write, sqlSwapHeldFenced)
		b.nsRev = prep(b.write, sqlNSRev)
		b.keyRev = prep(b.write, sqlKeyRev)
		b.deleteKey = prep(b.write, sqlDeleteKey)
		b.revSchema = prep(b.write, `SELECT (SELECT COALESCE(MAX(revision), 0) FROM entries WHERE ns = ?1), s.name, s.version, `+b.infoColumn("s.info")+`
			FROM (SELECT 1) LEFT JOIN schemas AS s ON s.ns = ?1`)
		b.cp.head = prep(b.write, sqlRunHead)
		b.cp.row = prep(b.write, sqlCheckpointRow)
		b.cp.clear = prep(b.write, sqlClearCheckpoint)
		b.cp.copy = prep(b.write, sqlCopyCheckpoint)
		b.cp.damage = prep(b.write, sqlCheckpointDamage)
		// Run only when the schema changes (see applyTx).
		b.setSchema = prep(b.write, `INSERT INTO schemas (ns, name, version, info) VALUES (?1, ?2, ?3, ?4)
			ON CONFLICT (ns) DO UPDATE SET name = excluded.name, version = excluded.version, info = excluded.info`)
	}
	if err != nil {
		return err
	}
	if b.stampConn, err = b.read.Conn(ctx); err != nil {
		return err
	}
	// The first read opens the WAL index; then its file can be read.
	var v int64
	if err := b.stampConn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return err
	}
	if f, err := os.Open(b.path + "-shm"); err == nil {
		b.shm = f
	}
	return nil
}

// Close closes both pools.
func (b *Backend) Close() error {
	if b.shm != nil {
		b.shm.Close()
	}
	if b.stampConn != nil {
		b.stampConn.Close()
	}
	var errs []error
	for _, db := range []*sql.DB{b.read, b.write} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// classify marks SQLITE_BUSY and SQLITE_LOCKED (another process holds the
// lock past the busy timeout) as transient, and as certain to have changed
// nothing: the statement or transaction that met them rolled back.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return runtime.NotApplied(err)
		}
	}
	return err
}

// checkJSON refuses a stored value of key that is not JSON, as damage. (It
// takes the key, not a message, so that the message is built only for a
// damaged value: loads check every value.)
func checkJSON(key string, data []byte) error {
	if !json.Valid(data) {
		return runtime.Corrupt("key "+key, errors.New("stored value is not valid JSON"))
	}
	return nil
}

// Get reads one key.
func (b *Backend) Get(ctx context.Context, ns, key string) (runtime.Value, error) {
	var v runtime.Value
	var data []byte
	var updated int64
	err := b.get.QueryRowContext(ctx, ns, key, time.Now().UnixNano()).Scan(&data, &v.Revision, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return v, runtime.ErrNotFound
	}
	if err != nil {
		return v, classify(err)
	}
	if err := checkJSON(key, data); err != nil {
		return v, err
	}
	v.Data, v.Updated = data, time.Unix(0, updated)
	return v, nil
}

// GetWithSchema reads one key and the namespace's schema name and version
// in one statement.
func (b *Backend) GetWithSchema(ctx context.Context, ns, key string) (runtime.Value, runtime.SchemaRef, error) {
	var v runtime.Value
	var ref runtime.SchemaRef
	var data []byte
	var rev, updated, version sql.NullInt64
	var name sql.NullString
	if err := b.getSchema.QueryRowContext(ctx, ns, key, time.Now().UnixNano()).Scan(&data, &rev, &updated, &name, &version); err != nil {
		return v, ref, classify(err)
	}
	ref.Name, ref.Version = name.String, int(version.Int64)
	if data == nil {
		return v, ref, runtime.ErrNotFound
	}
	if err := checkJSON(key, data); err != nil {
		return v, ref, err
	}
	v.Data, v.Revision, v.Updated = data, rev.Int64, time.Unix(0, updated.Int64)
	return v, ref, nil
}

// encodeInfo is ref's info column (package schemainfo), nil (NULL) when
// it has none.
func encodeInfo(ref runtime.SchemaRef) (any, error) {
	return nullable(schemainfo.Encode(ref))
}

// encodeCheckpointInfo is a checkpoint's schema_info column: its schema's
// info and its meta, nil (NULL) when it has neither.
func encodeCheckpointInfo(info runtime.CheckpointInfo) (any, error) {
	return nullable(schemainfo.EncodeCheckpoint(info.Schema, info.CheckpointMeta))
}

// nullable is a column schemainfo encoded, as the value to bind: nil
// (NULL) when there is none.
func nullable(col string, ok bool, err error) (any, error) {
	if err != nil || !ok {
		return nil, err
	}
	return col, nil
}

// decodeInfo fills ref's keys from an info column.
func decodeInfo(where string, ref *runtime.SchemaRef, info sql.NullString) error {
	_, err := decodeMeta(where, ref, info)
	return err
}

// decodeMeta is decodeInfo that also returns a checkpoint's meta.
func decodeMeta(where string, ref *runtime.SchemaRef, info sql.NullString) (runtime.CheckpointMeta, error) {
	if !info.Valid {
		return runtime.CheckpointMeta{}, nil
	}
	return schemainfo.Decode(where, info.String, ref)
}

// infoColumn selects column, or NULL from a database that predates it.
func (b *Backend) infoColumn(column string) string {
	if b.info {
		return column
	}
	return "NULL"
}

// Stamp returns the header of the database's WAL index, which every
// commit, by any connection of any process, changes before it releases the
// write lock: the change counter, the last valid frame, the WAL's salts
// (new after each reset) and the header's checksum. It is one pread of the
// -shm file where SQLite keeps it, without a lock: SQLite keeps two copies
// of the header and writes them in turn, so a read that caught a write
// half-done sees them differ and asks SQLite instead (PRAGMA data_version,
// which takes a read lock and costs ten times as much), as it does where
// there is no -shm file.
func (b *Backend) Stamp(ctx context.Context, ns string) (runtime.Stamp, error) {
	if b.shm != nil {
		var hdr [2 * walHeaderSize]byte
		if n, err := b.shm.ReadAt(hdr[:], 0); n == len(hdr) && err == nil &&
			hdr[12] != 0 && string(hdr[:walHeaderSize]) == string(hdr[walHeaderSize:]) {
			u := func(off int) int64 { return int64(binary.NativeEndian.Uint32(hdr[off:])) }
			return runtime.Stamp{u(8) | u(16)<<32, u(32) | u(36)<<32, u(40) | u(44)<<32, u(20)}, nil
		}
	}
	b.stampMu.Lock()
	defer b.stampMu.Unlock()
	var v int64
	if err := b.stampConn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return runtime.Stamp{}, classify(err)
	}
	// Negative: never equal to a header's stamp.
	return runtime.Stamp{-1 - v}, nil
}

// walHeaderSize is the size of the WAL index header (WalIndexHdr in
// SQLite's wal.c): iVersion, unused, iChange at 8, isInit at 12,
// bigEndCksum, szPage, mxFrame at 16, nPage at 20, aFrameCksum at 24,
// aSalt at 32, aCksum at 40, in the machine's byte order.
const walHeaderSize = 48

func readValues(ctx context.Context, tx *sql.Tx, query string, args ...any) (map[string]runtime.Value, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	values := map[string]runtime.Value{}
	for rows.Next() {
		var key string
		var data []byte
		var v runtime.Value
		var updated int64
		if err := rows.Scan(&key, &data, &v.Revision, &updated); err != nil {
			// The row was read: only a value of the wrong type fails here.
			return nil, runtime.Corrupt("key "+key, err)
		}
		if err := checkJSON(key, data); err != nil {
			return nil, err
		}
		v.Data, v.Updated = data, time.Unix(0, updated)
		values[key] = v
	}
	return values, classify(rows.Err())
}

// Apply writes a batch. Concurrent Applies share commits (see group.go).
func (b *Backend) Apply(ctx context.Context, ns string, batch *runtime.Batch) (int64, error) {
	if b.readOnly {
		return 0, fmt.Errorf("sqlite: %s: %w", b.path, runtime.ErrReadOnly)
	}
	return b.commits.apply(ctx, ns, batch)
}

// applyOneStatement writes a batch of one key, with at most a condition on
// that key, the common case, in a single statement, which SQLite runs as
// its own transaction. ok is false, with nothing written and no error, for
// a batch that needs a transaction (applyInTx).
func (b *Backend) applyOneStatement(ctx context.Context, ns string, batch *runtime.Batch) (rev int64, ok bool, err error) {
	keyConds, fence, oneKey := oneKeyWrite(batch)
	switch {
	case oneKey && fence == nil && batch.Schema == nil && batch.IfSchema == nil:
		rev, err = b.putOne(ctx, ns, batch.Puts[0], keyConds)
		return rev, true, err
	case oneKey && batch.Schema != nil && batch.IfSchema != nil && batch.Schema.SameVersion(*batch.IfSchema):
		// A generated one-key write, fenced by a lease or not: one
		// statement when the namespace records this very schema already
		// and the conditions hold, a transaction otherwise.
		rev, ok, err = b.putHeld(ctx, ns, batch.Puts[0], keyConds, fence, *batch.Schema)
		return rev, ok || err != nil, err
	}
	return 0, false, nil
}

// applyInTx writes one batch in an immediate transaction of its own.
func (b *Backend) applyInTx(ctx context.Context, ns string, batch *runtime.Batch) (int64, error) {
	b.upserts.prepare(ctx, b.write, batch.Puts)
	tx, err := b.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, classify(err)
	}
	defer tx.Rollback()
	rev, _, err := b.applyTx(ctx, tx, ns, batch)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, classify(err)
	}
	return rev, nil
}

// applyTx writes a batch within tx. It checks the batch's conditions before
// it writes anything: when err is set, partial tells whether tx holds part
// of the batch (a write failed part way: the caller must roll back) or
// nothing of it (a condition or a read failed: tx can go on).
func (b *Backend) applyTx(ctx context.Context, tx *sql.Tx, ns string, batch *runtime.Batch) (rev int64, partial bool, err error) {
	for _, c := range batch.Conds {
		if err := checkCond(ctx, tx, b, ns, c); err != nil {
			return 0, false, err
		}
	}
	// One read for the revision and the schema the batch may be
	// conditioned on (or may record again).
	var name, info sql.NullString
	var version sql.NullInt64
	if err := tx.StmtContext(ctx, b.revSchema).QueryRowContext(ctx, ns).Scan(&rev, &name, &version, &info); err != nil {
		return 0, false, classify(err)
	}
	if want := batch.IfSchema; want != nil && name.Valid {
		if have := (runtime.SchemaRef{Name: name.String, Version: int(version.Int64)}); !have.SameVersion(*want) {
			return 0, false, fmt.Errorf("schema: %w: expected %s, found %s", runtime.ErrConflict, *want, have)
		}
	}
	// The schema to record, if the namespace does not record it already
	// (most writes record the one recorded: then nothing is written).
	var schemaCol any
	setSchema := false
	if s := batch.Schema; s != nil && !s.IsZero() {
		if schemaCol, err = encodeInfo(*s); err != nil {
			return 0, false, fmt.Errorf("sqlite: encode schema: %w", err)
		}
		colText, _ := schemaCol.(string)
		setSchema = !(name.Valid && name.String == s.Name && version.Int64 == int64(s.Version) &&
			info == sql.NullString{String: colText, Valid: schemaCol != nil})
	}
	rev++
	if err := b.writeTx(ctx, tx, ns, batch, rev, setSchema, schemaCol); err != nil {
		return 0, true, err
	}
	return rev, false, nil
}

// writeTx makes applyTx's writes, at revision rev.
func (b *Backend) writeTx(ctx context.Context, tx *sql.Tx, ns string, batch *runtime.Batch, rev int64, setSchema bool, schemaCol any) error {
	now := time.Now().UnixNano()
	if batch.Replace {
		if _, err := tx.ExecContext(ctx, `UPDATE entries SET value = NULL, revision = ?, updated = ? WHERE ns = ? AND `+liveUserKey, rev, now, ns); err != nil {
			return classify(err)
		}
	}
	if len(batch.Deletes) > 0 {
		del := tx.StmtContext(ctx, b.deleteKey)
		for _, k := range batch.Deletes {
			if _, err := del.ExecContext(ctx, ns, k, rev, now); err != nil {
				return classify(err)
			}
		}
	}
	if err := b.upsertMany(ctx, tx, ns, batch.Puts, rev, now); err != nil {
		return err
	}
	switch s := batch.Schema; {
	case s != nil && s.IsZero():
		if _, err := tx.ExecContext(ctx, `DELETE FROM schemas WHERE ns = ?`, ns); err != nil {
			return classify(err)
		}
	case setSchema:
		if _, err := tx.StmtContext(ctx, b.setSchema).ExecContext(ctx, ns, s.Name, s.Version, schemaCol); err != nil {
			return classify(err)
		}
	}
	return nil
}

// oneKeyWrite tells whether batch writes one key with at most a condition
// on that key (keyConds) and one on another key that must exist (fence, a
// lease's), which one statement can do.
func oneKeyWrite(batch *runtime.Batch) (keyConds []runtime.Cond, fence *runtime.Cond, ok bool) {
	if len(batch.Puts) != 1 || len(batch.Deletes) != 0 || batch.Replace || len(batch.Conds) > 2 {
		return nil, nil, false
	}
	key := batch.Puts[0].Key
	for i, c := range batch.Conds {
		switch {
		case c.Key == key && len(keyConds) == 0:
			keyConds = batch.Conds[i : i+1]
		case c.Key != key && c.Key != "" && c.Revision > 0 && fence == nil:
			fence = &batch.Conds[i]
		default:
			return nil, nil, false
		}
	}
	return keyConds, fence, true
}

// putOne writes one key in one statement, which SQLite runs as its own
// transaction.
func (b *Backend) putOne(ctx context.Context, ns string, kv runtime.KV, conds []runtime.Cond) (int64, error) {
	now := time.Now().UnixNano()
	stmt, args := b.put, []any{ns, kv.Key, string(kv.Value), now}
	if len(conds) > 0 {
		if conds[0].Revision == 0 {
			stmt = b.create
		} else {
			stmt, args = b.swap, append(args, conds[0].Revision)
		}
	}
	rev, ok, err := returning(ctx, stmt, args...)
	if err == nil && !ok {
		err = fmt.Errorf("key %s: %w: expected revision %d", kv.Key, runtime.ErrConflict, conds[0].Revision)
	}
	return rev, err
}

// putHeld writes one key in one statement on condition that the namespace
// records schema already; ok is false, with nothing written, when it does
// not or when a key condition failed (the general path tells which).
func (b *Backend) putHeld(ctx context.Context, ns string, kv runtime.KV, conds []runtime.Cond, fence *runtime.Cond, schema runtime.SchemaRef) (rev int64, ok bool, err error) {
	info, err := encodeInfo(schema)
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: encode schema: %w", err)
	}
	put, create, swap := b.putHeldStmt, b.createHeld, b.swapHeld
	if fence != nil {
		put, create, swap = b.putHeldFenced, b.createHeldFenced, b.swapHeldFenced
	}
	stmt, args := put, []any{ns, kv.Key, string(kv.Value), time.Now().UnixNano(), schema.Name, schema.Version, info}
	swapRev := int64(0) // ?8: a placeholder unless swapping
	if len(conds) > 0 {
		if conds[0].Revision == 0 {
			stmt = create
		} else {
			stmt, swapRev = swap, conds[0].Revision
		}
	}
	if fence != nil || stmt == swap {
		args = append(args, swapRev)
	}
	if fence != nil {
		args = append(args, fence.Key, fence.Revision)
	}
	return returning(ctx, stmt, args...)
}

// returning runs a write with a RETURNING clause and reads the one value it
// returns, if any. It reads the rows to the end rather than using QueryRow:
// closing the statement before SQLite reports it done made each commit take
// about 70 us longer with synchronous=FULL (modernc.org/sqlite v1.62).
func returning(ctx context.Context, stmt *sql.Stmt, args ...any) (v int64, ok bool, err error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return 0, false, classify(err)
	}
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return 0, false, classify(err)
		}
		ok = true
	}
	if err := rows.Close(); err != nil {
		return 0, false, classify(err)
	}
	return v, ok, classify(rows.Err())
}

func checkCond(ctx context.Context, tx *sql.Tx, b *Backend, ns string, c runtime.Cond) error {
	var row *sql.Row
	what := "namespace"
	switch {
	case c.Key == "" && c.Revision == 0:
		// The namespace must not exist: no live key and no schema, as
		// Snapshot sees it (an empty schema row, which versions before
		// this one wrote for state without a schema, is none).
		row = tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM entries WHERE ns = ?1 AND key != '' AND value IS NOT NULL) + (SELECT COUNT(*) FROM schemas WHERE ns = ?1 AND `+hasSchema+`)`, ns)
	case c.Key == "":
		row = tx.StmtContext(ctx, b.nsRev).QueryRowContext(ctx, ns)
	default:
		what = "key " + c.Key
		row = tx.StmtContext(ctx, b.keyRev).QueryRowContext(ctx, ns, c.Key)
	}
	var have int64
	if err := row.Scan(&have); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return classify(err)
	}
	if have != c.Revision {
		return fmt.Errorf("%s: %w: expected revision %d, found %d", what, runtime.ErrConflict, c.Revision, have)
	}
	return nil
}

// Namespaces lists namespaces that hold a key, a schema or checkpoints.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	rows, err := b.read.QueryContext(ctx, `SELECT ns FROM entries WHERE key != '' AND value IS NOT NULL UNION SELECT ns FROM schemas WHERE `+hasSchema+` UNION SELECT ns FROM checkpoints ORDER BY 1`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ns string
		if err := rows.Scan(&ns); err != nil {
			return nil, classify(err)
		}
		out = append(out, ns)
	}
	return out, classify(rows.Err())
}
