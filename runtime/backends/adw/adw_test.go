package adw

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

func openBackend(t *testing.T) (*Backend, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "agents")
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestLayout checks the exact bytes of adw_state.json, written as Python's
// json.dump(state, f, indent=2) writes it, and of meta.json beside it.
func TestLayout(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	schema := runtime.SchemaRef{Name: "ADWState", Version: 2}
	rev := fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Schema: &schema, Puts: []runtime.KV{
		fstest.KV("adw_id", `"a1b2c3d4"`),
		fstest.KV("issue_number", `"42"`),
		fstest.KV("branch_name", `"feat/é<x>&y 𝄞"`),
		fstest.KV("all_adws", `["adw_plan"]`),
		fstest.KV("plan_file", `null`),
		fstest.KV("backend_port", `9101`),
	}})
	if rev != 1 {
		t.Fatalf("first revision %d, want 1", rev)
	}
	// New keys are sorted; no trailing newline.
	wantData := `{
  "adw_id": "a1b2c3d4",
  "all_adws": [
    "adw_plan"
  ],
  "backend_port": 9101,
  "branch_name": "feat/\u00e9<x>&y \ud834\udd1e",
  "issue_number": "42",
  "plan_file": null
}`
	dataPath := filepath.Join(dir, "a1b2c3d4", "adw_state.json")
	if got := fstest.ReadFile(t, dataPath); got != wantData {
		t.Fatalf("adw_state.json:\n%s\nwant:\n%s", got, wantData)
	}
	wantMeta := `{
  "revision": 1,
  "schema": {
    "name": "ADWState",
    "version": 2
  },
  "keys": {
    "adw_id": 1,
    "all_adws": 1,
    "backend_port": 1,
    "branch_name": 1,
    "issue_number": 1,
    "plan_file": 1
  },
  "sha256": "` + sha(wantData) + `"
}
`
	metaPath := filepath.Join(dir, "a1b2c3d4", ".stategen", "meta.json")
	if got := fstest.ReadFile(t, metaPath); got != wantMeta {
		t.Fatalf("meta.json:\n%s\nwant:\n%s", got, wantMeta)
	}

	// A second write: keys keep their place, meta records per-key revisions.
	fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("issue_number", `"43"`)}, Deletes: []string{"plan_file"}})
	wantData = strings.Replace(strings.Replace(wantData, `"42"`, `"43"`, 1), ",\n  \"plan_file\": null", "", 1)
	if got := fstest.ReadFile(t, dataPath); got != wantData {
		t.Fatalf("adw_state.json after the second write:\n%s\nwant:\n%s", got, wantData)
	}
	var m meta
	if err := json.Unmarshal([]byte(fstest.ReadFile(t, metaPath)), &m); err != nil {
		t.Fatal(err)
	}
	wantKeys := map[string]int64{"adw_id": 1, "all_adws": 1, "backend_port": 1, "branch_name": 1, "issue_number": 2}
	if m.Revision != 2 || !cmp.Equal(m.Keys, wantKeys) || m.SHA256 != sha(wantData) || *m.Schema != schema {
		t.Errorf("meta %+v", m)
	}

	v, err := b.Get(ctx, "a1b2c3d4", "branch_name")
	if err != nil || string(v.Data) != `"feat/é<x>&y 𝄞"` || v.Revision != 1 {
		t.Errorf("get: %s rev %d, %v", v.Data, v.Revision, err)
	}
	snap, err := b.Snapshot(ctx, "a1b2c3d4")
	if err != nil || snap.Revision != 2 || snap.Schema != schema || len(snap.Values) != 5 || snap.Values["issue_number"].Revision != 2 {
		t.Errorf("snapshot %+v, %v", snap, err)
	}

	// Checkpoints live in .stategen too, and nothing else was created.
	st := runtime.New(b, "test")
	if _, err := st.Checkpoint(ctx, "a1b2c3d4", "cp"); err != nil {
		t.Fatal(err)
	}
	var names []string
	filepath.WalkDir(filepath.Join(dir, "a1b2c3d4"), func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		fi, _ := d.Info()
		names = append(names, rel+" "+fi.Mode().Perm().String())
		return nil
	})
	want := []string{
		"a1b2c3d4 -rwx------",
		"a1b2c3d4/.stategen -rwx------",
		"a1b2c3d4/.stategen/checkpoints -rwx------",
		"a1b2c3d4/.stategen/checkpoints/cp.json -rw-------",
		"a1b2c3d4/.stategen/lock -rw-------",
		"a1b2c3d4/.stategen/meta.json -rw-------",
		"a1b2c3d4/adw_state.json -rw-------",
	}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	cp, err := st.GetCheckpoint(ctx, "a1b2c3d4", "cp")
	if err != nil {
		t.Fatal(err)
	}
	if cp.Revision != 2 || cp.Keys != 5 || cp.Schema != schema || string(cp.Values["branch_name"].Data) != `"feat/é<x>&y 𝄞"` || cp.Values["issue_number"].Revision != 2 {
		t.Errorf("checkpoint %+v", cp)
	}
}

