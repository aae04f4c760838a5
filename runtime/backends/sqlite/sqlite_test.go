package sqlite_test

import (
	"database/sql"
	"net/url"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stategen/stategen/runtime/backends/backendtest"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

func newURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "store", "state.db")
}

func dbPath(rawURL string) string {
	u, _ := url.Parse(rawURL)
	return u.Opaque + u.Path
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, harness)
}

func TestChaos(t *testing.T) { backendtest.Chaos(t, harness) }

var harness = backendtest.Harness{
	NewURL: newURL,
	Dir:    func(u string) string { return filepath.Dir(dbPath(u)) },
	MissingURL: func(t testing.TB) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "nosuch", "dir", "state.db")
	},
	// Everything the database holds, as SQLite's own shell dumps it.
	Raw: func(t testing.TB, u string) []byte {
		shell, err := exec.LookPath("sqlite3")
		if err != nil {
			t.Skip("sqlite3 is not on PATH: cannot read the database with SQLite's own shell")
		}
		out, err := exec.Command(shell, "-readonly", dbPath(u), ".dump").Output()
		if err != nil {
			t.Fatalf("sqlite3 .dump: %v", err)
		}
		return out
	},
	Corrupt: func(t testing.TB, u, ns, key string) func() []byte {
		return damage(t, u, "entries", `ns = ? AND key = ?`, ns, key)
	},
	// A value of the checkpoint that is no longer JSON.
	CorruptCheckpoint: func(t testing.TB, u, ns, name string) func() []byte {
		return damage(t, u, "checkpoint_entries", `ns = ? AND name = ?`, ns, name)
	},
}

// damage cuts in the middle the JSON values of the rows of table that match
// where (whose arguments are args), as a hand edit gone wrong would, and
// returns a function that reads them back.
func damage(t testing.TB, u, table, where string, args ...any) func() []byte {
	db, err := sql.Open("sqlite", dbPath(u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if res, err := db.Exec(`UPDATE `+table+` SET value = '{"will": "bre' WHERE `+where+` AND value IS NOT NULL`, args...); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("nothing to damage in %s where %s %v", table, where, args)
	}
	return func() []byte {
		var raw []byte
		rows, err := db.Query(`SELECT value FROM `+table+` WHERE `+where+` ORDER BY key`, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var v []byte
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			raw = append(raw, v...)
		}
		return raw
	}
}
