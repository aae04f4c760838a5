// Package pgtest gives tests a PostgreSQL database of their own.
//
// The server is the one $STATEGEN_POSTGRES_URL names, or else the one the
// project's machines run, postgres://postgres@127.0.0.1:5432/postgres (trust
// authentication). The first call in a test binary creates a database of
// that binary's own (stategen_test_PID_RANDOM); each URL call returns a URL
// on it with a PostgreSQL schema no other call returns, so tests never see
// each other's data, and the backend creates its tables there on first use.
// The database is dropped when the test binary exits, however it exits: a
// copy of the binary, started as a watchdog on a pipe from it, drops it
// once the pipe closes (the kernel closes it when the test process ends,
// even by kill -9).
//
// Without a reachable server the tests that need one are skipped, or fail
// when the environment sets STATEGEN_REQUIRE_POSTGRES=1 (CI, where a
// silently skipped backend would pass unnoticed).
//
// StartPrivate starts a server of a test's own (initdb and postgres from
// the PostgreSQL installation, run as the postgres user when the test runs
// as root), which the test may kill with SIGKILL and start again.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Environment variables.
const (
	// EnvURL names a server (and a database to connect to for creating
	// the test's own) other than DefaultURL.
	EnvURL = "STATEGEN_POSTGRES_URL"
	// EnvRequire set to 1 turns a server that cannot be reached from a
	// skip into a failure.
	EnvRequire = "STATEGEN_REQUIRE_POSTGRES"
)

// DefaultURL is the server tried when $STATEGEN_POSTGRES_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// envDrop and envAdmin tell a copy of the test binary to be the watchdog
// that drops the database envDrop names, connecting with envAdmin.
const (
	envDrop  = "STATEGEN_PGTEST_DROP"
	envAdmin = "STATEGEN_PGTEST_ADMIN"
)

func init() {
	if db := os.Getenv(envDrop); db != "" {
		os.Exit(dropWhenOrphaned(db, os.Getenv(envAdmin)))
	}
}

// dropWhenOrphaned waits until its standard input, the pipe from the test
// process, closes, then drops the database.
func dropWhenOrphaned(db, admin string) int {
	io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return 1
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
		return 1
	}
	return 0
}

var (
	dbOnce  sync.Once
	dbURL   *url.URL // the test database, without a schema
	dbErr   error
	missing bool // the server cannot be reached: skip
	// lifelines hold the write end of the watchdog's pipe, kept reachable
	// so that no finalizer closes it before the process ends.
	lifelines []io.Closer
	seq       atomic.Int64
)

// adminURL is the URL of the server to create the test database on.
func adminURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// database returns the URL of the test binary's database, creating it on
// first use.
func database(tb testing.TB) *url.URL {
	tb.Helper()
	dbOnce.Do(func() { dbURL, dbErr = create() })
	switch {
	case missing && os.Getenv(EnvRequire) == "1":
		tb.Fatal(dbErr)
	case missing:
		tb.Skip(dbErr)
	case dbErr != nil:
		tb.Fatal(dbErr)
	}
	return dbURL
}

func create() (*url.URL, error) {
	admin := adminURL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.Connect(cctx, admin)
	ccancel()
	if err != nil {
		missing = true
		return nil, fmt.Errorf("no PostgreSQL server at %s (set %s to another, or install and start one: apt-get install postgresql): %v", redact(admin), EnvURL, err)
	}
	defer conn.Close(ctx)
	var b [4]byte
	rand.Read(b[:])
	name := fmt.Sprintf("stategen_test_%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
	// The watchdog first, so that the database never outlives the test.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envDrop+"="+name, envAdmin+"="+admin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: start the watchdog: %w", err)
	}
	go cmd.Wait()                        // reap it, should it exit early
	lifelines = append(lifelines, stdin) // created once: dbOnce guards it
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("pgtest: create database %s on %s: %w", name, redact(admin), err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	return u, nil
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "the URL in " + EnvURL
}

// URL returns a store URL on the test binary's database with a schema no
// other call returns. It skips the test (fails it with
// STATEGEN_REQUIRE_POSTGRES=1) when no server can be reached.
func URL(tb testing.TB) string {
	tb.Helper()
	return WithSchema(tb, Schema())
}

// Schema returns a PostgreSQL schema name no other call returns.
func Schema() string { return fmt.Sprintf("t%d", seq.Add(1)) }

// WithSchema returns the store URL of schema on the test binary's database.
func WithSchema(tb testing.TB, schema string) string {
	tb.Helper()
	u := *database(tb)
	q := u.Query()
	q.Set("schema", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Database returns the URL of the test binary's database (with no schema
// parameter), creating it on first use; it skips as URL does.
func Database(tb testing.TB) *url.URL {
	tb.Helper()
	u := *database(tb)
	return &u
}

// Pool returns a plain pgx pool on the test binary's database, closed when
// the test ends, for tests that look at or damage what a backend stored.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	u := database(tb)
	p, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Optional is URL for tests that run on several backends, PostgreSQL
// among them when it is there: without a reachable server it returns
// false instead of skipping the whole test (and still fails it with
// STATEGEN_REQUIRE_POSTGRES=1).
func Optional(tb testing.TB) (string, bool) {
	tb.Helper()
	dbOnce.Do(func() { dbURL, dbErr = create() })
	if missing && os.Getenv(EnvRequire) != "1" {
		tb.Logf("not on PostgreSQL: %v", dbErr)
		return "", false
	}
	return URL(tb), true
}

// ErrMissing is returned by helpers that find no PostgreSQL installation.
var ErrMissing = errors.New("pgtest: no PostgreSQL installation (initdb and postgres) found")

// Settle vacuums the test database and has the server write every dirty
// buffer out (VACUUM, then CHECKPOINT), as pgbench does before each measured
// run: a benchmark that starts right after it meets no dead rows left by
// the one before it (which would slow its index lookups and grow its
// table), no checkpoint of the server's own (they come checkpoint_timeout
// apart) and no writes left over to flush, so that the two sides of a
// comparison are timed alike. A server that refuses (CHECKPOINT needs a
// superuser or pg_checkpoint) is only logged.
func Settle(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, database(tb).String())
	if err == nil {
		if _, err = conn.Exec(ctx, "VACUUM"); err == nil {
			_, err = conn.Exec(ctx, "CHECKPOINT")
		}
		conn.Close(ctx)
	}
	if err != nil {
		tb.Logf("no VACUUM and CHECKPOINT before the measurement: %v", err)
	}
}
