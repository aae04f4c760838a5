// Package postgres is stategen's PostgreSQL backend: state in tables of one
// schema of a PostgreSQL database, through pgx's connection pool, so that
// every machine of a fleet shares one durable, replicated store that teams
// already operate and back up. Importing the package registers the URL
// schemes postgres and postgresql.
//
// # URLs
//
// The URL follows libpq's conventions, as pgx reads them, so every libpq
// and pgx parameter works (sslmode, sslrootcert, connect_timeout,
// application_name, target_session_attrs, pool_max_conns, ...):
//
//	postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=verify-full
//	postgresql://USER@H1:5432,H2:5432/DATABASE?target_session_attrs=read-write
//	                              several hosts, tried in turn: with
//	                              target_session_attrs=read-write only a
//	                              primary is used, so a failover is followed
//	postgres:///DATABASE?host=/var/run/postgresql   a Unix socket
//
// The password may also come from PGPASSWORD or a .pgpass file, as with
// libpq. It never appears in an error or a log line: errors name the store
// by its URL with the password replaced by xxxxx. application_name defaults
// to "stategen", so that the store's sessions are easy to find in
// pg_stat_activity.
//
// stategen adds one parameter of its own, schema (default "stategen"): the
// PostgreSQL schema that holds its tables, so that several applications, or
// several stores, share a database. Its name is letters, digits and
// underscores, starting with a letter or an underscore, at most 63 bytes.
//
// # Tables
//
// Each table's primary key leads with the namespace (ns), so that every
// read and write of one namespace is an index range scan and no operation
// reads the whole store; the text columns that name things use the "C"
// collation, so that listings sort as Go sorts strings (byte order).
// The statements that create them are in [Schema] (stategen
// postgres-schema prints them). Each session turns bitmap scans off
// (enable_bitmapscan, set once per connection): a plain index scan is the
// plan for every such range, and the one that skips the dead versions a
// vacuum has not removed yet instead of reading them again on every call.
//
//	layout              one row: version, stategen's table layout version
//	                    (2, see LayoutVersion), so that a release can
//	                    upgrade the layout and an older one refuses a
//	                    newer layout
//	namespaces          one row per namespace ever written:
//	  ns                the namespace
//	  revision          the namespace revision: every write adds 1, and it
//	                    never goes back, even when every key is deleted
//	  created           when the row was made (unix nanoseconds); with
//	                    revision, the cheap change marker of the strict cache
//	  schema_name,      the schema the state records; NULL name: none
//	  schema_version,
//	  schema_info       the schema's keys and secret keys as the JSON
//	                    {"keys": [...], "secret": [...]}; NULL when neither
//	  ids_from          every conditional batch applied at a revision above
//	                    this one has its ID in applied (NULL: no ID recorded
//	                    yet); see Exactly once
//	entries             one row per key: ns, key, value (the JSON value as
//	                    written, as text), revision (the namespace revision
//	                    of the write that stored it), updated (unix
//	                    nanoseconds of that write)
//	checkpoints         one row per checkpoint: ns, name, created (unix
//	                    nanoseconds), revision (the namespace revision it
//	                    copies), schema_name, schema_version, schema_info
//	                    (as for namespaces, with the checkpoint's labels
//	                    and last restore), keys (how many it holds), data
//	                    (its values: the JSON object {key: [value,
//	                    revision, updated]}, each value's text as written);
//	                    indexed by (ns, created, name) for listing by time,
//	                    which reads no data
//	checkpoint_entries  the values of checkpoints written by layout 1
//	                    (data NULL): one row per key, ns, name, key,
//	                    value, revision, updated, as in entries
//	applied             the IDs of the conditional batches applied: ns, id,
//	                    revision (of the write that applied it), at (unix
//	                    nanoseconds); indexed by (ns, revision)
//
// A namespace exists while it holds a key or records a schema; a namespaces
// row without either (its keys were deleted, or a conditional write on a
// new namespace failed) reads as not found, but keeps its revision, so
// that a later write still gets a higher one. Namespaces lists the
// namespaces that hold a key, a schema or checkpoints, in pages of 1000 in
// key order (keyset pagination on the primary key); a checkpoint listing
// pages by (created, name) on its index. Values are stored as text, byte
// for byte as written; a value that is no longer valid JSON (a hand edit)
// reads as runtime.ErrCorrupt and is left as it is.
//
// # First use, and users without DDL rights
//
// Open reads the layout row. Where the tables do not exist yet it creates
// the schema and the tables in one transaction, under an advisory lock so
// that processes opening a new store at once do not collide. A user who
// may not create them gets an error that says so and names the statements
// to run, which an administrator runs once (stategen postgres-schema
// --schema NAME prints them); the user then needs only SELECT, INSERT,
// UPDATE and DELETE on the tables. Opened read-only (runtime.ReadOnly), the
// backend creates nothing: a database or schema without stategen's tables
// is "no store at" (runtime.ErrNotFound), and every write is
// runtime.ErrReadOnly. A layout newer than this package knows is refused.
//
// # Writes
//
// A batch is one transaction at PostgreSQL's default isolation (read
// committed), sent as one pipeline, so one network round trip: the first
// statement creates the namespaces row if need be and locks it (INSERT ...
// ON CONFLICT DO UPDATE ... WHERE false, which locks without writing), so
// that writers of one namespace take turns; the second, whose snapshot is
// taken once the lock is held, checks the batch's conditions and, only if
// they hold, bumps the revision and writes, deletes and records the batch's
// ID, in data-modifying CTEs. A batch is applied whole or not at all, also
// when the writer is killed or its connection cut mid-way: PostgreSQL
// commits a pipeline's implicit transaction only when the whole of it has
// arrived. A one-key write with no condition and no schema is a single
// statement. A checkpoint is written the same way (one pipeline, one
// transaction).
//
// # Exactly once
//
// A conditional batch carries an ID that the Store keeps across its
// retries; the transaction that applies it inserts the ID into applied. A
// retry whose first attempt landed (its reply was lost) finds its ID and
// gets that write's revision without applying anything; a retry whose
// conditions fail is a plain conflict only if ids_from proves the ID was
// never applied (every ID applied after the conditions' revisions is still
// remembered), and runtime.ErrUnknownOutcome otherwise. Each namespace
// keeps the IDs of its last 512 revisions; the writes that record IDs also
// forget, a few at a time, those older than 10 minutes, raising ids_from
// past what they forget. Far longer than any retry waits, and bounded. A
// write looks for IDs to forget from ids_from up, never among the rows it
// forgot before, which stay in the index until a vacuum: were it to start
// from the lowest, every write would read all of them.
//
// # Errors
//
// Failures that left nothing applied and are worth retrying are
// runtime.NotApplied: a connection that could not be made, a transaction
// PostgreSQL rolled back (serialization failure 40001, deadlock 40P01), a
// server refusing connections while it starts (57P03) or with too many of
// them (53300), a server that turned read-only after a failover (25006; the
// pool is then emptied, so that the next connection finds the new primary).
// A connection lost during a write, or ended by the server (57P01
// admin_shutdown, 57P02, pg_terminate_backend), may have left the write
// committed: runtime.Transient, which the Store retries under the batch's
// ID. Everything else is final: a bad password, missing privileges, a
// missing database, constraint violations (a bug).
//
// # Cache
//
// The backend is a runtime.Stamper: a namespace's stamp is its revision and
// creation time, read with one primary-key lookup, so the strict cache
// costs one small round trip per read in place of the value's. LISTEN and
// NOTIFY would save that round trip, but a notification reaches a listener
// some time after the writer's commit returned, and a read in between
// would be served from a stale cache: the strict cache promises to see
// every write that completed before the read began, so it checks the
// revision instead. It is also a runtime.SchemaGetter: a per-field load
// reads the key and the namespace's schema in one statement.
//
// # Feed
//
// Every write, checkpoint and checkpoint deletion calls pg_notify in its
// own transaction, on the channel "stategen_feed:SCHEMA", with a JSON
// message (see runtime/backends/internal/feedmsg; a write whose key lists
// would pass 7900 bytes is sent without them and reported as a gap of its
// revision). PostgreSQL delivers notifications at commit, in commit order.
// Feed (the runtime's change feed) LISTENs on a connection of its own; a
// connection lost is opened again and reported as a gap, since what was
// notified meanwhile is gone. A schema name longer than 49 bytes makes a
// channel name PostgreSQL truncates: stores whose names share those bytes
// then share a channel, and each feed keeps only its namespaces' messages.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stategen/stategen/runtime"
)

