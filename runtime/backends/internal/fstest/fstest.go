// Package fstest holds the small helpers the file backends' tests share.
package fstest

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/backendtest"
)

// KV makes a put of a JSON value given as text.
func KV(key, value string) runtime.KV { return runtime.KV{Key: key, Value: json.RawMessage(value)} }

// Apply applies batch to ns and returns the new revision, failing the test
// on error.
func Apply(t testing.TB, b runtime.Backend, ns string, batch *runtime.Batch) int64 {
	t.Helper()
	rev, err := b.Apply(context.Background(), ns, batch)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return rev
}

// ReadFile returns a file's content, failing the test if it cannot.
func ReadFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// WriteFile writes a file as another program would, creating its directory.
func WriteFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Harness is the conformance harness of a file backend under URLs
// "<scheme>:DIR<query>". Its Corrupt truncates the namespace's file
// DIR/<namespace>/<file> in the middle of the key's member, as a crash of a
// writer without atomic replace would; its CorruptCheckpoint cuts the
// checkpoint's file in half.
func Harness(scheme, query, file string) backendtest.Harness {
	dir := func(url string) string {
		return strings.TrimSuffix(strings.TrimPrefix(url, scheme+":"), query)
	}
	return backendtest.Harness{
		NewURL: func(t testing.TB) string { return scheme + ":" + filepath.Join(t.TempDir(), "store") + query },
		MissingURL: func(t testing.TB) string {
			return scheme + ":" + filepath.Join(t.TempDir(), "nosuch", "store") + query
		},
		Dir: dir,
		// Every file of the store, bytes as they are.
		Raw: func(t testing.TB, url string) []byte {
			var all []byte
			err := filepath.WalkDir(dir(url), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := os.ReadFile(p)
				all = append(append(all, p+"\n"...), data...)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return all
		},
		Corrupt: func(t testing.TB, url, ns, key string) func() []byte {
			path := filepath.Join(dir(url), ns, file)
			data := ReadFile(t, path)
			i := strings.Index(data, `"`+key+`"`)
			if i < 0 {
				t.Fatalf("key %q not in %s", key, path)
			}
			WriteFile(t, path, data[:i+len(key)+4])
			return func() []byte { return []byte(ReadFile(t, path)) }
		},
		// The checkpoint's file, NAME.json in a directory named
		// checkpoints below the namespace's, cut in half.
		CorruptCheckpoint: func(t testing.TB, url, ns, name string) func() []byte {
			var path string
			filepath.WalkDir(filepath.Join(dir(url), ns), func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Name() == name+".json" && filepath.Base(filepath.Dir(p)) == "checkpoints" {
					path = p
				}
				return err
			})
			if path == "" {
				t.Fatalf("checkpoint %s of %s not found below %s", name, ns, dir(url))
			}
			data := ReadFile(t, path)
			WriteFile(t, path, data[:len(data)/2])
			return func() []byte { return []byte(ReadFile(t, path)) }
		},
	}
}

