package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
)

// flat is a test format like the ADW one: keys a and b in data.json as
// bare values, every other key beside it.
type flat struct{}

func (flat) Noun() string                                    { return "namespace" }
func (flat) DataFile() string                                { return "data.json" }
func (flat) CheckpointDir() string                           { return "checkpoints" }
func (flat) InFile(key string) bool                          { return key == "a" || key == "b" }
func (flat) Unwrap(member []byte) ([]byte, time.Time, error) { return member, time.Time{}, nil }
func (flat) Wrap(value []byte, _ time.Time) []byte           { return value }

var ctx = context.Background()

func newBackend(t *testing.T, dir string, cfg runtime.Config) *Backend {
	t.Helper()
	b, err := Open(dir, flat{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func kv(key, value string) runtime.KV { return runtime.KV{Key: key, Value: json.RawMessage(value)} }

func apply(t *testing.T, b *Backend, batch *runtime.Batch) int64 {
	t.Helper()
	rev, err := b.Apply(ctx, "ns", batch)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func snapshot(t *testing.T, b *Backend) (*runtime.Snapshot, map[string]string) {
	t.Helper()
	snap, err := b.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{}
	for k, v := range snap.Values {
		vals[k] = string(v.Data)
	}
	return snap, vals
}

// writeInPlace rewrites a file the way Python's open(path, "w") does:
// truncated, then written, same inode.
func writeInPlace(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func setHook(t *testing.T, h func(point, ns string)) {
	old := testHook
	testHook = h
	t.Cleanup(func() { testHook = old })
}

func TestLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	b := newBackend(t, dir, runtime.Config{})
	schema := runtime.SchemaRef{Name: "S", Version: 2}
	rev := apply(t, b, &runtime.Batch{Schema: &schema, Puts: []runtime.KV{kv("b", `"é"`), kv("x", `{"go": [1]}`), kv("a", `null`)}})
	if rev != 1 {
		t.Fatalf("revision %d", rev)
	}
	// Keys of the data file in the batch's order, formatted as Python's
	// json.dump(indent=2); the others in the bookkeeping.
	if got := readFile(t, filepath.Join(dir, "ns", "data.json")); got != "{\n  \"b\": \"\\u00e9\",\n  \"a\": null\n}" {
		t.Errorf("data.json:\n%s", got)
	}
	var m meta
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "ns", ".stategen", "meta.json"))), &m); err != nil {
		t.Fatal(err)
	}
	// prev describes what was there before: nothing, so that a crash
	// before the data file is written leaves no namespace.
	if m.Revision != 1 || !m.Schema.Equal(schema) || string(appendCompact(nil, m.Extra["x"])) != `{"go":[1]}` || len(m.Keys) != 3 ||
		m.Data == nil || m.Prev == nil || m.Prev.Revision != 0 || m.Prev.Data != nil {
		t.Errorf("meta %+v", m)
	}
	snap, vals := snapshot(t, b)
	if snap.Revision != 1 || !snap.Schema.Equal(schema) || vals["a"] != "null" || vals["b"] != `"é"` || vals["x"] != `{"go":[1]}` {
		t.Errorf("snapshot %+v %v", snap, vals)
	}
	// A key moves between the file and the bookkeeping with the format:
	// here b is deleted and x rewritten; only x's revision changes.
	apply(t, b, &runtime.Batch{Deletes: []string{"b"}, Puts: []runtime.KV{kv("x", `2`)}})
	snap, vals = snapshot(t, b)
	if snap.Revision != 2 || len(vals) != 2 || vals["x"] != "2" || snap.Values["a"].Revision != 1 || snap.Values["x"].Revision != 2 {
		t.Errorf("after delete: %+v %v", snap, vals)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestForeignWrites: a data file another program wrote gets a new
// revision that the next read keeps; a compare-and-set based on an earlier
// read conflicts; restoring earlier bytes never makes the revision go back;
// keys kept beside the file are untouched.
func TestForeignWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	b := newBackend(t, dir, runtime.Config{})
	data := filepath.Join(dir, "ns", "data.json")
	apply(t, b, &runtime.Batch{Puts: []runtime.KV{kv("a", `1`), kv("x", `"go"`)}})
	original := readFile(t, data)

	seen := map[int64]bool{1: true}
	last := int64(1)
	for i, content := range []string{`{"a": 2}`, `{"a": 3, "b": true}`, original, original} {
		writeInPlace(t, data, content)
		snap, vals := snapshot(t, b)
		if snap.Revision <= last || seen[snap.Revision] {
			t.Fatalf("foreign write %d: revision %d after %d", i, snap.Revision, last)
		}
		seen[snap.Revision] = true
		if vals["x"] != `"go"` || snap.Values["x"].Revision != 1 {
			t.Errorf("foreign write %d: the key beside the file: %v", i, snap.Values["x"])
		}
		// The read recorded it: reading again gives the same revision.
		if again, _ := snapshot(t, b); again.Revision != snap.Revision {
			t.Errorf("foreign write %d: read again at %d, first %d", i, again.Revision, snap.Revision)
		}
		// A compare-and-set based on the revision before fails.
		_, err := b.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{kv("a", `0`)}, Conds: []runtime.Cond{{Revision: last}}})
		if !errors.Is(err, runtime.ErrConflict) {
			t.Errorf("foreign write %d: write against revision %d: %v", i, last, err)
		}
		last = snap.Revision
	}
	// Two changes between two reads are one change to the reader; a
	// conditional write against the first read still conflicts.
	snap, _ := snapshot(t, b)
	writeInPlace(t, data, `{"a": 10}`)
	writeInPlace(t, data, `{"a": 11}`)
	_, err := b.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{kv("b", `0`)}, Conds: []runtime.Cond{{Key: "a", Revision: snap.Values["a"].Revision}}})
	if !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("key condition across foreign writes: %v", err)
	}
}

