package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/postgres"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
)

func openStore(t testing.TB, raw string, opts ...runtime.Option) *runtime.Store {
	t.Helper()
	st, err := runtime.Open(context.Background(), raw, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", raw, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// withUser is raw with its user (and password) replaced.
func withUser(t testing.TB, raw string, user *url.Userinfo) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = user
	return u.String()
}

func schemaExists(t testing.TB, schema string) bool {
	var n int
	if err := pgtest.Pool(t).QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// Bad URLs are refused with one line that says what is wrong and never
// repeats the password, and nothing is retried.
func TestBadURLs(t *testing.T) {
	const pw = "s3cretPassw0rd"
	for _, tc := range []struct{ url, want string }{
		{"postgres:localhost/db", "names no server"},
		{"postgres://u:" + pw + "@127.0.0.1/db?schema=1bad", `schema "1bad"`},
		{"postgres://u:" + pw + "@127.0.0.1/db?schema=a&schema=b", "given once"},
		{"postgres://u:" + pw + "@127.0.0.1/db?schema=a%22b", `schema "a\"b"`},
		{"postgres://u:" + pw + "@127.0.0.1/db?sslmode=sometimes", "bad URL postgres://u:xxxxx@127.0.0.1/db"},
		{"postgresql://u:" + pw + "@127.0.0.1/db?connect_timeout=soon", "connect_timeout"},
	} {
		_, err := runtime.Open(context.Background(), tc.url, runtime.WithRetry(runtime.NoRetry))
		switch {
		case err == nil:
			t.Errorf("%s: opened", tc.url)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %v, want it to say %q", tc.url, err, tc.want)
		case strings.Contains(err.Error(), pw):
			t.Errorf("%s: the error repeats the password: %v", tc.url, err)
		case strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: more than one line: %q", tc.url, err)
		}
	}
}

// A server that cannot be reached is a retried, not-applied failure; the
// error names the server, never the password.
func TestUnreachableServer(t *testing.T) {
	const pw = "s3cretPassw0rd"
	start := time.Now()
	_, err := runtime.Open(context.Background(), "postgres://u:"+pw+"@127.0.0.1:1/db?connect_timeout=1",
		runtime.WithRetry(runtime.RetryPolicy{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond}))
	if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("open of an unreachable server: %q; want one line naming it, without the password", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

// A role the server does not know is a final error: not retried.
func TestUnknownRoleIsFinal(t *testing.T) {
	raw := withUser(t, pgtest.URL(t), url.UserPassword("stategen_nosuch_role", "s3cretPassw0rd"))
	var retries int
	_, err := runtime.Open(context.Background(), raw, runtime.WithLogger(slog.New(logFunc(func(string) { retries++ }))))
	if err == nil || runtime.IsTransient(err) || retries != 0 {
		t.Fatalf("open as an unknown role: %v after %d retries; want a final error", err, retries)
	}
	if strings.Contains(err.Error(), "s3cretPassw0rd") {
		t.Fatalf("the error repeats the password: %v", err)
	}
}

// A user who may not create tables is told which statements to run; once
// an administrator ran them and granted the rights, the store works.
func TestWithoutDDLRights(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.Pool(t)
	role := fmt.Sprintf("stategen_test_noddl_%d", os.Getpid())
	if _, err := admin.Exec(ctx, `CREATE ROLE `+role+` LOGIN`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(ctx, `DROP OWNED BY `+role)
		admin.Exec(ctx, `DROP ROLE `+role)
	})
	schema := pgtest.Schema()
	raw := withUser(t, pgtest.WithSchema(t, schema), url.User(role))
	_, err := runtime.Open(ctx, raw)
	if err == nil || !strings.Contains(err.Error(), "may not create them") || !strings.Contains(err.Error(), "stategen postgres-schema --schema "+schema) {
		t.Fatalf("open without DDL rights: %v; want an error saying which statements to run", err)
	}
	if runtime.IsTransient(err) {
		t.Errorf("missing rights reported as transient: %v", err)
	}
	if schemaExists(t, schema) {
		t.Fatal("the failed open left a schema behind")
	}

	ddl, err := postgres.Schema(schema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, ddl, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, ddl, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("running the statements again: %v", err)
	}
	// Tables but no rights on them: said so, not taken for a missing store.
	if _, err := runtime.Open(ctx, raw); err == nil || !strings.Contains(err.Error(), "grant") {
		t.Fatalf("open without rights on the tables: %v", err)
	}
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := admin.Exec(ctx, `GRANT USAGE ON SCHEMA `+q+` TO `+role+`; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+q+` TO `+role, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, raw)
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Checkpoint(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
}

// A read-only open creates nothing: no schema, no tables; a database that
// does not exist is no store either.
func TestReadOnlyCreatesNothing(t *testing.T) {
	ctx := context.Background()
	schema := pgtest.Schema()
	for _, raw := range []string{pgtest.WithSchema(t, schema), strings.Replace(pgtest.URL(t), "/stategen_test_", "/stategen_nosuch_", 1)} {
		_, err := runtime.Open(ctx, raw, runtime.ReadOnly())
		if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "no store at") {
			t.Errorf("read-only open of %s: %v; want no store", raw, err)
		}
	}
	if schemaExists(t, schema) {
		t.Fatal("a read-only open created the schema")
	}
	if _, err := runtime.Open(ctx, strings.Replace(pgtest.URL(t), "/stategen_test_", "/stategen_nosuch_", 1)); err == nil {
		t.Fatal("a read-write open of a database that does not exist succeeded")
	}
}

// Tables of a newer layout are refused, and left alone.
func TestNewerLayoutRefused(t *testing.T) {
	ctx := context.Background()
	schema := pgtest.Schema()
	raw := pgtest.WithSchema(t, schema)
	openStore(t, raw)
	admin := pgtest.Pool(t)
	if _, err := admin.Exec(ctx, `UPDATE `+pgx.Identifier{schema, "layout"}.Sanitize()+` SET version = 99`); err != nil {
		t.Fatal(err)
	}
	_, err := runtime.Open(ctx, raw)
	if err == nil || !strings.Contains(err.Error(), "layout version 99") || !strings.Contains(err.Error(), "newer stategen") {
		t.Fatalf("open of a newer layout: %v", err)
	}
}

// Processes opening a new store at once all get it, with one set of tables.
func TestConcurrentFirstOpen(t *testing.T) {
	raw := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			st, err := runtime.Open(context.Background(), raw, runtime.WithRetry(runtime.NoRetry))
			if err != nil {
				errs <- err
				return
			}
			st.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	pgtest.Pool(t).QueryRow(context.Background(), `SELECT count(*) FROM `+pgx.Identifier{schemaOf(t, raw), "layout"}.Sanitize()).Scan(&n)
	if n != 1 {
		t.Errorf("%d layout rows, want 1", n)
	}
}

// The hot statements are served by indexes: with sequential scans made as
// expensive as the planner allows, none is planned.
func TestNoFullScans(t *testing.T) {
	ctx := context.Background()
	raw := pgtest.URL(t)
	st := openStore(t, raw)
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	s := pgx.Identifier{schemaOf(t, raw)}.Sanitize()
	conn, err := pgtest.Pool(t).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET enable_seqscan`)
	for what, q := range map[string]string{
		"get":         `SELECT value FROM ` + s + `.entries WHERE ns = 'ns' AND key = 'k'`,
		"snapshot":    `SELECT * FROM ` + s + `.namespaces n LEFT JOIN ` + s + `.entries e ON e.ns = n.ns WHERE n.ns = 'ns'`,
		"stamp":       `SELECT revision, created FROM ` + s + `.namespaces WHERE ns = 'ns'`,
		"namespaces":  `SELECT n.ns FROM ` + s + `.namespaces n WHERE n.ns > '' AND (n.schema_name IS NOT NULL OR EXISTS (SELECT 1 FROM ` + s + `.entries e WHERE e.ns = n.ns) OR EXISTS (SELECT 1 FROM ` + s + `.checkpoints c WHERE c.ns = n.ns)) ORDER BY n.ns LIMIT 1000`,
		"checkpoints": `SELECT name FROM ` + s + `.checkpoints WHERE ns = 'ns' AND (created, name) > (0, '') ORDER BY created, name LIMIT 1000`,
		"applied":     `SELECT revision FROM ` + s + `.applied WHERE ns = 'ns' ORDER BY revision LIMIT 8`,
	} {
		rows, err := conn.Query(ctx, `EXPLAIN `+q)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(plan, "\n"); strings.Contains(p, "Seq Scan") {
			t.Errorf("%s scans a whole table:\n%s", what, p)
		}
	}
}

// The stamp changes with every write, by this process or another, and not
// with reads; a strict cache sees a write by another Store at once.
func TestStamp(t *testing.T) {
	ctx := context.Background()
	raw := pgtest.URL(t)
	be, err := postgres.Open(ctx, mustParse(t, raw), runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	st, other := openStore(t, raw), openStore(t, raw)
	if s, err := be.Stamp(ctx, "ns"); err != nil || s != (runtime.Stamp{}) {
		t.Fatalf("stamp of a namespace never written: %v, %v", s, err)
	}
	text := runtime.JSONCodec[string]()
	if err := runtime.Save(ctx, st, "ns", "k", "a", text); err != nil {
		t.Fatal(err)
	}
	s1, _ := be.Stamp(ctx, "ns")
	if _, err := runtime.Load(ctx, st, "ns", "k", text); err != nil {
		t.Fatal(err)
	}
	if s2, _ := be.Stamp(ctx, "ns"); s2 != s1 {
		t.Errorf("a read changed the stamp: %v -> %v", s1, s2)
	}
	if err := runtime.Save(ctx, other, "ns", "k", "b", text); err != nil {
		t.Fatal(err)
	}
	if s3, _ := be.Stamp(ctx, "ns"); s3 == s1 {
		t.Errorf("a write left the stamp at %v", s3)
	}
	if v, err := runtime.Load(ctx, st, "ns", "k", text); err != nil || v != "b" {
		t.Errorf("strict cache after another Store's write: %q, %v", v, err)
	}
}

func mustParse(t testing.TB, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// logFunc is a slog handler that calls itself with each message.
type logFunc func(msg string)

func (f logFunc) Enabled(context.Context, slog.Level) bool { return true }
func (f logFunc) Handle(_ context.Context, r slog.Record) error {
	f(r.Message)
	return nil
}
func (f logFunc) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f logFunc) WithGroup(string) slog.Handler      { return f }

// A store of layout 1, whose checkpoints keep their values in
// checkpoint_entries: a read-only open reads it as it is; a user who may
// not alter the tables is told which statements to run; a read-write open
// upgrades it to layout 2, and its old checkpoints still read, until one
// is taken again under the same name and moves into its row.
func TestLayout1Upgrade(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.Pool(t)
	schema := pgtest.Schema()
	raw := pgtest.WithSchema(t, schema)
	st := openStore(t, raw)
	if _, err := st.Put(ctx, "ns", "a", json.RawMessage(`2`)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := admin.Exec(ctx, `ALTER TABLE `+q+`.checkpoints DROP COLUMN data;
		UPDATE `+q+`.layout SET version = 1;
		INSERT INTO `+q+`.checkpoints (ns, name, created, revision, keys) VALUES ('ns', 'old', 1000, 1, 2);
		INSERT INTO `+q+`.checkpoint_entries (ns, name, key, value, revision, updated)
			VALUES ('ns', 'old', 'a', '1', 1, 123), ('ns', 'old', 'b', '{"x": [1,  2]}', 1, 0)`,
		pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	layout := func() int {
		var v int
		if err := admin.QueryRow(ctx, `SELECT version FROM `+q+`.layout`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	checkOld := func(st *runtime.Store) {
		t.Helper()
		cp, err := st.GetCheckpoint(ctx, "ns", "old")
		if err != nil || len(cp.Values) != 2 || string(cp.Values["a"].Data) != `1` || cp.Values["a"].Updated.UnixNano() != 123 ||
			string(cp.Values["b"].Data) != `{"x": [1,  2]}` || !cp.Values["b"].Updated.IsZero() {
			t.Fatalf("layout 1 checkpoint: %+v, %v", cp, err)
		}
	}

	ro := openStore(t, raw, runtime.ReadOnly())
	checkOld(ro)
	if cps, err := ro.Checkpoints(ctx, "ns"); err != nil || len(cps) != 1 || cps[0].Keys != 2 {
		t.Fatalf("listing layout 1: %+v, %v", cps, err)
	}
	ro.Close()
	if layout() != 1 {
		t.Fatal("a read-only open upgraded the layout")
	}

	role := fmt.Sprintf("stategen_test_noalter_%d", os.Getpid())
	if _, err := admin.Exec(ctx, `CREATE ROLE `+role+` LOGIN; GRANT USAGE ON SCHEMA `+q+` TO `+role+
		`; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+q+` TO `+role, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(ctx, `DROP OWNED BY `+role)
		admin.Exec(ctx, `DROP ROLE `+role)
	})
	_, err := runtime.Open(ctx, withUser(t, raw, url.User(role)))
	if err == nil || !strings.Contains(err.Error(), "layout version 1") || !strings.Contains(err.Error(), "may not upgrade") ||
		!strings.Contains(err.Error(), "stategen postgres-schema --schema "+schema) {
		t.Fatalf("open of layout 1 without the right to alter it: %v", err)
	}
	if layout() != 1 {
		t.Fatal("a failed upgrade changed the layout")
	}

	st = openStore(t, raw)
	if layout() != postgres.LayoutVersion {
		t.Fatalf("layout %d after a read-write open, want %d", layout(), postgres.LayoutVersion)
	}
	checkOld(st)
	if _, err := st.Checkpoint(ctx, "ns", "old"); err != nil {
		t.Fatal(err)
	}
	var rows int
	admin.QueryRow(ctx, `SELECT count(*) FROM `+q+`.checkpoint_entries`).Scan(&rows)
	if rows != 0 {
		t.Errorf("%d checkpoint_entries rows left after the checkpoint was taken again", rows)
	}
	if cp, err := st.GetCheckpoint(ctx, "ns", "old"); err != nil || len(cp.Values) != 1 || string(cp.Values["a"].Data) != `2` {
		t.Fatalf("checkpoint taken again: %+v, %v", cp, err)
	}
	// The role may use the upgraded tables.
	openStore(t, withUser(t, raw, url.User(role)))
}

// A checkpoint whose values were damaged (a hand edit) is still listed;
// reading it is ErrCorrupt, and leaves it as it is.
func TestCheckpointDamagedData(t *testing.T) {
	ctx := context.Background()
	schema := pgtest.Schema()
	st := openStore(t, pgtest.WithSchema(t, schema))
	if _, err := st.Put(ctx, "ns", "a", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Checkpoint(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"a": [1, 2`, `{"a": [1]}`, `{"a": [1, "x", 0]}`} {
		if _, err := pgtest.Pool(t).Exec(ctx, `UPDATE `+pgx.Identifier{schema, "checkpoints"}.Sanitize()+` SET data = $1`, bad); err != nil {
			t.Fatal(err)
		}
		if cps, err := st.Checkpoints(ctx, "ns"); err != nil || len(cps) != 1 || cps[0].Err != nil {
			t.Fatalf("%s: listing: %+v, %v", bad, cps, err)
		}
		if _, err := st.GetCheckpoint(ctx, "ns", "cp"); !errors.Is(err, runtime.ErrCorrupt) {
			t.Errorf("%s: read: %v, want ErrCorrupt", bad, err)
		}
	}
}

// A checkpoint's values come back byte for byte, whether the server
// gathered them (Checkpoint) or they were given whole (PutCheckpoint).
func TestCheckpointValuesExact(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, pgtest.URL(t))
	odd := `{"b": 1.0,  "a": [1e2, "\u00e9", null]}`
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(odd)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Checkpoint(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
	cp, err := st.GetCheckpoint(ctx, "ns", "cp")
	if err != nil || string(cp.Values["k"].Data) != odd {
		t.Fatalf("checkpoint: %s, %v", cp.Values["k"].Data, err)
	}
	cp.Name = "copy"
	if err := st.PutCheckpoint(ctx, "ns", cp); err != nil {
		t.Fatal(err)
	}
	again, err := st.GetCheckpoint(ctx, "ns", "copy")
	if err != nil || string(again.Values["k"].Data) != odd || again.Values["k"].Revision != cp.Values["k"].Revision ||
		!again.Values["k"].Updated.Equal(cp.Values["k"].Updated) {
		t.Fatalf("put checkpoint: %+v, %v", again.Values["k"], err)
	}
}