// DefaultSchema is the PostgreSQL schema that holds stategen's tables unless
// the URL's schema parameter names another.
const DefaultSchema = "stategen"

// defaultAppName is the application_name of the store's sessions unless
// the URL sets one.
const defaultAppName = "stategen"

func init() {
	runtime.Register("postgres", open)
	runtime.Register("postgresql", open)
}

// Backend is the PostgreSQL backend. It is safe for concurrent use.
type Backend struct {
	pool     *pgxpool.Pool
	schema   string
	where    string // the server and database, for messages; no password
	password string // to scrub from errors, in case a driver message repeats it
	logger   *slog.Logger
	readOnly bool
	sql      statements

	resetMu sync.Mutex // one pool reset at a time, after a failover
}

func open(ctx context.Context, u *url.URL, cfg runtime.Config) (runtime.Backend, error) {
	return Open(ctx, u, cfg)
}

// Open connects to the database a postgres or postgresql URL names, checks
// stategen's table layout there and creates it if it is missing (unless
// cfg.ReadOnly; see the package doc).
func Open(ctx context.Context, u *url.URL, cfg runtime.Config) (*Backend, error) {
	pc, schema, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	b := &Backend{schema: schema, where: describe(pc, schema), password: pc.ConnConfig.Password, logger: cfg.Logger, readOnly: cfg.ReadOnly}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	b.pool, err = pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, b.scrub(fmt.Errorf("postgres: %s: %w", b.where, err))
	}
	layout, err := b.checkLayout(ctx)
	if err != nil {
		b.pool.Close()
		return nil, err
	}
	b.sql = newStatements(schema, layout)
	b.logger.Debug("stategen: postgres connected", "server", b.where)
	return b, nil
}

