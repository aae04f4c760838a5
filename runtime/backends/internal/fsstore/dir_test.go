package fsstore

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
)

func openDir(t *testing.T) *Dir {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestURLPath(t *testing.T) {
	good := map[string]string{
		"json:rel/dir":      "rel/dir",
		"json:./rel":        "./rel",
		"json:/abs/dir":     "/abs/dir",
		"json:///abs/dir":   "/abs/dir",
		"adw:agents":        "agents",
		"adw:/tmp/x/agents": "/tmp/x/agents",
	}
	for raw, want := range good {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := URLPath(u); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"json://host/dir", "json:", "json:dir?x=1", "json:dir?"} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := URLPath(u); err == nil {
			t.Errorf("%s: got %q, want an error", raw, got)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	d := openDir(t)
	if err := d.WriteFiles(File{"ns/a.json", []byte("one")}, File{"ns/sub/b.json", []byte("two")}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"ns/a.json": "one", "ns/sub/b.json": "two"} {
		got, err := d.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v", name, got, err)
		}
		fi, _ := os.Stat(d.Join(name))
		if fi.Mode().Perm() != FilePerm {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), FilePerm)
		}
	}
	for _, dir := range []string{"ns", "ns/sub"} {
		fi, _ := os.Stat(d.Join(dir))
		if fi.Mode().Perm() != DirPerm {
			t.Errorf("%s: mode %v, want %v", dir, fi.Mode().Perm(), DirPerm)
		}
	}
	// Replacing many times in a row: each version has a new stamp and a
	// later modification time, and no temporary file is left.
	seen := map[[4]int64]bool{}
	var last time.Time
	for i := range 20 {
		if err := d.WriteFiles(File{"ns/a.json", []byte("same size")}); err != nil {
			t.Fatal(err)
		}
		fi, err := d.Stat("ns/a.json")
		if err != nil {
			t.Fatal(err)
		}
		st := FileStamp(fi)
		if seen[st] {
			t.Fatalf("write %d: stamp %v seen before", i, st)
		}
		seen[st] = true
		if !fi.ModTime().After(last) {
			t.Fatalf("write %d: modification time %v not after %v", i, fi.ModTime(), last)
		}
		last = fi.ModTime()
	}
	ents, _ := d.ReadDir("ns")
	for _, e := range ents {
		if e.Name() != "a.json" && e.Name() != "sub" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if FileStamp(nil) != ([4]int64{}) {
		t.Error("stamp of a missing file is not zero")
	}
}