// rewriteUnnoticed rewrites a file in place with content of the same size
// and puts its modification time back: what stat says of it stays the same.
func rewriteUnnoticed(t *testing.T, path string, rewrite func(string) string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	old := readFile(t, path)
	content := rewrite(old)
	if len(content) != len(old) || content == old {
		t.Fatalf("rewrite of %s: %q, want another content of the same size", path, content)
	}
	writeInPlace(t, path, content)
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestRewriteUnnoticedByStat: a read sees every change to the files, also
// one that leaves stat's answer as it was (same inode, size and
// modification time), as a write within one tick of the file system's
// clock can: nothing read before is served again.
func TestRewriteUnnoticedByStat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	b := newBackend(t, dir, runtime.Config{})
	apply(t, b, &runtime.Batch{Puts: []runtime.KV{kv("a", `1`), kv("x", `"go"`)}})
	snap, _ := snapshot(t, b) // reads, and keeps, what it may keep

	metaPath := filepath.Join(dir, "ns", ".stategen", "meta.json")
	rewriteUnnoticed(t, metaPath, func(s string) string { return strings.Replace(s, `"go"`, `"og"`, 1) })
	if _, vals := snapshot(t, b); vals["x"] != `"og"` {
		t.Errorf("bookkeeping rewritten in place: x is %s", vals["x"])
	}

	dataPath := filepath.Join(dir, "ns", "data.json")
	rewriteUnnoticed(t, dataPath, func(s string) string { return strings.Replace(s, "1", "2", 1) })
	again, vals := snapshot(t, b)
	if vals["a"] != "2" || again.Revision <= snap.Revision {
		t.Errorf("data file rewritten in place: a is %s at revision %d, read before at %d", vals["a"], again.Revision, snap.Revision)
	}
}

