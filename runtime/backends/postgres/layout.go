package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stategen/stategen/runtime"
)

// LayoutVersion is the version of the table layout this package writes and
// reads, recorded in the layout table. Version 2 keeps a checkpoint's
// values in its own row (checkpoints.data) rather than a row per key in
// checkpoint_entries, which still holds those of checkpoints written
// before; opening a version 1 store upgrades it (see layoutSQL), and a
// read-only store of version 1 is read as it is.
const LayoutVersion = 2

// layoutSQL is the layout's DDL; %[1]s is the quoted schema name, %[2]d
// LayoutVersion. Running it again changes nothing; run on the tables of an
// earlier layout, it upgrades them.
const layoutSQL = `CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE IF NOT EXISTS %[1]s.layout (
	version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS %[1]s.namespaces (
	ns             text COLLATE "C" PRIMARY KEY,
	revision       bigint NOT NULL,
	created        bigint NOT NULL,
	schema_name    text,
	schema_version integer,
	schema_info    text,
	ids_from       bigint
);
CREATE TABLE IF NOT EXISTS %[1]s.entries (
	ns       text COLLATE "C" NOT NULL,
	key      text COLLATE "C" NOT NULL,
	value    text NOT NULL,
	revision bigint NOT NULL,
	updated  bigint NOT NULL,
	PRIMARY KEY (ns, key)
);
CREATE TABLE IF NOT EXISTS %[1]s.checkpoints (
	ns             text COLLATE "C" NOT NULL,
	name           text COLLATE "C" NOT NULL,
	created        bigint NOT NULL,
	revision       bigint NOT NULL,
	schema_name    text,
	schema_version integer,
	schema_info    text,
	keys           integer NOT NULL,
	data           text,
	PRIMARY KEY (ns, name)
);
ALTER TABLE %[1]s.checkpoints ADD COLUMN IF NOT EXISTS data text;
CREATE INDEX IF NOT EXISTS checkpoints_by_time ON %[1]s.checkpoints (ns, created, name);
CREATE TABLE IF NOT EXISTS %[1]s.checkpoint_entries (
	ns       text COLLATE "C" NOT NULL,
	name     text COLLATE "C" NOT NULL,
	key      text COLLATE "C" NOT NULL,
	value    text NOT NULL,
	revision bigint NOT NULL,
	updated  bigint NOT NULL,
	PRIMARY KEY (ns, name, key)
);
CREATE TABLE IF NOT EXISTS %[1]s.applied (
	ns       text COLLATE "C" NOT NULL,
	id       text COLLATE "C" NOT NULL,
	revision bigint NOT NULL,
	at       bigint NOT NULL,
	PRIMARY KEY (ns, id)
);
CREATE INDEX IF NOT EXISTS applied_by_revision ON %[1]s.applied (ns, revision);
` + labelIndexSQL + `
INSERT INTO %[1]s.layout (version) SELECT %[2]d WHERE NOT EXISTS (SELECT 1 FROM %[1]s.layout);
UPDATE %[1]s.layout SET version = %[2]d WHERE version < %[2]d;
`

// labelIndexSQL indexes the entries of runs' labels (the reserved keys
// __label.K), for listing the runs of a label; %[1]s is the quoted schema
// name. Created with the tables, and on opening a store made before it.
const labelIndexSQL = `CREATE INDEX IF NOT EXISTS entries_labels ON %[1]s.entries (key, value, ns) WHERE ` + labelRows + `;`

// labelRows selects the label entries; a query must name this very term
// for the planner to use entries_labels.
const labelRows = `key LIKE '\_\_label.%%'`

// Schema returns the SQL statements that create stategen's tables in the
// PostgreSQL schema name (DefaultSchema if empty): what an administrator
// runs for a user who may not create tables. Running them again changes
// nothing.
func Schema(name string) (string, error) {
	if name == "" {
		name = DefaultSchema
	}
	if err := checkSchemaName(name); err != nil {
		return "", err
	}
	return fmt.Sprintf(layoutSQL, pgx.Identifier{name}.Sanitize(), LayoutVersion), nil
}

// PostgreSQL error codes the backend tells apart.
const (
	codeUndefinedTable     = "42P01"
	codeInvalidSchemaName  = "3F000"
	codeInsufficientPriv   = "42501"
	codeInvalidCatalogName = "3D000"
)