// pythonFile is an adw_state.json as ADWState.save writes it: the model's
// field order, nulls included, plus a field the Go port does not know.
const pythonFile = `{
  "adw_id": "a1b2c3d4",
  "issue_number": "42",
  "branch_name": null,
  "plan_file": "specs/plan-\u00e9.md",
  "issue_class": "/feature",
  "worktree_path": null,
  "backend_port": 9101,
  "model_set": "base",
  "all_adws": [
    "adw_plan_iso"
  ],
  "python_only": {
    "ratio": 0.1,
    "big": 12345678901234567890
  },
  "not a stategen name": 1
}`

// TestPythonFileKept checks that writes keep Python's order, its unknown
// keys and the way it writes them, byte for byte.
func TestPythonFileKept(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	path := filepath.Join(dir, "a1b2c3d4", "adw_state.json")
	fstest.WriteFile(t, path, pythonFile)

	// Read as written by Python alone: revision 1 everywhere.
	snap, err := b.Snapshot(ctx, "a1b2c3d4")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 1 || len(snap.Values) != 10 || snap.Values["adw_id"].Revision != 1 {
		t.Errorf("snapshot of a Python file: revision %d, %d keys", snap.Revision, len(snap.Values))
	}
	if _, ok := snap.Values["not a stategen name"]; ok {
		t.Error("a key stategen cannot name is visible")
	}
	if got := string(snap.Values["python_only"].Data); got != `{"ratio":0.1,"big":12345678901234567890}` {
		t.Errorf("python_only read as %s", got)
	}

	// Rewriting a value with itself gives Python's bytes back.
	fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("model_set", `"base"`)}})
	if got := fstest.ReadFile(t, path); got != pythonFile {
		t.Fatalf("rewrite changed the file:\n%s", got)
	}
	// Changes stay in place; new keys are appended, sorted.
	fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("branch_name", `"feat-42"`), fstest.KV("zeta", `1`), fstest.KV("alpha", `[true, false]`)}})
	want := strings.Replace(pythonFile, `"branch_name": null`, `"branch_name": "feat-42"`, 1)
	want = strings.TrimSuffix(want, "\n}") + ",\n  \"alpha\": [\n    true,\n    false\n  ],\n  \"zeta\": 1\n}"
	if got := fstest.ReadFile(t, path); got != want {
		t.Fatalf("after changes:\n%s\nwant:\n%s", got, want)
	}
	// Replace removes stategen's other keys but never one it cannot name.
	fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Replace: true, Puts: []runtime.KV{fstest.KV("adw_id", `"a1b2c3d4"`)}})
	want = "{\n  \"adw_id\": \"a1b2c3d4\",\n  \"not a stategen name\": 1\n}"
	if got := fstest.ReadFile(t, path); got != want {
		t.Fatalf("after replace:\n%s\nwant:\n%s", got, want)
	}
}

// TestForeignWrites: a Python phase rewrites adw_state.json between
// stategen's writes; conditions against what was read before fail.
// A writer that dies between its two renames (meta.json replaced,
// adw_state.json not yet) leaves the old file beside the new meta: it must
// read as the old state, wholly, with its own revision and schema, so a
// schema change (a migration) is never seen half done.
func TestCrashBetweenRenames(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	v1, v2 := runtime.SchemaRef{Name: "S", Version: 1}, runtime.SchemaRef{Name: "S", Version: 2}
	r1 := fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Schema: &v1, Puts: []runtime.KV{fstest.KV("old", `1`)}})
	path := filepath.Join(dir, "a1b2c3d4", "adw_state.json")
	oldFile := fstest.ReadFile(t, path)

	fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Schema: &v2, Replace: true, Puts: []runtime.KV{fstest.KV("new", `2`)}})
	fstest.WriteFile(t, path, oldFile) // the data rename never happened

	snap, err := b.Snapshot(ctx, "a1b2c3d4")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Schema != v1 || snap.Revision != r1 || len(snap.Values) != 1 || snap.Values["old"].Revision != r1 {
		t.Fatalf("after a crash between the renames: schema %v, revision %d (want %v, %d), values %v", snap.Schema, snap.Revision, v1, r1, snap.Values)
	}
	// The store goes on from there: a write conditioned on that revision
	// succeeds, and its revision is past the crashed one's.
	r3, err := b.Apply(ctx, "a1b2c3d4", &runtime.Batch{Conds: []runtime.Cond{{Revision: r1}}, Puts: []runtime.KV{fstest.KV("later", `3`)}})
	if err != nil || r3 <= r1 {
		t.Fatalf("write after the crash: revision %d, %v", r3, err)
	}
	if snap, _ := b.Snapshot(ctx, "a1b2c3d4"); snap.Schema != v1 || len(snap.Values) != 2 {
		t.Fatalf("after the next write: %v %v", snap.Schema, snap.Values)
	}
}