// TestConfined checks that no name and no symbolic link makes the Dir
// create anything outside its directory.
func TestConfined(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	d, err := Open(filepath.Join(base, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := os.Symlink(outside, d.Join("evil")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"../x/state.json", "evil/state.json", "/abs/state.json", "evil/../../x.json"} {
		if err := d.WriteFiles(File{name, []byte("{}")}); err == nil {
			t.Errorf("WriteFiles(%q) succeeded", name)
		}
		if unlock, err := d.Lock(ctx, name+".lock"); err == nil {
			unlock()
			t.Errorf("Lock(%q) succeeded", name)
		}
		if err := d.Remove(name); err == nil {
			t.Errorf("Remove(%q) succeeded", name)
		}
	}
	ents, err := os.ReadDir(outside)
	if err != nil || len(ents) != 0 {
		t.Errorf("created outside the store: %v (%v)", ents, err)
	}
	ents, _ = os.ReadDir(base)
	if len(ents) != 2 {
		t.Errorf("created beside the store: %v", ents)
	}
}

func TestLock(t *testing.T) {
	d := openDir(t)
	ctx := context.Background()
	// Goroutines take turns: a counter updated without atomics under the
	// lock loses nothing (and -race sees the lock as synchronization).
	var wg sync.WaitGroup
	n := 0
	for range 8 {
		wg.Go(func() {
			for range 20 {
				unlock, err := d.Lock(ctx, "ns/.lock")
				if err != nil {
					t.Error(err)
					return
				}
				n++
				unlock()
			}
		})
	}
	wg.Wait()
	if n != 160 {
		t.Errorf("counter %d, want 160", n)
	}
	if len(d.locks) != 0 {
		t.Errorf("%d per-process lock entries left", len(d.locks))
	}

	// A waiter gives up when its context ends, in this process and against
	// another holder of the file lock (a second Dir stands for another
	// process: its flock is on another open file).
	unlock, err := d.Lock(ctx, "ns/.lock")
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for what, dir := range map[string]*Dir{"same process": d, "other process": other} {
		tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err := dir.Lock(tctx, "ns/.lock")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: lock while held: got %v, want DeadlineExceeded", what, err)
		}
	}
	got := make(chan error, 1)
	go func() {
		u, err := other.Lock(ctx, "ns/.lock")
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(10 * time.Millisecond)
	unlock()
	if err := <-got; err != nil {
		t.Errorf("waiter after release: %v", err)
	}
	// The lock file stays (it is never replaced or removed) and is private.
	fi, err := os.Stat(d.Join("ns/.lock"))
	if err != nil || fi.Mode().Perm() != FilePerm {
		t.Errorf("lock file: %v, %v", fi, err)
	}
}

func TestRemoveLocked(t *testing.T) {
	d := openDir(t)
	ctx := context.Background()
	if err := d.RemoveLocked(ctx, "ns/.lock", "ns/x.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := d.Stat("ns"); !IsNotExist(err) {
		t.Errorf("removing nothing created the namespace directory (%v)", err)
	}
	if err := d.WriteFiles(File{"ns/x.json", []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveLocked(ctx, "ns/.lock", "ns/x.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat("ns/x.json"); !IsNotExist(err) {
		t.Errorf("file still there: %v", err)
	}
}

func TestListing(t *testing.T) {
	d := openDir(t)
	for _, f := range []string{"b/state.json", "a/checkpoints/c2.json", "a/checkpoints/c1.json", "a/checkpoints/.tmp.json.x",
		"a/checkpoints/bad name.json", "a/checkpoints/notes.txt", "__x/state.json", ".hidden/state.json", "empty/other"} {
		if err := d.WriteFiles(File{f, []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := d.Namespaces("state.json", "checkpoints")
	if err != nil || len(ns) != 2 || ns[0] != "a" || ns[1] != "b" {
		t.Errorf("namespaces %v (%v), want [a b]", ns, err)
	}
	var read []string
	infos, err := d.Checkpoints("a", "a/checkpoints", func(name string) (*runtime.Checkpoint, error) {
		read = append(read, name)
		if name == "c2" {
			return nil, runtime.ErrNotFound // deleted since the listing
		}
		return &runtime.Checkpoint{CheckpointInfo: runtime.CheckpointInfo{Name: name}}, nil
	})
	if err != nil || len(read) != 2 || read[0] != "c1" || read[1] != "c2" || len(infos) != 1 || infos[0].Name != "c1" {
		t.Errorf("checkpoints %v read %v (%v), want [c1] after reading [c1 c2]", infos, read, err)
	}
	if infos, err := d.Checkpoints("b", "b/checkpoints", nil); err != nil || infos != nil {
		t.Errorf("missing directory: %v, %v", infos, err)
	}
}

func TestMixStamps(t *testing.T) {
	a, b := [4]int64{1, 2, 3, 4}, [4]int64{5, 6, 7, 8}
	if first, again := MixStamps(a, b), MixStamps(a, b); first != again {
		t.Error("not deterministic")
	}
	if MixStamps(a, b) == MixStamps(b, a) || MixStamps(a, b) == MixStamps(a, [4]int64{5, 6, 7, 9}) {
		t.Error("different inputs mix to the same stamp")
	}
	if MixStamps(a) != a {
		t.Error("one stamp is not itself")
	}
}