// checkLayout reads the layout version, creating the tables where they are
// missing and upgrading those of an earlier layout (unless read-only). It
// returns the version of the tables as they are now.
func (b *Backend) checkLayout(ctx context.Context) (int, error) {
	version, err := b.layoutVersion(ctx)
	switch {
	case err == nil:
	case isCode(err, codeUndefinedTable, codeInvalidSchemaName) && b.readOnly:
		return 0, fmt.Errorf("postgres: no store at %s (no stategen tables there): %w", b.where, runtime.ErrNotFound)
	case isCode(err, codeInvalidCatalogName) && b.readOnly:
		return 0, fmt.Errorf("postgres: no store at %s (the database does not exist): %w", b.where, runtime.ErrNotFound)
	case isCode(err, codeUndefinedTable, codeInvalidSchemaName):
		version = 0
	case isCode(err, codeInsufficientPriv):
		return 0, b.scrub(fmt.Errorf("postgres: %s: the user may not read stategen's tables (grant it SELECT, INSERT, UPDATE and DELETE on the tables of schema %s): %w", b.where, b.schema, err))
	default:
		return 0, b.scrub(fmt.Errorf("postgres: %s: %w", b.where, b.classify(err)))
	}
	if version > LayoutVersion {
		return 0, fmt.Errorf("postgres: %s: the tables have layout version %d, written by a newer stategen; this one knows up to version %d", b.where, version, LayoutVersion)
	}
	if b.readOnly {
		return version, nil
	}
	if version < LayoutVersion {
		if err := b.createLayout(ctx, version); err != nil {
			return 0, err
		}
		if version, err = b.layoutVersion(ctx); err != nil {
			return 0, b.scrub(fmt.Errorf("postgres: %s: %w", b.where, b.classify(err)))
		}
	}
	b.addLabelIndex(ctx)
	return version, nil
}

// addLabelIndex creates the label index of a store made before it. It
// looks in the catalog first: CREATE INDEX, even IF NOT EXISTS, locks the
// table against writes before it looks. A user who may not create it still
// lists runs, reading more.
func (b *Backend) addLabelIndex(ctx context.Context) {
	var exists bool
	if err := b.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, ident(b.schema, "entries_labels")).Scan(&exists); err != nil || exists {
		return
	}
	ddl := fmt.Sprintf(labelIndexSQL, pgx.Identifier{b.schema}.Sanitize())
	if _, err := b.pool.Exec(ctx, ddl, pgx.QueryExecModeSimpleProtocol); err != nil {
		b.logger.Warn("stategen: postgres: could not create the label index", "server", b.where, "error", b.scrub(err))
	}
}

func (b *Backend) layoutVersion(ctx context.Context) (int, error) {
	var v int
	err := b.pool.QueryRow(ctx, `SELECT max(version) FROM `+ident(b.schema, "layout")).Scan(&v)
	return v, err
}

// createLayout runs the layout's DDL in one transaction, under an advisory
// lock on the schema's name: concurrent CREATE ... IF NOT EXISTS of one
// table can otherwise fail on PostgreSQL's catalog unique indexes. from is
// the layout version of the tables there (0: none), which it upgrades.
func (b *Backend) createLayout(ctx context.Context, from int) error {
	ddl, err := Schema(b.schema)
	if err != nil {
		return err
	}
	h := fnv.New64a()
	h.Write([]byte("stategen layout " + b.schema))
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return b.scrub(fmt.Errorf("postgres: %s: %w", b.where, b.classify(err)))
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
		return b.scrub(fmt.Errorf("postgres: %s: %w", b.where, b.classify(err)))
	}
	// The simple protocol runs the statements as written, in one exchange.
	_, err = tx.Exec(ctx, ddl, pgx.QueryExecModeSimpleProtocol)
	if err == nil {
		err = tx.Commit(ctx)
	}
	verb, what := "create", "stategen's tables do not exist there and the user may not create them"
	if from > 0 {
		verb = "upgrade"
		what = fmt.Sprintf("stategen's tables there have layout version %d, this stategen needs version %d, and the user may not upgrade them", from, LayoutVersion)
	}
	switch {
	case isCode(err, codeInsufficientPriv):
		return b.scrub(fmt.Errorf("postgres: %s: %s (%s): "+
			"have an administrator run, once, the statements of postgres.Schema(%q), which `stategen postgres-schema --schema %s` prints", b.where, what, pgMessage(err), b.schema, b.schema))
	case err != nil:
		return b.scrub(fmt.Errorf("postgres: %s: %s stategen's tables: %w", b.where, verb, b.classify(err)))
	}
	b.logger.Info("stategen: postgres: "+verb+"d stategen's tables", "server", b.where, "layout", LayoutVersion, "from", from)
	return nil
}

// isCode reports whether err is a PostgreSQL error with one of codes.
func isCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}

// pgMessage is the server's message of a PostgreSQL error, or err's.
func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.TrimSpace(pe.Message)
	}
	return err.Error()
}