// TestPythonOnly: a namespace that only another program ever wrote has
// revision 1, then a new one for each version a read sees.
func TestPythonOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	data := filepath.Join(dir, "ns", "data.json")
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte(`{"a": 1, "not a key": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, dir, runtime.Config{})
	snap, vals := snapshot(t, b)
	if snap.Revision != 1 || len(vals) != 1 || vals["a"] != "1" {
		t.Fatalf("%+v %v", snap, vals)
	}
	writeInPlace(t, data, `{"a": 2}`)
	if snap, _ = snapshot(t, b); snap.Revision != 2 {
		t.Errorf("second version: revision %d", snap.Revision)
	}
	// A reader that may not write records nothing and still reads.
	writeInPlace(t, data, `{"a": 3}`)
	ro := newBackend(t, dir, runtime.Config{ReadOnly: true})
	before := readFile(t, filepath.Join(dir, "ns", ".stategen", "meta.json"))
	if snap, err := ro.Snapshot(ctx, "ns"); err != nil || snap.Revision != 3 {
		t.Errorf("read-only read: %v, %v", snap, err)
	}
	if readFile(t, filepath.Join(dir, "ns", ".stategen", "meta.json")) != before {
		t.Error("a read-only read changed the bookkeeping")
	}
}

// TestChangedBeforeReplace: a change by another program after the write
// read the file and before it replaces anything makes the write start over:
// a conditional write then conflicts, a plain one applies on top of it.
func TestChangedBeforeReplace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	b := newBackend(t, dir, runtime.Config{})
	data := filepath.Join(dir, "ns", "data.json")
	rev := apply(t, b, &runtime.Batch{Puts: []runtime.KV{kv("a", `1`), kv("b", `1`)}})
	var once sync.Once
	setHook(t, func(point, _ string) {
		if point == "written" {
			once.Do(func() { writeInPlace(t, data, `{"a": 2, "b": 2}`) })
		}
	})
	_, err := b.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{kv("a", `9`)}, Conds: []runtime.Cond{{Revision: rev}}})
	if !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("conditional write: %v, want ErrConflict", err)
	}
	if got := readFile(t, data); got != `{"a": 2, "b": 2}` {
		t.Errorf("the other program's write was overwritten: %s", got)
	}
	once = sync.Once{}
	setHook(t, func(point, _ string) {
		if point == "written" {
			once.Do(func() { writeInPlace(t, data, `{"a": 3, "b": 3}`) })
		}
	})
	apply(t, b, &runtime.Batch{Puts: []runtime.KV{kv("a", `9`)}})
	if _, vals := snapshot(t, b); vals["a"] != "9" || vals["b"] != "3" {
		t.Errorf("plain write: %v, want a from it and b from the other program", vals)
	}
}

// TestDisplacedPutBack: a version another program wrote in the instant
// before the data file is replaced (after the last look, before the swap)
// is put back, as if written after this write, which keeps its revision and
// its keys beside the file.
func TestDisplacedPutBack(t *testing.T) {
	for _, how := range []string{"in place", "renamed over"} {
		t.Run(how, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			b := newBackend(t, dir, runtime.Config{})
			data := filepath.Join(dir, "ns", "data.json")
			apply(t, b, &runtime.Batch{Puts: []runtime.KV{kv("a", `1`)}})
			foreign := `{"a": "theirs", "b": "theirs"}`
			var once sync.Once
			setHook(t, func(point, _ string) {
				if point != "swap" {
					return
				}
				once.Do(func() {
					if how == "in place" {
						writeInPlace(t, data, foreign)
						return
					}
					if err := os.WriteFile(data+".py", []byte(foreign), 0o644); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(data+".py", data); err != nil {
						t.Fatal(err)
					}
				})
			})
			rev := apply(t, b, &runtime.Batch{Puts: []runtime.KV{kv("a", `"ours"`), kv("x", `"ours"`)}})
			if got := readFile(t, data); got != foreign {
				t.Fatalf("data file %s: the other program's version was lost", got)
			}
			snap, vals := snapshot(t, b)
			if snap.Revision != rev+1 || vals["a"] != `"theirs"` || vals["x"] != `"ours"` || snap.Values["x"].Revision != rev {
				t.Errorf("after the put-back: revision %d (ours %d), %v", snap.Revision, rev, vals)
			}
			if ents, _ := os.ReadDir(filepath.Dir(data)); len(ents) != 2 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

// TestChangedAfterBookkeeping: a change by another program while the
// bookkeeping was written makes the write start over, and nothing of the
// abandoned attempt shows: not its keys beside the file, nor its schema.
func TestChangedAfterBookkeeping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	b := newBackend(t, dir, runtime.Config{})
	data := filepath.Join(dir, "ns", "data.json")
	v1, v2 := runtime.SchemaRef{Name: "S", Version: 1}, runtime.SchemaRef{Name: "S", Version: 2}
	rev := apply(t, b, &runtime.Batch{Schema: &v1, Puts: []runtime.KV{kv("a", `1`), kv("x", `"old"`)}})
	var once sync.Once
	setHook(t, func(point, _ string) {
		if point == "meta" {
			once.Do(func() { writeInPlace(t, data, `{"a": 2}`) })
		}
	})
	_, err := b.Apply(ctx, "ns", &runtime.Batch{Schema: &v2, Puts: []runtime.KV{kv("a", `9`), kv("x", `"new"`)}, Conds: []runtime.Cond{{Revision: rev}}})
	if !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("conditional write: %v, want ErrConflict", err)
	}
	snap, vals := snapshot(t, b)
	if vals["a"] != "2" || vals["x"] != `"old"` || !snap.Schema.Equal(v1) || snap.Revision <= rev {
		t.Errorf("after the abandoned write: %+v %v", snap, vals)
	}
}

// TestCrashBetweenRenames: a writer that dies after replacing the
// bookkeeping and before the data file leaves the old state, wholly, at its
// own revision; the next write does not reuse the dead one's revision.
func TestCrashBetweenRenames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	b := newBackend(t, dir, runtime.Config{})
	v1, v2 := runtime.SchemaRef{Name: "S", Version: 1}, runtime.SchemaRef{Name: "S", Version: 2}
	r1 := apply(t, b, &runtime.Batch{Schema: &v1, Puts: []runtime.KV{kv("a", `"old"`), kv("x", `"old"`)}})
	setHook(t, func(point, _ string) {
		if point == "meta" {
			panic("killed")
		}
	})
	func() {
		defer func() { recover() }()
		b.Apply(ctx, "ns", &runtime.Batch{Schema: &v2, Replace: true, Puts: []runtime.KV{kv("b", `"new"`), kv("y", `"new"`)}})
		t.Fatal("the write was not interrupted")
	}()
	setHook(t, func(string, string) {})
	fresh := newBackend(t, dir, runtime.Config{})
	snap, vals := snapshot(t, fresh)
	if snap.Revision != r1 || !snap.Schema.Equal(v1) || len(vals) != 2 || vals["a"] != `"old"` || vals["x"] != `"old"` {
		t.Fatalf("after the crash: %+v %v", snap, vals)
	}
	if r := apply(t, fresh, &runtime.Batch{Puts: []runtime.KV{kv("a", `"next"`)}}); r <= r1+1 {
		t.Errorf("next write at revision %d reuses the dead write's %d", r, r1+1)
	}
}

// TestTornReads: reads of a data file another program keeps rewriting in
// place (truncated, then written) wait for it to be whole: no read fails.
func TestTornReads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	b := newBackend(t, dir, runtime.Config{})
	data := filepath.Join(dir, "ns", "data.json")
	apply(t, b, &runtime.Batch{Puts: []runtime.KV{kv("a", `0`), kv("x", `"go"`)}})
	var stop atomic.Bool
	var writes atomic.Int64
	done := make(chan struct{})
	stopWriter := func() {
		stop.Store(true)
		<-done
	}
	defer stopWriter() // before the test's directory goes, also on failure
	go func() {
		defer close(done)
		for i := 1; !stop.Load(); i++ {
			f, err := os.OpenFile(data, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(50 * time.Microsecond) // Python's json.dump between the truncation and the bytes
			body := `{"a": ` + strings.Repeat(" ", 4000) + `"` + strings.Repeat("v", i%50) + `"}`
			f.WriteString(body[:len(body)/2])
			f.WriteString(body[len(body)/2:])
			f.Close()
			writes.Add(1)
			time.Sleep(100 * time.Microsecond) // the rest of the program's loop
		}
	}()
	for i := 0; i < 300 || writes.Load() < 100; i++ {
		if _, vals := snapshot(t, b); vals["x"] != `"go"` || !strings.HasPrefix(vals["a"], `"`) && vals["a"] != "0" {
			t.Fatalf("read %d: %v", i, vals)
		}
	}
	stopWriter()
	// A file that stays unparsable is corrupt, once it has settled.
	writeInPlace(t, data, `{"a": `)
	if _, err := b.Snapshot(ctx, "ns"); !errors.Is(err, runtime.ErrCorrupt) {
		t.Errorf("truncated file: %v, want ErrCorrupt", err)
	}
}

// TestNoStore: opening and reading a store that does not exist creates
// nothing and says there is no store there; read-only opening refuses it.
func TestNoStore(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "nosuch")
	b := newBackend(t, dir, runtime.Config{})
	_, err := b.Get(ctx, "ns", "a")
	if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "no store at "+dir) {
		t.Errorf("get: %v", err)
	}
	if _, err := b.Snapshot(ctx, "ns"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("snapshot: %v", err)
	}
	if ns, err := b.Namespaces(ctx); err != nil || len(ns) != 0 {
		t.Errorf("namespaces: %v, %v", ns, err)
	}
	if cps, err := b.Checkpoints(ctx, "ns"); err != nil || len(cps) != 0 {
		t.Errorf("checkpoints: %v, %v", cps, err)
	}
	if err := b.DeleteCheckpoint(ctx, "ns", "cp"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("delete checkpoint: %v", err)
	}
	// A failing condition creates nothing either.
	if _, err := b.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{kv("a", `1`)}, Conds: []runtime.Cond{{Revision: 3}}}); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("conditional write: %v", err)
	}
	if _, err := Open(dir, flat{}, runtime.Config{ReadOnly: true}); !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "no store at") {
		t.Errorf("read-only open: %v", err)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 0 {
		t.Fatalf("created %v", ents)
	}
	apply(t, b, &runtime.Batch{Puts: []runtime.KV{kv("a", `1`)}})
	ro := newBackend(t, dir, runtime.Config{ReadOnly: true})
	if _, err := ro.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{kv("a", `2`)}}); !errors.Is(err, runtime.ErrReadOnly) {
		t.Errorf("read-only write: %v", err)
	}
	cp := &runtime.Checkpoint{CheckpointInfo: runtime.CheckpointInfo{Name: "cp"}}
	if err := ro.PutCheckpoint(ctx, "ns", cp); !errors.Is(err, runtime.ErrReadOnly) {
		t.Errorf("read-only checkpoint: %v", err)
	}
	if v, err := ro.Get(ctx, "ns", "a"); err != nil || string(v.Data) != "1" {
		t.Errorf("read-only read: %s, %v", v.Data, err)
	}
}

