package pysqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/pysqlite"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

// reference finds shared/reference/state_manager.py beside the repository.
func reference(t *testing.T) (python, dir string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: skipping the test against the Python StateManager")
	}
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			ref := filepath.Join(filepath.Dir(d), "shared", "reference")
			if _, err := os.Stat(filepath.Join(ref, "state_manager.py")); err != nil {
				t.Skipf("no %s: skipping the test against the Python StateManager", ref)
			}
			return python, ref
		}
	}
	t.Skip("repository root not found")
	return "", ""
}

func TestReadsPythonSQLite(t *testing.T) {
	python, ref := reference(t)
	work := t.TempDir()
	script := `import sys
sys.path.insert(0, sys.argv[1])
from state_manager import StateManager
s = StateManager("sqlite", "wf-1")
s.save("phase", "plan")
s.save("tasks", ["scout", {"n": 1}])
s.checkpoint("after_plan")
s.save("phase", "build")
s2 = StateManager("sqlite", "wf-2")
s2.save("issue", 42)
`
	cmd := exec.Command(python, "-c", script, ref)
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	ctx := context.Background()
	st, err := runtime.Open(ctx, "pysqlite:"+filepath.Join(work, ".claude", "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ns, err := st.Namespaces(ctx)
	if err != nil || !cmp.Equal(ns, []string{"wf-1", "wf-2"}) {
		t.Fatalf("namespaces %v, %v", ns, err)
	}
	snap, err := st.Snapshot(ctx, "wf-1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for k, v := range snap.Values {
		var x any
		json.Unmarshal(v.Data, &x)
		got[k] = x
	}
	want := map[string]any{"phase": "build", "tasks": []any{"scout", map[string]any{"n": float64(1)}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("state (-want +got):\n%s", d)
	}
	if v, err := st.Get(ctx, "wf-2", "issue"); err != nil || string(v.Data) != "42" {
		t.Errorf("get wf-2/issue: %s, %v", v.Data, err)
	}
	cps, err := st.Checkpoints(ctx, "wf-1")
	if err != nil || len(cps) != 1 || cps[0].Name != "after_plan" || cps[0].Created.IsZero() || cps[0].Keys != 2 {
		t.Fatalf("checkpoints %+v, %v", cps, err)
	}
	cp, err := st.GetCheckpoint(ctx, "wf-1", "after_plan")
	if err != nil || string(cp.Values["phase"].Data) != `"plan"` {
		t.Fatalf("checkpoint: %+v, %v", cp, err)
	}
	// A checkpoint Python cannot have written whole is listed with its
	// error, beside the good one.
	db, err := sql.Open("sqlite", filepath.Join(work, ".claude", "state", "wf-1", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO checkpoints (name, state, created_at) VALUES ('broken', '[["phase", "\"pl', '2025-01-01T00:00:00')`); err != nil {
		t.Fatal(err)
	}
	cps, err = st.Checkpoints(ctx, "wf-1")
	if err != nil || len(cps) != 2 || cps[0].Name != "broken" || !errors.Is(cps[0].Err, runtime.ErrCorrupt) || cps[1].Err != nil {
		t.Fatalf("checkpoints with a broken one: %+v, %v; want it listed first with ErrCorrupt, then the good one", cps, err)
	}
	if _, err := db.Exec(`DELETE FROM checkpoints WHERE name = 'broken'`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "nope", "k"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("absent namespace: %v", err)
	}
	// Read-only: writes are refused and change nothing.
	if _, err := st.Put(ctx, "wf-1", "phase", json.RawMessage(`"x"`)); !errors.Is(err, runtime.ErrReadOnly) {
		t.Errorf("put: %v, want ErrReadOnly", err)
	}
	if _, err := st.Checkpoint(ctx, "wf-1", "mine"); !errors.Is(err, runtime.ErrReadOnly) {
		t.Errorf("checkpoint: %v, want ErrReadOnly", err)
	}
	if v, _ := st.Get(ctx, "wf-1", "phase"); string(v.Data) != `"build"` {
		t.Errorf("a refused write changed the data: %s", v.Data)
	}

	// A Python deployment moves to stategen: every namespace with its
	// checkpoints, verified by digest.
	dst, err := runtime.Open(ctx, "sqlite:"+filepath.Join(work, "stategen.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for _, n := range ns {
		if _, err := runtime.Copy(ctx, st, dst, n, runtime.CopyOptions{}); err != nil {
			t.Fatalf("copy %s: %v", n, err)
		}
		want, _ := st.Digest(ctx, n)
		if got, err := dst.Digest(ctx, n); err != nil || got != want {
			t.Errorf("%s: digest %+v after the copy, want %+v (%v)", n, got, want, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, url := range []string{"pysqlite:", "pysqlite:" + filepath.Join(t.TempDir(), "missing")} {
		if _, err := runtime.Open(context.Background(), url); err == nil {
			t.Errorf("open %s: no error", url)
		}
	}
}

// TestPathsAsWritten: a directory named with '%' is read as named (not as
// an escape), and one that does not exist is ErrNotFound, "no store at",
// created by nobody.
func TestPathsAsWritten(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "py%41")
	if err := os.MkdirAll(filepath.Join(dir, "wf-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "wf-1", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT, timestamp TEXT)`,
		`CREATE TABLE checkpoints (name TEXT PRIMARY KEY, state TEXT, created_at TEXT)`,
		`INSERT INTO state VALUES ('phase', '"plan"', '2025-01-02T03:04:05.123456')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st, err := runtime.Open(ctx, "pysqlite:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, err := st.Get(ctx, "wf-1", "phase"); err != nil || string(v.Data) != `"plan"` {
		t.Fatalf("get from %s: %s, %v", dir, v.Data, err)
	}
	_, err = runtime.Open(ctx, "pysqlite:"+filepath.Join(root, "nosuch"), runtime.ReadOnly())
	if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "no store at") {
		t.Fatalf("missing directory: %v, want ErrNotFound saying no store at", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("opens created files: %v", entries)
	}
}
