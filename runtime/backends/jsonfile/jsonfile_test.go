package jsonfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/fsstore"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

// setClock makes the backend's clock return the given times in turn (the
// last one from then on).
func setClock(t *testing.T, times ...string) {
	t.Helper()
	var ts []time.Time
	for _, s := range times {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tm)
	}
	old := now
	now = func() time.Time {
		tm := ts[0]
		if len(ts) > 1 {
			ts = ts[1:]
		}
		return tm
	}
	t.Cleanup(func() { now = old })
}

func openBackend(t *testing.T) (*Backend, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

// TestLayout checks the exact bytes of state.json and of a checkpoint: the
// shape of Python's json.dump(state, f, indent=2) plus stategen's fields.
func TestLayout(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	setClock(t, "2025-01-02T03:04:05.123456Z")
	schema := runtime.SchemaRef{Name: "ADWState", Version: 2}
	rev := fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{
		Puts:   []runtime.KV{fstest.KV("issue_number", `42`), fstest.KV("branch_name", `"feat/é<x>"`)},
		Schema: &schema,
	})
	if rev != 1 {
		t.Fatalf("first revision %d, want 1", rev)
	}
	want := `{
  "__stategen__": {
    "value": {
      "revision": 1,
      "schema": {
        "name": "ADWState",
        "version": 2
      },
      "keys": 2
    },
    "timestamp": "2025-01-02T03:04:05.123456"
  },
  "branch_name": {
    "value": "feat/\u00e9<x>",
    "timestamp": "2025-01-02T03:04:05.123456",
    "revision": 1
  },
  "issue_number": {
    "value": 42,
    "timestamp": "2025-01-02T03:04:05.123456",
    "revision": 1
  }
}`
	statePath := filepath.Join(dir, "a1b2c3d4", "state.json")
	if got := fstest.ReadFile(t, statePath); got != want {
		t.Fatalf("state.json:\n%s\nwant:\n%s", got, want)
	}

	setClock(t, "2025-01-02T03:04:06.000001Z")
	fstest.Apply(t, b, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{fstest.KV("all_adws", `["adw_plan", "adw_build"]`)}, Deletes: []string{"issue_number"}})
	want = `{
  "__stategen__": {
    "value": {
      "revision": 2,
      "schema": {
        "name": "ADWState",
        "version": 2
      },
      "keys": 2
    },
    "timestamp": "2025-01-02T03:04:06.000001"
  },
  "branch_name": {
    "value": "feat/\u00e9<x>",
    "timestamp": "2025-01-02T03:04:05.123456",
    "revision": 1
  },
  "all_adws": {
    "value": [
      "adw_plan",
      "adw_build"
    ],
    "timestamp": "2025-01-02T03:04:06.000001",
    "revision": 2
  }
}`
	if got := fstest.ReadFile(t, statePath); got != want {
		t.Fatalf("state.json after the second write:\n%s\nwant:\n%s", got, want)
	}

	// Values come back compact, unescaped, with their revision and time.
	v, err := b.Get(ctx, "a1b2c3d4", "branch_name")
	if err != nil {
		t.Fatal(err)
	}
	if string(v.Data) != `"feat/é<x>"` || v.Revision != 1 || !v.Updated.Equal(time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)) {
		t.Errorf("get: %s rev %d at %v", v.Data, v.Revision, v.Updated)
	}

	// A checkpoint: the same shape, keys sorted, plus its creation time.
	st := runtime.New(b, "test")
	setClock(t, "2025-01-02T03:04:07.5Z")
	snap, err := st.Snapshot(ctx, "a1b2c3d4")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutCheckpoint(ctx, "a1b2c3d4", &runtime.Checkpoint{
		CheckpointInfo: runtime.CheckpointInfo{Name: "after_plan", Created: now(), Revision: snap.Revision, Schema: snap.Schema},
		Values:         snap.Values,
	}); err != nil {
		t.Fatal(err)
	}
	want = `{
  "__stategen__": {
    "value": {
      "revision": 2,
      "schema": {
        "name": "ADWState",
        "version": 2
      },
      "keys": 2,
      "created": "2025-01-02T03:04:07.5Z"
    },
    "timestamp": "2025-01-02T03:04:07.500000"
  },
  "all_adws": {
    "value": [
      "adw_plan",
      "adw_build"
    ],
    "timestamp": "2025-01-02T03:04:06.000001",
    "revision": 2
  },
  "branch_name": {
    "value": "feat/\u00e9<x>",
    "timestamp": "2025-01-02T03:04:05.123456",
    "revision": 1
  }
}`
	if got := fstest.ReadFile(t, filepath.Join(dir, "a1b2c3d4", "checkpoints", "after_plan.json")); got != want {
		t.Fatalf("checkpoint:\n%s\nwant:\n%s", got, want)
	}
	cps, err := b.Checkpoints(ctx, "a1b2c3d4")
	if err != nil || len(cps) != 1 {
		t.Fatalf("checkpoints %v, %v", cps, err)
	}
	if c := cps[0]; c.Name != "after_plan" || c.Revision != 2 || c.Keys != 2 || c.Schema != schema || !c.Created.Equal(now()) {
		t.Errorf("checkpoint info %+v", c)
	}

	// Private files and directories; the lock file holds the revision.
	for _, p := range []string{"a1b2c3d4", "a1b2c3d4/checkpoints"} {
		if fi, _ := os.Stat(filepath.Join(dir, p)); fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v", p, fi.Mode().Perm())
		}
	}
	for _, p := range []string{"a1b2c3d4/state.json", "a1b2c3d4/.lock", "a1b2c3d4/checkpoints/after_plan.json"} {
		if fi, _ := os.Stat(filepath.Join(dir, p)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", p, fi.Mode().Perm())
		}
	}
	if got := fstest.ReadFile(t, filepath.Join(dir, "a1b2c3d4", ".lock")); got != "00000000000000000002\n" {
		t.Errorf("lock file holds %q", got)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "a1b2c3d4"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != ".lock checkpoints state.json" {
		t.Errorf("namespace directory holds %v", names)
	}
}

// TestForeignKeysKept checks that a write keeps the file's order, adds new
// keys at the end in sorted order, and keeps entries that are not
// stategen's byte for byte.
func TestForeignKeysKept(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	path := filepath.Join(dir, "ns", "state.json")
	fstest.WriteFile(t, path, `{"zeta": {"value": 1, "timestamp": "2024-05-06T07:08:09"},
 "my key": {"value": {"odd": true}, "timestamp": "2024-05-06T07:08:09.5", "extra": 1},
 "alpha": {"value": "a", "timestamp": "2024-05-06T07:08:09.000001", "note": "kept?"},
 "__other": [1, 2]}`)
	snap, err := b.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Keys(); strings.Join(got, ",") != "alpha,zeta" {
		t.Errorf("keys %v: entries whose names stategen refuses must be invisible", got)
	}
	if u := snap.Values["zeta"].Updated; !u.Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)) {
		t.Errorf("Python timestamp without microseconds read as %v", u)
	}
	setClock(t, "2025-01-01T00:00:00Z")
	fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("new_b", `true`), fstest.KV("alpha", `"A"`), fstest.KV("new_a", `null`)}})
	want := `{
  "__stategen__": {
    "value": {
      "revision": 2,
      "keys": 4
    },
    "timestamp": "2025-01-01T00:00:00.000000"
  },
  "zeta": {
    "value": 1,
    "timestamp": "2024-05-06T07:08:09",
    "revision": 1
  },
  "my key": {
    "value": {
      "odd": true
    },
    "timestamp": "2024-05-06T07:08:09.5",
    "extra": 1
  },
  "alpha": {
    "value": "A",
    "timestamp": "2025-01-01T00:00:00.000000",
    "revision": 2
  },
  "__other": [
    1,
    2
  ],
  "new_a": {
    "value": null,
    "timestamp": "2025-01-01T00:00:00.000000",
    "revision": 2
  },
  "new_b": {
    "value": true,
    "timestamp": "2025-01-01T00:00:00.000000",
    "revision": 2
  }
}`
	if got := fstest.ReadFile(t, path); got != want {
		t.Fatalf("state.json:\n%s\nwant:\n%s", got, want)
	}
	// Replace removes stategen's other keys, never the foreign ones.
	fstest.Apply(t, b, "ns", &runtime.Batch{Replace: true, Puts: []runtime.KV{fstest.KV("new_a", `1`)}})
	doc, err := fsstore.ParseObject([]byte(fstest.ReadFile(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range doc.Members {
		keys = append(keys, m.Key)
	}
	if strings.Join(keys, ",") != "__stategen__,my key,__other,new_a" {
		t.Errorf("after replace the file holds %v", keys)
	}
}

// TestForeignWrites plays the Python program's save, delete and
// restore_checkpoint against the file and checks that compare-and-set
// against anything read before each of them fails, and that revisions only
// grow.
func TestForeignWrites(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	path := filepath.Join(dir, "ns", "state.json")
	// pyEdit edits the file as Python does: load, change, dump.
	pyEdit := func(edit func(doc *fsstore.Node)) {
		t.Helper()
		doc, err := fsstore.ParseObject([]byte(fstest.ReadFile(t, path)))
		if err != nil {
			t.Fatal(err)
		}
		edit(doc)
		fstest.WriteFile(t, path, string(fsstore.AppendPython(nil, doc)))
	}
	pySave := func(key, value string) {
		pyEdit(func(doc *fsstore.Node) {
			v, _ := fsstore.Parse([]byte(value))
			e := fsstore.NewObject()
			e.Set("value", v)
			e.Set("timestamp", fsstore.StringNode("2025-02-03T04:05:06.789012"))
			doc.Set(key, e)
		})
	}
	conflict := func(what string, conds ...runtime.Cond) {
		t.Helper()
		if _, err := b.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("x", `0`)}, Conds: conds}); !errors.Is(err, runtime.ErrConflict) {
			t.Errorf("%s: got %v, want ErrConflict", what, err)
		}
	}
	revOf := func(key string) int64 {
		t.Helper()
		v, err := b.Get(ctx, "ns", key)
		if err != nil {
			t.Fatal(err)
		}
		return v.Revision
	}
	nsRev := func() int64 {
		t.Helper()
		s, err := b.Snapshot(ctx, "ns")
		if err != nil {
			t.Fatal(err)
		}
		return s.Revision
	}

	fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("a", `1`)}})
	fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("b", `2`)}})
	checkpoint, err := os.ReadFile(path) // what Python's checkpoint copies
	if err != nil {
		t.Fatal(err)
	}

	// save: the entry loses its revision.
	pySave("a", `10`)
	if r := revOf("a"); r != 3 {
		t.Errorf("key saved by Python: revision %d, want 3", r)
	}
	if r := nsRev(); r != 3 {
		t.Errorf("namespace after a Python save: revision %d, want 3", r)
	}
	conflict("key condition from before a Python save", runtime.Cond{Key: "a", Revision: 1})
	conflict("namespace condition from before a Python save", runtime.Cond{Revision: 2})
	// A key Python did not touch keeps its revision.
	if r := fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("b", `20`)}, Conds: []runtime.Cond{{Key: "b", Revision: 2}}}); r != 4 {
		t.Errorf("write after a Python save: revision %d, want 4", r)
	}
	if r := revOf("a"); r != 3 {
		t.Errorf("key saved by Python, after a stategen write: revision %d, want 3 (written down)", r)
	}

	// delete: the key count no longer matches.
	pyEdit(func(doc *fsstore.Node) { doc.Delete("b") })
	if r := nsRev(); r != 5 {
		t.Errorf("namespace after a Python delete: revision %d, want 5", r)
	}
	conflict("namespace condition from before a Python delete", runtime.Cond{Revision: 4})
	conflict("key condition on a key Python deleted", runtime.Cond{Key: "b", Revision: 4})
	fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("c", `3`)}, Conds: []runtime.Cond{{Revision: 5}}}) // 6

	// restore_checkpoint: an older copy comes back. Revisions do not go
	// back with it.
	fstest.WriteFile(t, path, string(checkpoint))
	if r := nsRev(); r != 7 {
		t.Errorf("namespace after a Python restore: revision %d, want 7 (past the 6 written before)", r)
	}
	if r := revOf("a"); r != 7 {
		t.Errorf("key after a Python restore: revision %d, want 7", r)
	}
	conflict("namespace condition from before a Python restore", runtime.Cond{Revision: 6})
	conflict("key condition from the checkpoint's time", runtime.Cond{Key: "a", Revision: 1})
	if r := fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("d", `4`)}, Conds: []runtime.Cond{{Revision: 7}}}); r != 8 {
		t.Errorf("write after a Python restore: revision %d, want 8", r)
	}
	v, _ := b.Get(ctx, "ns", "a")
	if string(v.Data) != "1" {
		t.Errorf("restored value %s, want 1", v.Data)
	}
}