// TestCheckpoints: the file shape, a Python-made checkpoint, a corrupt one
// listed beside the good ones, and the ADW layout's checkpoints of earlier
// releases.
func TestCheckpoints(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	b := newBackend(t, dir, runtime.Config{})
	schema := runtime.SchemaRef{Name: "S", Version: 1}
	created := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	cp := &runtime.Checkpoint{
		CheckpointInfo: runtime.CheckpointInfo{Name: "good", Created: created, Revision: 4, Schema: schema, Keys: 2},
		Values:         map[string]runtime.Value{"b": {Data: []byte(`"é"`), Revision: 4}, "a": {Data: []byte(`[1]`), Revision: 2, Updated: created}},
	}
	if err := b.PutCheckpoint(ctx, "ns", cp); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetCheckpoint(ctx, "ns", "good")
	if err != nil || got.Created != created || got.Revision != 4 || !got.Schema.Equal(schema) || got.Keys != 2 ||
		string(got.Values["b"].Data) != `"é"` || got.Values["a"].Revision != 2 {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	cpDir := filepath.Join(dir, "ns", "checkpoints")
	mtime := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	for name, content := range map[string]string{
		"python": `{"a": {"value": 1, "timestamp": "2025-05-06T07:08:09.000001"}}`,
		"broken": `{"a": {"value": `,
		"old": `{"name": "old", "created": "2025-01-01T00:00:00Z", "revision": 3, "schema": {"name": "S", "version": 1},
		 "values": {"a": {"value": "x", "revision": 2}}}`,
	} {
		p := filepath.Join(cpDir, name+".json")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
	list, err := b.Checkpoints(ctx, "ns")
	if err != nil || len(list) != 4 {
		t.Fatalf("listing: %+v, %v", list, err)
	}
	byName := map[string]runtime.CheckpointInfo{}
	for _, c := range list {
		byName[c.Name] = c
	}
	if c := byName["broken"]; !errors.Is(c.Err, runtime.ErrCorrupt) {
		t.Errorf("corrupt checkpoint listed as %+v", c)
	}
	if c := byName["python"]; c.Err != nil || !c.Created.Equal(mtime) || c.Keys != 1 {
		t.Errorf("Python's checkpoint: %+v", c)
	}
	if c := byName["old"]; c.Err != nil || c.Revision != 3 || !c.Schema.Equal(schema) || c.Keys != 1 {
		t.Errorf("earlier release's checkpoint: %+v", c)
	}
	if c := byName["good"]; c.Err != nil || c.Revision != 4 {
		t.Errorf("good checkpoint: %+v", c)
	}
}

// TestCheckpointHeader: a checkpoint file records its own size in its
// reserved entry and is formatted as Python formats it; a listing takes a
// file's description from that entry only while it is first and the size
// holds, and otherwise reads the file whole, as for a file cut short, one
// of an earlier release, or a copy Python made of a state.json holding the
// entry.
func TestCheckpointHeader(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range []int{0, 1, 1000} {
		cp := &runtime.Checkpoint{CheckpointInfo: runtime.CheckpointInfo{Name: "cp", Revision: 7, CheckpointMeta: runtime.CheckpointMeta{Labels: map[string]string{"team": "red"}}}, Values: map[string]runtime.Value{}}
		for i := range n {
			cp.Values[fmt.Sprintf("k%04d", i)] = runtime.Value{Data: []byte(`{"status": "é"}`), Revision: 7}
		}
		data, err := encodeCheckpoint(cp, t0)
		if err != nil {
			t.Fatal(err)
		}
		o, err := parseObject(data)
		if err != nil || len(o.members) != n+1 || o.members[0].key != legacyKey {
			t.Fatalf("%d keys: %v, members %v", n, err, o)
		}
		info, err := parseInfo(o.members[0].value)
		if err != nil || info.Size != int64(len(data)) || info.Keys != n {
			t.Errorf("%d keys: entry %+v, %v; file of %d bytes", n, info, err, len(data))
		}
		if got := python(t, string(data)); got != string(data) {
			t.Errorf("%d keys: not as Python formats it:\n%s", n, data)
		}
	}

	dir := filepath.Join(t.TempDir(), "store")
	b := newBackend(t, dir, runtime.Config{})
	cpDir := filepath.Join(dir, "ns", "checkpoints")
	cp := &runtime.Checkpoint{CheckpointInfo: runtime.CheckpointInfo{Revision: 3}, Values: map[string]runtime.Value{}}
	for i := range 100 {
		cp.Values[fmt.Sprintf("k%03d", i)] = runtime.Value{Data: []byte(`"a value"`), Revision: 3}
	}
	for _, name := range []string{"whole", "cut", "copied", "earlier"} {
		cp.Name = name
		if err := b.PutCheckpoint(ctx, "ns", cp); err != nil {
			t.Fatal(err)
		}
	}
	// An entry longer than a listing's first read.
	labels := map[string]string{}
	for i := range 100 {
		labels[fmt.Sprintf("label%03d", i)] = "some value"
	}
	cp.Name, cp.Labels = "labelled", labels
	if err := b.PutCheckpoint(ctx, "ns", cp); err != nil {
		t.Fatal(err)
	}
	// Cut short after its entry, as a crash of a writer in place would.
	cut := filepath.Join(cpDir, "cut.json")
	whole := readFile(t, cut)
	if err := os.WriteFile(cut, []byte(whole[:len(whole)*3/4]), 0o600); err != nil {
		t.Fatal(err)
	}
	// Python's copy of a state.json it restored from a checkpoint, with
	// one key more: the entry records the checkpoint's size, not this
	// file's.
	copied := filepath.Join(cpDir, "copied.json")
	if err := os.WriteFile(copied, []byte(whole[:len(whole)-len("\n}")]+",\n  \"new\": {\n    \"value\": 1,\n    \"timestamp\": \"2026-01-02T03:04:05.000001\"\n  }\n}"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An earlier release's: the entry records no size.
	earlier := filepath.Join(cpDir, "earlier.json")
	if err := os.WriteFile(earlier, regexp.MustCompile(`,\s*"size": \d+`).ReplaceAll([]byte(whole), nil), 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := b.Checkpoints(ctx, "ns")
	if err != nil || len(list) != 5 {
		t.Fatalf("listing: %+v, %v", list, err)
	}
	byName := map[string]runtime.CheckpointInfo{}
	for _, c := range list {
		byName[c.Name] = c
	}
	if c := byName["labelled"]; c.Err != nil || c.Keys != 100 || len(c.Labels) != 100 || c.Labels["label099"] != "some value" {
		t.Errorf("labelled: %+v", c)
	}
	if c := byName["whole"]; c.Err != nil || c.Keys != 100 || c.Revision != 3 {
		t.Errorf("whole: %+v", c)
	}
	if c := byName["cut"]; !errors.Is(c.Err, runtime.ErrCorrupt) {
		t.Errorf("cut short after its entry: %+v", c)
	}
	if c := byName["copied"]; c.Err != nil || c.Keys != 101 {
		t.Errorf("Python's copy with a key more: %+v", c)
	}
	if c := byName["earlier"]; c.Err != nil || c.Keys != 100 || c.Revision != 3 {
		t.Errorf("earlier release's: %+v", c)
	}
}