// Close closes the pool and its connections.
func (b *Backend) Close() error {
	b.pool.Close()
	return nil
}

// parseURL reads a URL as libpq's conventions say, after taking out
// stategen's own parameter, schema, which the server would otherwise be
// sent as a setting.
func parseURL(u *url.URL) (*pgxpool.Config, string, error) {
	if u.Opaque != "" {
		return nil, "", fmt.Errorf("postgres: URL names no server: write %s://HOST:PORT/DATABASE (postgres://localhost:5432/postgres for a local one)", u.Scheme)
	}
	q := u.Query()
	schema := DefaultSchema
	if s, ok := q["schema"]; ok {
		if len(s) != 1 {
			return nil, "", errors.New("postgres: URL parameter schema must be given once")
		}
		schema = s[0]
		if err := checkSchemaName(schema); err != nil {
			return nil, "", err
		}
	}
	q.Del("schema")
	if !q.Has("application_name") {
		q.Set("application_name", defaultAppName)
	}
	pu := *u
	pu.RawQuery = q.Encode()
	pc, err := pgxpool.ParseConfig(pu.String())
	if err != nil {
		return nil, "", parseError(err, u)
	}
	pc.AfterConnect = withoutBitmapScans
	return pc, schema, nil
}

// withoutBitmapScans turns bitmap scans off for the session. Every query
// stategen runs reads one namespace's range of an index, where a plain
// index scan is the right plan; but on a table without statistics (new,
// or never analyzed) the planner may pick a bitmap scan, which reads every
// index entry of the range, dead ones included, on every call. A
// checkpoint taken again under its name leaves one such entry in
// checkpoints_by_time, so listing a namespace's checkpoints that way grew
// slower with every checkpoint until the next vacuum. A plain index scan
// marks the dead entries it meets as such and never reads them again.
// The setting is sent as a statement once per connection, not as a
// startup parameter, which connection poolers such as PgBouncer refuse.
func withoutBitmapScans(ctx context.Context, c *pgx.Conn) error {
	_, err := c.Exec(ctx, "SET enable_bitmapscan = off")
	return err
}

// CheckSchemaName refuses a schema name that is not letters, digits and
// underscores starting with a letter or an underscore, or longer than
// PostgreSQL keeps (63 bytes).
func checkSchemaName(s string) error {
	ok := s != "" && len(s) <= 63
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && '0' <= c && c <= '9':
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("postgres: schema %q: want letters, digits and underscores, starting with a letter or an underscore, at most 63 bytes", s)
	}
	return nil
}

// parseError reports a URL pgx refused without repeating the URL (which
// holds the password): the cause only, with the password scrubbed should a
// message repeat it.
func parseError(err error, u *url.URL) error {
	msg := err.Error()
	if cause := errors.Unwrap(err); cause != nil {
		var ue *url.Error
		if errors.As(cause, &ue) {
			cause = ue.Err
		}
		msg = cause.Error()
	} else if _, after, ok := strings.Cut(msg, "`: "); ok {
		msg = after
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return fmt.Errorf("postgres: bad URL %s: %s", runtime.RedactURL(u.String()), msg)
}

// describe names the server(s), database and schema for messages.
func describe(pc *pgxpool.Config, schema string) string {
	cc := pc.ConnConfig
	hosts := []string{hostPort(cc.Host, cc.Port)}
	for _, f := range cc.Fallbacks {
		if h := hostPort(f.Host, f.Port); h != hosts[len(hosts)-1] {
			hosts = append(hosts, h)
		}
	}
	return fmt.Sprintf("%s database %s schema %s", strings.Join(hosts, ","), cc.Database, schema)
}

func hostPort(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		return host // a Unix socket directory
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// scrub makes an error's message one line without the password: pgx lists
// each connection attempt (every host, with and without TLS) on a line of
// its own, where the first line and the last attempt say what matters; and
// a driver message might repeat the password. What it wraps stays there
// for errors.Is and errors.As.
func (b *Backend) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if first, rest, ok := strings.Cut(msg, "\n"); ok {
		lines := strings.Split(strings.TrimSpace(rest), "\n")
		msg = strings.TrimSpace(first) + " " + strings.TrimSpace(lines[len(lines)-1])
	}
	if b.password != "" {
		msg = strings.ReplaceAll(msg, b.password, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// ident quotes a schema-qualified table name.
func ident(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }
