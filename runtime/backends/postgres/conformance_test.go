package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/backendtest"
	_ "github.com/stategen/stategen/runtime/backends/postgres"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

var harness = backendtest.Harness{
	NewURL:     pgtest.URL,
	MissingURL: pgtest.URL, // a schema without stategen's tables
	// A value cut in the middle, as a hand edit gone wrong would leave it.
	Corrupt: func(t testing.TB, u, ns, key string) func() []byte {
		return damage(t, u, "entries", "value", `'{"will": "bre'`, "ns = $1 AND key = $2", ns, key)
	},
	// Schema bookkeeping that is no longer JSON: what the listing reads.
	CorruptCheckpoint: func(t testing.TB, u, ns, name string) func() []byte {
		return damage(t, u, "checkpoints", "schema_info", `'{"keys": ['`, "ns = $1 AND name = $2", ns, name)
	},
	// Every row of the store's schema, as PostgreSQL's own pg_dump shows it.
	Raw: func(t testing.TB, raw string) []byte {
		dump, err := exec.LookPath("pg_dump")
		if err != nil {
			t.Skip("pg_dump is not on PATH: cannot read the store with PostgreSQL's own client")
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		schema := schemaOf(t, raw)
		q := u.Query()
		q.Del("schema") // stategen's, not libpq's
		u.RawQuery = q.Encode()
		out, err := exec.Command(dump, "--data-only", "--schema="+schema, "--dbname="+u.String()).Output()
		if err != nil {
			t.Fatalf("pg_dump: %v", err)
		}
		return out
	},
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, harness)
}

// TestChaos runs the fault suite with a fault proxy in front of the server
// and a server of its own to kill and restart.
func TestChaos(t *testing.T) {
	h := harness
	h.Proxy = func(raw string) (string, func(string) string) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u.Host, func(addr string) string {
			v := *u
			v.Host = addr
			return v.String()
		}
	}
	h.Durable = func(t testing.TB) backendtest.Server {
		srv := pgtest.StartPrivate(t)
		// The tables first, as a store in use has them: the writers'
		// Open is then one quick query, done before the first kill.
		st, err := runtime.Open(context.Background(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		return backendtest.Server{URL: srv.URL, Kill: srv.Kill, Restart: srv.Restart}
	}
	backendtest.Chaos(t, h)
}

// schemaOf is the PostgreSQL schema a store URL names.
func schemaOf(t testing.TB, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("schema")
}

// damage sets column of the rows of table that match where (with args) to
// the SQL literal bad, behind the backend's back, and returns a function
// that reads what it damaged.
func damage(t testing.TB, u, table, column, bad, where string, args ...any) func() []byte {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	tbl := pgx.Identifier{schemaOf(t, u), table}.Sanitize()
	tag, err := pool.Exec(ctx, `UPDATE `+tbl+` SET `+column+` = `+bad+` WHERE `+where, args...)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() == 0 {
		t.Fatalf("nothing to damage in %s where %s %v", table, where, args)
	}
	return func() []byte {
		var raw []byte
		rows, err := pool.Query(ctx, `SELECT `+column+` FROM `+tbl+` WHERE `+where+` ORDER BY 1`, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			raw = fmt.Append(raw, v)
		}
		return raw
	}
}