// RawSave is what a hand-written program does to save state durably: write
// a temporary file, fsync it, rename it over the old one, fsync the
// directory. The file backends' benchmarks measure against it.
func RawSave(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Bench runs the file backends' save and load benchmarks: each as a pair of
// the raw file operation and the Store doing the same work through url.
// state is the file's content after saving one key, as the backend writes it.
func Bench(b *testing.B, url string, state []byte) {
	ctx := context.Background()
	text := runtime.JSONCodec[string]()
	open := func(b *testing.B, opts ...runtime.Option) *runtime.Store {
		st, err := runtime.Open(ctx, url+"/"+strings.ReplaceAll(b.Name(), "/", "_"), opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	b.Run("Save", func(b *testing.B) {
		b.Run("raw", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "state.json")
			for b.Loop() {
				if err := RawSave(path, state); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("stategen", func(b *testing.B) {
			st := open(b)
			for b.Loop() {
				if err := runtime.Save(ctx, st, "ns", "branch_name", "feat-1", text); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("Load", func(b *testing.B) {
		b.Run("raw", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "state.json")
			if err := RawSave(path, state); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				data, err := os.ReadFile(path)
				if err != nil {
					b.Fatal(err)
				}
				var v map[string]any
				if err := json.Unmarshal(data, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("stategen", func(b *testing.B) {
			st := open(b, runtime.WithoutCache())
			if err := runtime.Save(ctx, st, "ns", "branch_name", "feat-1", text); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := runtime.Load(ctx, st, "ns", "branch_name", text); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// NamesStayInside calls a file backend directly (past the Store's checks)
// with names that could escape its directory, and through a namespace that
// is a symbolic link out of it: every call is refused, and nothing is read,
// written or created outside. file is the namespace file the backend keeps
// (state.json, adw_state.json), content a valid one holding key.
func NamesStayInside(t *testing.T, open func(dir string) (runtime.Backend, error), file, content, key string) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	outside := filepath.Join(base, "outside")
	WriteFile(t, filepath.Join(outside, file), content)
	if err := os.Symlink(outside, filepath.Join(dir, "evil")); err != nil {
		t.Fatal(err)
	}
	cp := func(name string) *runtime.Checkpoint {
		return &runtime.Checkpoint{CheckpointInfo: runtime.CheckpointInfo{Name: name}, Values: map[string]runtime.Value{"k": {Data: []byte(`1`)}}}
	}
	const reservedKey = "__x"
	for _, bad := range []string{"../x", "..", "/abs", "a/b", "../outside", "", ".stategen", ".hidden", reservedKey, "__x y", "__", "__stategen__"} {
		errs := map[string]error{}
		_, errs["apply ns"] = b.Apply(ctx, bad, &runtime.Batch{Puts: []runtime.KV{KV("k", `1`)}})
		_, errs["apply key"] = b.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{KV(bad, `1`)}})
		_, errs["delete key"] = b.Apply(ctx, "ns", &runtime.Batch{Deletes: []string{bad}})
		_, errs["get ns"] = b.Get(ctx, bad, "k")
		_, errs["get key"] = b.Get(ctx, "ns", bad)
		_, errs["snapshot"] = b.Snapshot(ctx, bad)
		_, errs["stamp"] = b.(runtime.Stamper).Stamp(ctx, bad)
		errs["put checkpoint ns"] = b.PutCheckpoint(ctx, bad, cp("cp"))
		errs["put checkpoint name"] = b.PutCheckpoint(ctx, "ns", cp(bad))
		_, errs["get checkpoint"] = b.GetCheckpoint(ctx, "ns", bad)
		_, errs["checkpoints"] = b.Checkpoints(ctx, bad)
		errs["delete checkpoint"] = b.DeleteCheckpoint(ctx, "ns", bad)
		for op, err := range errs {
			if bad == reservedKey && strings.HasSuffix(op, " key") {
				// A reserved key is the runtime's bookkeeping (a run's
				// lease), which a file backend keeps beside its data
				// file: a key, not a path.
				if errors.Is(err, runtime.ErrInvalidName) {
					t.Errorf("%s with reserved key %q: %v, want it accepted", op, bad, err)
				}
				continue
			}
			if !errors.Is(err, runtime.ErrInvalidName) {
				t.Errorf("%s with %q: got %v, want ErrInvalidName", op, bad, err)
			}
		}
	}
	os.RemoveAll(filepath.Join(dir, "ns")) // what the reserved key's writes made
	// The os.Root refuses a namespace whose directory links out of the store.
	if _, err := b.Get(ctx, "evil", key); err == nil {
		t.Error("read through a link out of the store")
	}
	if _, err := b.Apply(ctx, "evil", &runtime.Batch{Puts: []runtime.KV{KV("k", `1`)}}); err == nil {
		t.Error("wrote through a link out of the store")
	}
	if err := b.PutCheckpoint(ctx, "evil", cp("cp")); err == nil {
		t.Error("wrote a checkpoint through a link out of the store")
	}
	if ns, _ := b.Namespaces(ctx); len(ns) != 0 {
		t.Errorf("namespaces %v: the link is listed", ns)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 || ReadFile(t, filepath.Join(outside, file)) != content {
		t.Errorf("the directory outside changed: %v", ents)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 2 {
		t.Errorf("created beside the store: %v", ents)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("created in the store: %v", ents)
	}
}

// WatchCounter reads a counter that another program (Python) only ever
// raises, in a loop until stop, and fails t if a version that went back
// stays: a save of the other program lost to a write based on an older
// read. A writer that meets the other program's rename in the instant of
// its own puts the displaced version back (filestore's install), so a
// lock-free reader may see the older version for those microseconds; a
// lost save stays until the other program's next one, milliseconds later,
// so the watcher reads again after a pause shorter than that.
func WatchCounter(t testing.TB, what string, read func() (int, error), stop func() bool) {
	t.Helper()
	last := -1
	for !stop() {
		n, err := read()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if n < last {
			time.Sleep(500 * time.Microsecond)
			if n, err = read(); err == nil && n < last {
				t.Errorf("%s: Python's counter went back from %d to %d and stayed: a Python save was overwritten", what, last, n)
				return
			}
			continue
		}
		last = n
	}
}
