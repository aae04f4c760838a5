package sqlite_test

import (
	"database/sql"
	"net/url"
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
	backendtest.Run(t, backendtest.Harness{
		NewURL: newURL,
		Dir:    func(u string) string { return filepath.Dir(dbPath(u)) },
		MissingURL: func(t testing.TB) string {
			return "sqlite:" + filepath.Join(t.TempDir(), "nosuch", "dir", "state.db")
		},
		Corrupt: func(t testing.TB, u, ns, key string) func() []byte {
			db, err := sql.Open("sqlite", dbPath(u))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Exec(`UPDATE entries SET value = '{"will": "bre' WHERE ns = ? AND key = ?`, ns, key); err != nil {
				t.Fatal(err)
			}
			return func() []byte {
				var raw []byte
				if err := db.QueryRow(`SELECT value FROM entries WHERE ns = ? AND key = ?`, ns, key).Scan(&raw); err != nil {
					t.Fatal(err)
				}
				return raw
			}
		},
	})
}
