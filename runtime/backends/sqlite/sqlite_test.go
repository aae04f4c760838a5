package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/url"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stategen/stategen/runtime"
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
		return damage(t, u, "entries", "value", `ns = ? AND key = ?`, ns, key)
	},
	// The checkpoint's bookkeeping (its schema and meta), which listing
	// reads, no longer JSON. (Damaged values are found when it is read:
	// TestCheckpointDamagedValue.)
	CorruptCheckpoint: func(t testing.TB, u, ns, name string) func() []byte {
		return damage(t, u, "checkpoints", "schema_info", `ns = ? AND name = ?`, ns, name)
	},
}

// damage replaces with cut JSON the column of the rows of table that match
// where (whose arguments are args), as a hand edit gone wrong would, and
// returns a function that reads them back.
func damage(t testing.TB, u, table, column, where string, args ...any) func() []byte {
	db, err := sql.Open("sqlite", dbPath(u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if res, err := db.Exec(`UPDATE `+table+` SET `+column+` = '{"will": "bre' WHERE `+where, args...); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("nothing to damage in %s where %s %v", table, where, args)
	}
	return func() []byte {
		var raw []byte
		rows, err := db.Query(`SELECT `+column+` FROM `+table+` WHERE `+where+` ORDER BY 1`, args...)
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

// TestCheckpointDamagedValue: listing reads a checkpoint's bookkeeping only,
// so a value damaged after it was written lists as usual, and reading or
// restoring the checkpoint finds the damage.
func TestCheckpointDamagedValue(t *testing.T) {
	ctx := context.Background()
	u := newURL(t)
	st, err := runtime.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`{"a": 1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Checkpoint(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
	damage(t, u, "checkpoint_entries", "value", `ns = ? AND name = ?`, "ns", "cp")
	list, err := st.Checkpoints(ctx, "ns")
	if err != nil || len(list) != 1 || list[0].Err != nil || list[0].Keys != 1 {
		t.Fatalf("listing: %+v, %v; want cp listed as written", list, err)
	}
	if _, err := st.GetCheckpoint(ctx, "ns", "cp"); !errors.Is(err, runtime.ErrCorrupt) {
		t.Errorf("reading the damaged checkpoint: %v, want ErrCorrupt", err)
	}
	if _, err := st.Restore(ctx, "ns", "cp"); !errors.Is(err, runtime.ErrCorrupt) {
		t.Errorf("restoring the damaged checkpoint: %v, want ErrCorrupt", err)
	}
}

// TestSnapshotRows: a whole read returns the schema's info from the row
// that shares its columns with the entries, and an entry whose time is
// not a number is damage, not a zero time.
func TestSnapshotRows(t *testing.T) {
	ctx := context.Background()
	u := newURL(t)
	st, err := runtime.Open(ctx, u, runtime.WithoutCache())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ref := runtime.SchemaRef{Name: "s", Version: 3, Keys: []string{"k", "pw"}, Secret: []string{"pw"}}
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}, Schema: &ref}); err != nil {
		t.Fatal(err)
	}
	snap, err := st.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snap.Schema, ref) || string(snap.Values["k"].Data) != "1" || snap.Values["k"].Updated.IsZero() {
		t.Fatalf("snapshot = %+v, want schema %+v and k = 1 with its time", snap, ref)
	}
	damage(t, u, "entries", "updated", `ns = ? AND key = ?`, "ns", "k")
	if _, err := st.Snapshot(ctx, "ns"); !errors.Is(err, runtime.ErrCorrupt) {
		t.Fatalf("snapshot with a damaged time: %v, want ErrCorrupt", err)
	}
}