func TestForeignWrites(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	path := filepath.Join(dir, "a1b2c3d4", "adw_state.json")
	fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("adw_id", `"a1b2c3d4"`), fstest.KV("issue_number", `"1"`)}})
	fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("branch_name", `"b"`)}}) // 2
	conflict := func(what string, conds ...runtime.Cond) {
		t.Helper()
		if _, err := b.Apply(ctx, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("x", `0`)}, Conds: conds}); !errors.Is(err, runtime.ErrConflict) {
			t.Errorf("%s: got %v, want ErrConflict", what, err)
		}
	}
	// Python's save: new bytes, no meta update.
	fstest.WriteFile(t, path, "{\n  \"adw_id\": \"a1b2c3d4\",\n  \"issue_number\": \"1\",\n  \"branch_name\": \"python\"\n}")
	snap, err := b.Snapshot(ctx, "a1b2c3d4")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 3 {
		t.Errorf("revision after a foreign write: %d, want 3", snap.Revision)
	}
	for k, v := range snap.Values {
		if v.Revision != 3 {
			t.Errorf("key %s after a foreign write: revision %d, want 3", k, v.Revision)
		}
	}
	conflict("namespace condition from before", runtime.Cond{Revision: 2})
	conflict("key condition from before (changed key)", runtime.Cond{Key: "branch_name", Revision: 2})
	conflict("key condition from before (unchanged key)", runtime.Cond{Key: "issue_number", Revision: 1})
	if r := fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("plan_file", `"p"`)}, Conds: []runtime.Cond{{Key: "branch_name", Revision: 3}}}); r != 4 {
		t.Errorf("write after a foreign write: revision %d, want 4", r)
	}
	if v, _ := b.Get(ctx, "a1b2c3d4", "branch_name"); v.Revision != 3 || string(v.Data) != `"python"` {
		t.Errorf("foreign key after a stategen write: %s at %d, want \"python\" at 3", v.Data, v.Revision)
	}
	// The same holds when meta.json is lost, or was never written.
	os.Remove(filepath.Join(dir, "a1b2c3d4", ".stategen", "meta.json"))
	if snap, _ := b.Snapshot(ctx, "a1b2c3d4"); snap.Revision != 1 {
		t.Errorf("revision without meta: %d, want 1", snap.Revision)
	}
	// Python deletes the file: the namespace holds nothing, so it is not
	// found, but its revisions go on from where they were.
	fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k", `1`)}}) // 2
	os.Remove(path)
	if snap, err := b.Snapshot(ctx, "a1b2c3d4"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("after the file was deleted: %+v, %v; want ErrNotFound", snap, err)
	}
	if r := fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k", `2`)}}); r != 4 {
		t.Errorf("write after the file was deleted: revision %d, want 4 (past the deleted state's 3)", r)
	}
}