// TestPythonOnlyFile reads a file Python wrote alone: no bookkeeping at all.
func TestPythonOnlyFile(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	fstest.WriteFile(t, filepath.Join(dir, "ns", "state.json"), `{
  "k": {
    "value": {"a": [1, 2]},
    "timestamp": "2024-01-02T03:04:05.678901"
  }
}`)
	fstest.WriteFile(t, filepath.Join(dir, "ns", "checkpoints", "cp.json"), `{"k": {"value": 1, "timestamp": "2024-01-02T03:04:05"}}`)
	fstest.WriteFile(t, filepath.Join(dir, "empty", "state.json"), `{}`)
	snap, err := b.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 1 || snap.Values["k"].Revision != 1 || string(snap.Values["k"].Data) != `{"a":[1,2]}` {
		t.Errorf("snapshot %+v", snap)
	}
	cp, err := b.GetCheckpoint(ctx, "ns", "cp")
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "ns", "checkpoints", "cp.json"))
	if cp.Revision != 1 || cp.Keys != 1 || !cp.Created.Equal(fi.ModTime()) || string(cp.Values["k"].Data) != "1" {
		t.Errorf("Python checkpoint %+v: want revision 1, one key, created at the file's time", cp)
	}
	// A file Python left empty holds nothing: not found, and revision 0
	// for conditions.
	if _, err := b.Snapshot(ctx, "empty"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("empty file: %v, want ErrNotFound", err)
	}
	if _, err := b.Apply(ctx, "empty", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k", `1`)}, Conds: []runtime.Cond{{Revision: 0}}}); err != nil {
		t.Errorf("create in an empty file: %v", err)
	}
	ns, err := b.Namespaces(ctx)
	if err != nil || strings.Join(ns, ",") != "empty,ns" {
		t.Errorf("namespaces %v, %v", ns, err)
	}
}

