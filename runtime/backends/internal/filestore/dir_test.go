package filestore

import (
	"context"
	"errors"
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
	d, err := OpenDir(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestURLPath(t *testing.T) {
	good := map[string]string{
		"json:rel/dir":               "rel/dir",
		"json:./rel":                 "./rel",
		"json:/abs/dir":              "/abs/dir",
		"json:///abs/dir":            "/abs/dir",
		"adw:agents":                 "agents",
		"adw:/tmp/x/agents":          "/tmp/x/agents",
		"adw:agents?python_keys=a,b": "agents",
	}
	for raw, want := range good {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := URLPath(u); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", raw, got, err, want)
		}
	}
	u, _ := url.Parse("adw:agents?python_keys=a,b")
	if _, q, _ := URLPath(u); q.Get("python_keys") != "a,b" {
		t.Errorf("query %v", q)
	}
	for _, raw := range []string{"json://host/dir", "json:", "json:dir?x=%zz"} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := URLPath(u); err == nil {
			t.Errorf("%s: got %q, want an error", raw, got)
		}
	}
}

// TestNothingCreatedUntilWritten: opening and reading a store that does
// not exist creates nothing, and says there is no store there.
func TestNothingCreatedUntilWritten(t *testing.T) {
	base := t.TempDir()
	d, err := OpenDir(filepath.Join(base, "a", "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Exists() {
		t.Fatal("a missing directory exists")
	}
	if _, err := d.ReadFile("ns/x"); !IsNotExist(err) {
		t.Errorf("read: %v", err)
	}
	if _, err := d.ReadDir("."); !IsNotExist(err) {
		t.Errorf("readdir: %v", err)
	}
	if err := d.noStore(); !errors.Is(err, runtime.ErrNotFound) || err.Error() != "no store at "+d.Path()+": not found" {
		t.Errorf("no store: %v", err)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 0 {
		t.Fatalf("created %v", ents)
	}
	if err := d.WriteFiles(File{"ns/x", []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if !d.Exists() {
		t.Error("the first write did not create the store")
	}
	if fi, err := os.Stat(d.Path()); err != nil || fi.Mode().Perm() != DirPerm {
		t.Errorf("store directory: %v, %v", fi, err)
	}
}

func TestWriteFiles(t *testing.T) {
	d := openDir(t)
	if err := d.WriteFiles(File{"x", nil}); err != nil { // creates the store
		t.Fatal(err)
	}
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
	d, err := OpenDir(filepath.Join(base, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.WriteFiles(File{"x", nil}); err != nil {
		t.Fatal(err)
	}
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
	for _, name := range []string{"../x/state.json", "evil/state.json"} {
		if _, err := d.ReadFile(name); err == nil {
			t.Errorf("ReadFile(%q) succeeded", name)
		}
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
	other, err := OpenDir(d.Path())
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

// TestModeKept: a file that exists keeps its mode when replaced (another
// program's file shared with stategen stays readable to whom it was);
// new files are private.
func TestModeKept(t *testing.T) {
	d := openDir(t)
	if err := d.WriteFiles(File{"ns/shared.json", []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d.Join("ns/shared.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFiles(File{"ns/shared.json", []byte("2")}, File{"ns/new.json", []byte("3")}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"ns/shared.json": 0o644, "ns/new.json": FilePerm} {
		if fi, err := os.Stat(d.Join(name)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %v", name, fi.Mode(), err, want)
		}
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