func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	const goodData = "{\n  \"k\": 1\n}"
	cases := map[string]struct{ data, meta string }{
		"empty file":              {"", ""},
		"truncated":               {`{"k": [1`, ""},
		"not an object":           {`[1, 2]`, ""},
		"NaN (Python can)":        {`{"k": NaN}`, ""},
		"trailing garbage":        {`{"k": 1} {}`, ""},
		"meta not JSON":           {goodData, `{"revision": `},
		"meta revision 0":         {goodData, `{"revision": 0, "keys": {}, "sha256": ""}`},
		"meta revision not a num": {goodData, `{"revision": "1", "keys": {}, "sha256": ""}`},
	}
	for what, c := range cases {
		t.Run(what, func(t *testing.T) {
			b, dir := openBackend(t)
			dataPath := filepath.Join(dir, "ns", "adw_state.json")
			metaPath := filepath.Join(dir, "ns", ".stategen", "meta.json")
			fstest.WriteFile(t, dataPath, c.data)
			if c.meta != "" {
				fstest.WriteFile(t, metaPath, c.meta)
			}
			st := runtime.New(b, "test", runtime.WithoutCache())
			errs := map[string]error{}
			_, errs["get"] = b.Get(ctx, "ns", "k")
			_, errs["snapshot"] = b.Snapshot(ctx, "ns")
			_, errs["put"] = b.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("other", `1`)}})
			_, errs["replace"] = b.Apply(ctx, "ns", &runtime.Batch{Replace: true})
			_, errs["checkpoint"] = st.Checkpoint(ctx, "ns", "cp")
			for op, err := range errs {
				if !errors.Is(err, runtime.ErrCorrupt) {
					t.Errorf("%s: got %v, want ErrCorrupt", op, err)
				}
			}
			if got := fstest.ReadFile(t, dataPath); got != c.data {
				t.Errorf("corrupt data rewritten: %q", got)
			}
			if c.meta != "" && fstest.ReadFile(t, metaPath) != c.meta {
				t.Errorf("meta rewritten: %q", fstest.ReadFile(t, metaPath))
			}
		})
	}
	for what, content := range map[string]string{
		"not JSON":   `{"name": "cp", `,
		"no value":   `{"name": "cp", "created": "2025-01-01T00:00:00Z", "revision": 1, "values": {"k": {"revision": 1}}}`,
		"no created": `{"name": "cp", "revision": 1, "values": {}}`,
	} {
		t.Run("checkpoint "+what, func(t *testing.T) {
			b, dir := openBackend(t)
			fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k", `1`)}})
			path := filepath.Join(dir, "ns", ".stategen", "checkpoints", "bad.json")
			fstest.WriteFile(t, path, content)
			if _, err := b.GetCheckpoint(ctx, "ns", "bad"); !errors.Is(err, runtime.ErrCorrupt) {
				t.Errorf("get: %v", err)
			}
			// Listed with its error, as runtime.Backend says, not failing the listing.
			if l, err := b.Checkpoints(ctx, "ns"); err != nil || len(l) != 1 || l[0].Name != "bad" || !errors.Is(l[0].Err, runtime.ErrCorrupt) {
				t.Errorf("%s: %+v, %v; want bad listed with ErrCorrupt", "list", l, err)
			}
			if fstest.ReadFile(t, path) != content {
				t.Error("rewritten")
			}
			if err := b.DeleteCheckpoint(ctx, "ns", "bad"); err != nil {
				t.Errorf("delete: %v", err)
			}
		})
	}
}

// TestNamesStayInside calls the backend directly, without the Store's
// checks, with names that would leave the directory, and with an ADW id
// that is a symbolic link out of it.
func TestNamesStayInside(t *testing.T) {
	fstest.NamesStayInside(t, func(dir string) (runtime.Backend, error) { return Open(dir) }, "adw_state.json", `{"secret": 1}`, "secret")
}

func TestStamp(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	seen := map[runtime.Stamp]bool{}
	s, err := b.Stamp(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	seen[s] = true
	for i := range 10 {
		fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k", `1`)}}) // same bytes every time
		s, err := b.Stamp(ctx, "ns")
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("write %d: stamp seen before", i)
		}
		seen[s] = true
		if again, _ := b.Stamp(ctx, "ns"); again != s {
			t.Fatal("stamp changed without a write")
		}
	}
	before, _ := b.Stamp(ctx, "ns")
	time.Sleep(time.Millisecond)
	fstest.WriteFile(t, filepath.Join(dir, "ns", "adw_state.json"), `{"k": 2}`)
	if after, _ := b.Stamp(ctx, "ns"); after == before {
		t.Error("stamp unchanged by a foreign write")
	}
}

func TestNamespacesAndURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fstest.WriteFile(t, filepath.Join(dir, "agents", "py000001", "adw_state.json"), `{"adw_id": "py000001"}`)
	fstest.WriteFile(t, filepath.Join(dir, "agents", "logsonly", "sdlc_planner", "raw_output.jsonl"), `{}`)
	st, err := runtime.Open(ctx, "adw:"+filepath.Join(dir, "agents"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Put(ctx, "go000002", "adw_id", json.RawMessage(`"go000002"`)); err != nil {
		t.Fatal(err)
	}
	ns, err := st.Namespaces(ctx)
	if err != nil || !cmp.Equal(ns, []string{"go000002", "py000001"}) {
		t.Errorf("namespaces %v, %v", ns, err)
	}
	if _, err := runtime.Open(ctx, "adw:"+dir, runtime.WithTTL(time.Hour)); !errors.Is(err, runtime.ErrUnsupported) {
		t.Errorf("TTL: got %v, want ErrUnsupported", err)
	}
	if _, err := runtime.Open(ctx, "adw://host/x"); err == nil {
		t.Error("a URL with a host opened")
	}
	if _, err := st.Snapshot(ctx, "logsonly"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("directory without state: %v, want ErrNotFound", err)
	}
}
