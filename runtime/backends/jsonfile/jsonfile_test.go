package jsonfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stategen/stategen/internal/python"
	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

// TestLayout: state.json holds the Python StateManager's entries and
// nothing of stategen's; the bookkeeping is beside it.
func TestLayout(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	b, err := Open(dir, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	schema := runtime.SchemaRef{Name: "S", Version: 1}
	fstest.Apply(t, b, "ns", &runtime.Batch{Schema: &schema, Puts: []runtime.KV{fstest.KV("b", `"é"`), fstest.KV("a", `{"x": [1]}`)}})
	got := fstest.ReadFile(t, filepath.Join(dir, "ns", "state.json"))
	ts := `"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}"`
	want := regexp.MustCompile(`^\{
  "b": \{
    "value": "\\u00e9",
    "timestamp": ` + ts + `
  \},
  "a": \{
    "value": \{
      "x": \[
        1
      \]
    \},
    "timestamp": ` + ts + `
  \}
\}$`)
	if !want.MatchString(got) {
		t.Errorf("state.json:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "ns", ".stategen", "meta.json")); err != nil {
		t.Errorf("bookkeeping: %v", err)
	}
	snap, err := b.Snapshot(ctx, "ns")
	if err != nil || !snap.Schema.Equal(schema) || snap.Values["a"].Updated.IsZero() {
		t.Errorf("snapshot %+v, %v", snap, err)
	}
}

// TestEarlierLayout: a store written by an earlier release, which kept its
// bookkeeping in state.json under "__stategen__", keeps its schema and
// revisions, and the next write moves the bookkeeping out.
func TestEarlierLayout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fstest.WriteFile(t, filepath.Join(dir, "ns", "state.json"), `{
  "__stategen__": {
    "value": {"revision": 7, "schema": {"name": "S", "version": 2}, "keys": 1},
    "timestamp": "2026-11-23T22:14:19.000000"
  },
  "branch_name": {"value": "feat-1", "timestamp": "2026-11-23T22:14:19.000000", "revision": 7}
}`)
	st, err := runtime.Open(ctx, "json:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := st.Snapshot(ctx, "ns")
	if err != nil || !snap.Schema.Equal(runtime.SchemaRef{Name: "S", Version: 2}) || len(snap.Values) != 1 || snap.Revision != 7 || snap.Values["branch_name"].Revision != 7 {
		t.Fatalf("%+v, %v", snap, err)
	}
	if rev, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil || rev != 8 {
		t.Fatalf("next write: revision %d, %v", rev, err)
	}
	if got := fstest.ReadFile(t, filepath.Join(dir, "ns", "state.json")); strings.Contains(got, "__stategen__") {
		t.Errorf("the old bookkeeping stayed:\n%s", got)
	}
	if s, _ := st.Schema(ctx, "ns"); s.Version != 2 {
		t.Errorf("schema %v after the write", s)
	}
}

// TestUpdateRacingPython: Go updates a key while the Python StateManager
// saves another in a loop (read, change, rename over state.json, no lock).
// No Python save is lost to a Go write based on an older read: what a
// reader sees of Python's counter never goes back, and its last value
// stays.
func TestUpdateRacingPython(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	py := python.StateManager(t, work)
	py(`StateManager("json", "ns").save("py", -1)`)
	st, err := runtime.Open(ctx, "json:"+filepath.Join(work, ".claude", "state"), runtime.WithoutCache())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The watcher reads without the lock that writers and reads recording
	// a foreign write take, so it sees every version of the file.
	watcher, err := runtime.Open(ctx, "json:"+filepath.Join(work, ".claude", "state"), runtime.ReadOnly(), runtime.WithoutCache())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	// Python saves every few milliseconds, as often as a Go write lasts,
	// so that both a lost save and the time to see it happen.
	const saves = 300
	done := make(chan string, 1)
	go func() {
		done <- py(fmt.Sprintf(`import time
s = StateManager("json", "ns")
for i in range(%d):
    s.save("py", i)
    time.sleep(0.003)`, saves))
	}()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		fstest.WatchCounter(t, "watcher", func() (int, error) {
			v, err := watcher.Get(ctx, "ns", "py")
			n, _ := strconv.Atoi(string(v.Data))
			return n, err
		}, func() bool {
			select {
			case <-stop:
				return true
			default:
				return false
			}
		})
	})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := st.UpdateKey(ctx, "ns", "go", func(runtime.Value, bool) (json.RawMessage, error) {
				return json.RawMessage(strconv.Itoa(i)), nil
			}); err != nil {
				t.Errorf("update: %v", err)
				return
			}
		}
	})
	<-done
	close(stop)
	wg.Wait()
	if v, err := st.Get(ctx, "ns", "py"); err != nil || string(v.Data) != strconv.Itoa(saves-1) {
		t.Errorf("Python's last save: %s, %v", v.Data, err)
	}
}

func TestNamesStayInside(t *testing.T) {
	fstest.NamesStayInside(t, func(dir string) (runtime.Backend, error) { return Open(dir, runtime.Config{}) },
		"state.json", `{"k": {"value": 1, "timestamp": "2025-01-01T00:00:00"}}`, "k")
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"json://host/dir", "json:", "json:dir?x=1"} {
		if _, err := runtime.Open(ctx, bad); err == nil || errors.Is(err, runtime.ErrUnknownScheme) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