func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	files := map[string]string{
		"empty file":           ``,
		"truncated":            `{"k": {"value": 1`,
		"not an object":        `[{"value": 1}]`,
		"entry without value":  `{"k": {"timestamp": "2024-01-02T03:04:05"}}`,
		"entry not an object":  `{"k": 5}`,
		"bad revision":         `{"k": {"value": 1, "revision": 1.5}}`,
		"zero revision":        `{"k": {"value": 1, "revision": 0}}`,
		"bad reserved entry":   `{"__stategen__": {"value": {"revision": "seven"}}, "k": {"value": 1}}`,
		"reserved, no value":   `{"__stategen__": 1, "k": {"value": 1}}`,
		"bad schema":           `{"__stategen__": {"value": {"revision": 1, "schema": "S"}}, "k": {"value": 1}}`,
		"NaN (Python can)":     `{"k": {"value": NaN}}`,
		"trailing garbage":     `{"k": {"value": 1}} x`,
		"duplicate then trunc": `{"k": {"value": 1}, "k": {"value": `,
	}
	for what, content := range files {
		t.Run(what, func(t *testing.T) {
			b, dir := openBackend(t)
			path := filepath.Join(dir, "ns", "state.json")
			fstest.WriteFile(t, path, content)
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
			if errs["get"] != nil && !strings.Contains(errs["get"].Error(), path) {
				t.Errorf("error %q does not name the file", errs["get"])
			}
			if got := fstest.ReadFile(t, path); got != content {
				t.Errorf("corrupt file rewritten: %q", got)
			}
		})
	}
	t.Run("checkpoint", func(t *testing.T) {
		b, dir := openBackend(t)
		fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k", `1`)}})
		path := filepath.Join(dir, "ns", "checkpoints", "bad.json")
		fstest.WriteFile(t, path, `{"k": {}}`)
		if _, err := b.GetCheckpoint(ctx, "ns", "bad"); !errors.Is(err, runtime.ErrCorrupt) {
			t.Errorf("get checkpoint: %v", err)
		}
		// Listed with its error, as runtime.Backend says, not failing the listing.
		if l, err := b.Checkpoints(ctx, "ns"); err != nil || len(l) != 1 || l[0].Name != "bad" || !errors.Is(l[0].Err, runtime.ErrCorrupt) {
			t.Errorf("%s: %+v, %v; want bad listed with ErrCorrupt", "list checkpoints", l, err)
		}
		if _, err := runtime.New(b, "test").Restore(ctx, "ns", "bad"); !errors.Is(err, runtime.ErrCorrupt) {
			t.Errorf("restore: %v", err)
		}
		if got := fstest.ReadFile(t, path); got != `{"k": {}}` {
			t.Errorf("corrupt checkpoint rewritten: %q", got)
		}
		// It can still be deleted.
		if err := b.DeleteCheckpoint(ctx, "ns", "bad"); err != nil {
			t.Errorf("delete corrupt checkpoint: %v", err)
		}
	})
}

// TestNamesStayInside calls the backend directly, without the Store's
// checks, with names that would leave the directory, and with a namespace
// that is a symbolic link out of it.
func TestNamesStayInside(t *testing.T) {
	fstest.NamesStayInside(t, func(dir string) (runtime.Backend, error) { return Open(dir) }, "state.json", `{"k": {"value": "secret"}}`, "k")
}

func TestStamp(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	s0, err := b.Stamp(ctx, "ns")
	if err != nil || s0 != (runtime.Stamp{}) {
		t.Fatalf("stamp of a missing namespace: %v, %v", s0, err)
	}
	seen := map[runtime.Stamp]bool{s0: true}
	for i := range 10 {
		fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k", `1`)}}) // same size every time
		s, err := b.Stamp(ctx, "ns")
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("write %d: stamp %v seen before", i, s)
		}
		seen[s] = true
		if again, _ := b.Stamp(ctx, "ns"); again != s {
			t.Fatalf("stamp changed without a write")
		}
	}
	// A foreign write (Python's rename of state.tmp) changes it too.
	s1, _ := b.Stamp(ctx, "ns")
	fstest.WriteFile(t, filepath.Join(dir, "ns", "state.tmp"), fstest.ReadFile(t, filepath.Join(dir, "ns", "state.json")))
	if err := os.Rename(filepath.Join(dir, "ns", "state.tmp"), filepath.Join(dir, "ns", "state.json")); err != nil {
		t.Fatal(err)
	}
	if s2, _ := b.Stamp(ctx, "ns"); s2 == s1 {
		t.Error("stamp unchanged by a foreign replace")
	}
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{"json:" + dir + "/a", "json://" + dir + "/b"} {
		st, err := runtime.Open(ctx, u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	for _, sub := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, sub, "ns", "state.json")); err != nil {
			t.Error(err)
		}
	}
	// Relative: to the working directory.
	t.Chdir(dir)
	st, err := runtime.Open(ctx, "json:rel/state")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, "rel", "state", "ns", "state.json")); err != nil {
		t.Error(err)
	}
	if _, err := runtime.Open(ctx, "json:"+dir, runtime.WithTTL(time.Hour)); !errors.Is(err, runtime.ErrUnsupported) {
		t.Errorf("TTL: got %v, want ErrUnsupported", err)
	}
	for _, bad := range []string{"json://host/dir", "json:dir?x=1"} {
		if _, err := runtime.Open(ctx, bad); err == nil {
			t.Errorf("%s: opened", bad)
		}
	}
}

// TestInvalidValue: a backend called directly refuses a value that is not
// JSON and writes nothing.
func TestInvalidValue(t *testing.T) {
	ctx := context.Background()
	b, dir := openBackend(t)
	fstest.Apply(t, b, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k", `1`)}})
	before := fstest.ReadFile(t, filepath.Join(dir, "ns", "state.json"))
	if _, err := b.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("a", `2`), fstest.KV("b", `{oops`)}}); !errors.Is(err, runtime.ErrInvalidValue) {
		t.Errorf("got %v, want ErrInvalidValue", err)
	}
	if !bytes.Equal([]byte(before), []byte(fstest.ReadFile(t, filepath.Join(dir, "ns", "state.json")))) {
		t.Error("state changed")
	}
}
