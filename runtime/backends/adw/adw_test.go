package adw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stategen/stategen/internal/python"
	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

var ctx = context.Background()

func openStore(t *testing.T, url string) *runtime.Store {
	t.Helper()
	st, err := runtime.Open(ctx, url, runtime.WithoutCache())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func values(t *testing.T, st *runtime.Store, ns string) map[string]string {
	t.Helper()
	snap, err := st.Snapshot(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range snap.Values {
		out[k] = string(v.Data)
	}
	return out
}

// TestHandOverWithPython: a run Python creates (nulls and all), a Go phase
// that adds keys of its own, a Python phase that validates and saves, and
// the Go phase again: Python accepts every file Go wrote, and Go's keys
// survive Python's saves, which drop whatever the model does not declare.
func TestHandOverWithPython(t *testing.T) {
	py := python.NewADW(t)
	py.Must("", "create", "a1b2c3d4", `issue_number="42"`, `all_adws=["adw_plan_iso"]`)
	st := openStore(t, "adw:"+py.Agents())

	got := values(t, st, "a1b2c3d4")
	if got["issue_number"] != `"42"` || got["branch_name"] != "null" || got["model_set"] != `"base"` || got["all_adws"] != `["adw_plan_iso"]` || len(got) != 10 {
		t.Fatalf("Python's run read by Go: %v", got)
	}
	// The Go phase: Python's fields and its own.
	if _, err := st.Apply(ctx, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{
		fstest.KV("branch_name", `"feat-42"`), fstest.KV("backend_port", `9101`),
		fstest.KV("current_phase", `"build"`), fstest.KV("completed_phases", `["plan"]`),
	}}); err != nil {
		t.Fatal(err)
	}
	py.Must("", "check", py.StatePath("a1b2c3d4"))
	data := fstest.ReadFile(t, py.StatePath("a1b2c3d4"))
	if strings.Contains(data, "phase") {
		t.Errorf("Go's own keys are in adw_state.json, where Python's next save drops them:\n%s", data)
	}
	// A Python phase loads (validating), changes a field and saves.
	py.Must("", "phase", "a1b2c3d4", `plan_file="specs/plan.md"`)
	got = values(t, st, "a1b2c3d4")
	want := map[string]string{
		"branch_name": `"feat-42"`, "backend_port": "9101", "plan_file": `"specs/plan.md"`,
		"current_phase": `"build"`, "completed_phases": `["plan"]`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("after Python's phase, %s = %s, want %s", k, got[k], v)
		}
	}
	// The Go phase resumes from its own keys and finishes.
	if _, err := st.Apply(ctx, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{
		fstest.KV("completed_phases", `["plan","build"]`), fstest.KV("current_phase", `null`),
	}}); err != nil {
		t.Fatal(err)
	}
	if show := py.Show("a1b2c3d4"); show["plan_file"] != "specs/plan.md" || show["branch_name"] != "feat-42" {
		t.Errorf("Python loads %v", show)
	}
}

// TestUntouchedBytesKept: a write changes only what it writes; a Python
// file's other members keep their bytes, escapes and all, and the file
// keeps its mode.
func TestUntouchedBytesKept(t *testing.T) {
	py := python.NewADW(t)
	// Python holds a lone surrogate in a str and json.dump escapes it.
	py.Must("", "create", "a1b2c3d4", `plan_file="x\ud800y"`, `worktree_path="trees/\u00e9"`)
	path := py.StatePath("a1b2c3d4")
	before := fstest.ReadFile(t, path)
	fi, _ := os.Stat(path)
	st := openStore(t, "adw:"+py.Agents())
	if _, err := st.Put(ctx, "a1b2c3d4", "branch_name", json.RawMessage(`"feat"`)); err != nil {
		t.Fatal(err)
	}
	after := fstest.ReadFile(t, path)
	if want := strings.Replace(before, `"branch_name": null`, `"branch_name": "feat"`, 1); after != want {
		t.Errorf("Go changed more than branch_name:\n%s\nwant\n%s", after, want)
	}
	if fi2, _ := os.Stat(path); fi2.Mode() != fi.Mode() {
		t.Errorf("mode %v, was %v", fi2.Mode(), fi.Mode())
	}
	// Its value, handed to Go, keeps the lone surrogate escaped.
	if v, err := st.Get(ctx, "a1b2c3d4", "plan_file"); err != nil || string(v.Data) != `"x\ud800y"` {
		t.Errorf("plan_file %s, %v", v.Data, err)
	}
	py.Must("", "check", path)
}

// TestPythonSaveLoop: Go reads while Python saves in place in a loop
// (truncating the file each time): no read fails or sees a torn file.
func TestPythonSaveLoop(t *testing.T) {
	py := python.NewADW(t)
	py.Must("", "create", "a1b2c3d4", `issue_number="1"`)
	st := openStore(t, "adw:"+py.Agents())
	loop := py.Command("loop", "a1b2c3d4", "branch_name", "400")
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- loop.Wait() }()
	text := runtime.JSONCodec[*string]()
	reads, errs := 0, 0
	for running := true; running || reads < 50; reads++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("python loop: %v", err)
			}
			running = false
		default:
		}
		if _, err := st.Snapshot(ctx, "a1b2c3d4"); err != nil {
			errs++
			t.Errorf("snapshot during Python's saves: %v", err)
		}
		if _, err := runtime.Load(ctx, st, "a1b2c3d4", "issue_number", text); err != nil {
			errs++
			t.Errorf("load during Python's saves: %v", err)
		}
		if errs > 5 {
			t.FailNow()
		}
	}
	if v := values(t, st, "a1b2c3d4"); v["branch_name"] != `"399"` {
		t.Errorf("after the loop: %v", v)
	}
}

// TestUpdateRacingPython: Go updates the run (a key of its own, and one of
// Python's) while Python saves in a loop. No Python save is lost to a Go
// write based on an older read (what readers see of Python's counter never
// goes back, and its last value stays), and no Go update is lost or
// applied twice (Python's saves cannot touch Go's key).
func TestUpdateRacingPython(t *testing.T) {
	py := python.NewADW(t)
	py.Must("", "create", "a1b2c3d4")
	st := openStore(t, "adw:"+py.Agents())
	// The watcher reads without the lock that writers and reads recording
	// a foreign write take, so it sees every version of the file.
	watcher, err := runtime.Open(ctx, "adw:"+py.Agents(), runtime.ReadOnly(), runtime.WithoutCache())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	// Python saves every few milliseconds, as often as a Go write lasts,
	// so that both a lost save and the time to see it happen.
	const saves, updates = 300, 100
	loop := py.Command("loop", "a1b2c3d4", "branch_name", strconv.Itoa(saves), "3")
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	counter := func(v json.RawMessage) int {
		var s *string
		json.Unmarshal(v, &s)
		if s == nil {
			return -1
		}
		n, _ := strconv.Atoi(*s)
		return n
	}
	watch := func(what string, stop func() bool) {
		defer wg.Done()
		fstest.WatchCounter(t, what, func() (int, error) {
			v, err := watcher.Get(ctx, "a1b2c3d4", "branch_name")
			return counter(v.Data), err
		}, stop)
	}
	var finished sync.WaitGroup
	finished.Add(1)
	stopped := make(chan struct{})
	go func() { finished.Wait(); close(stopped) }()
	isStopped := func() bool {
		select {
		case <-stopped:
			return true
		default:
			return false
		}
	}
	wg.Add(1)
	go watch("reader", isStopped)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer finished.Done()
		for i := range updates {
			// A key of Go's own.
			if _, err := st.UpdateKey(ctx, "a1b2c3d4", "go_count", func(cur runtime.Value, found bool) (json.RawMessage, error) {
				n := 0
				if found {
					json.Unmarshal(cur.Data, &n)
				}
				return json.RawMessage(strconv.Itoa(n + 1)), nil
			}); err != nil {
				t.Errorf("update %d: %v", i, err)
				return
			}
			// One of Python's, written with the whole file.
			if _, err := st.UpdateNamespace(ctx, "a1b2c3d4", func(*runtime.Snapshot) (*runtime.Batch, error) {
				return &runtime.Batch{Puts: []runtime.KV{fstest.KV("plan_file", fmt.Sprintf(`"go-%d"`, i))}}, nil
			}); err != nil {
				t.Errorf("namespace update %d: %v", i, err)
				return
			}
		}
	}()
	if err := loop.Wait(); err != nil {
		t.Fatalf("python loop: %v", err)
	}
	wg.Wait()
	got := values(t, st, "a1b2c3d4")
	if got["go_count"] != strconv.Itoa(updates) {
		t.Errorf("Go's counter %s, want %d", got["go_count"], updates)
	}
	if got["branch_name"] != fmt.Sprintf(`"%d"`, saves-1) {
		t.Errorf("Python's last save was lost: branch_name %s, want %d", got["branch_name"], saves-1)
	}
	py.Must("", "check", py.StatePath("a1b2c3d4"))
}

// TestReadingCreatesNothing: a store pointed at a directory that does not
// exist says so on reading and creates nothing; opening it read-only
// fails.
func TestReadingCreatesNothing(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "agents")
	st := openStore(t, "adw:"+dir)
	_, err := st.Get(ctx, "a1b2c3d4", "adw_id")
	if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "no store at "+dir) {
		t.Errorf("read: %v", err)
	}
	if _, err := runtime.Open(ctx, "adw:"+dir, runtime.ReadOnly()); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("read-only open: %v", err)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 0 {
		t.Errorf("created %v", ents)
	}
}

// TestDeepValueRefused: a value the files could not read back is refused
// when written, and the namespace stays readable.
func TestDeepValueRefused(t *testing.T) {
	st := openStore(t, "adw:"+t.TempDir())
	if _, err := st.Put(ctx, "ns", "adw_id", json.RawMessage(`"x"`)); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat("[", 600) + strings.Repeat("]", 600)
	for _, key := range []string{"all_adws", "go_key"} {
		if _, err := st.Put(ctx, "ns", key, json.RawMessage(deep)); !errors.Is(err, runtime.ErrInvalidValue) {
			t.Errorf("%s: %v, want ErrInvalidValue", key, err)
		}
	}
	if v := values(t, st, "ns"); len(v) != 1 {
		t.Errorf("after the refusals: %v", v)
	}
}

// TestPythonKeysURL: which keys live in adw_state.json is the URL's to say.
func TestPythonKeysURL(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, "adw:"+dir+"?python_keys=adw_id,custom")
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{fstest.KV("adw_id", `"ns"`), fstest.KV("custom", `1`), fstest.KV("branch_name", `"b"`)}}); err != nil {
		t.Fatal(err)
	}
	if got := fstest.ReadFile(t, filepath.Join(dir, "ns", "adw_state.json")); got != "{\n  \"adw_id\": \"ns\",\n  \"custom\": 1\n}" {
		t.Errorf("adw_state.json:\n%s", got)
	}
	for _, bad := range []string{"?python_keys=a,../b", "?python_keys=", "?other=1"} {
		if _, err := runtime.Open(ctx, "adw:"+dir+bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestNamesStayInside(t *testing.T) {
	fstest.NamesStayInside(t, func(dir string) (runtime.Backend, error) {
		return Open(dir, Options{PythonKeys: DefaultPythonKeys}, runtime.Config{})
	}, "adw_state.json", `{"adw_id": "x"}`, "adw_id")
}

// TestSealedSecretForPython: a secret field of the Python model, sealed,
// is a string to Python: its model still validates the file, and a Python
// save keeps the sealed string, which Go still opens. With
// ?secrets=plain it is stored in the clear for Python to use.
func TestSealedSecretForPython(t *testing.T) {
	py := python.NewADW(t)
	py.Must("", "create", "a1b2c3d4", `issue_number="7"`)
	keys, err := runtime.ParseKeyring("k1:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	secret := runtime.SchemaRef{Name: "ADWState", Version: 1, Secret: []string{"plan_file"}}
	write := func(url, value string) {
		st, err := runtime.Open(ctx, url, runtime.WithKeys(keys))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Apply(ctx, "a1b2c3d4", &runtime.Batch{Schema: &secret, Puts: []runtime.KV{fstest.KV("plan_file", `"`+value+`"`)}}); err != nil {
			t.Fatal(err)
		}
	}
	write("adw:"+py.Agents(), "specs/secret-plan.md")
	if data := fstest.ReadFile(t, py.StatePath("a1b2c3d4")); strings.Contains(data, "secret-plan") || !strings.Contains(data, "stategen:v1:k1:") {
		t.Fatalf("adw_state.json:\n%s", data)
	}
	py.Must("", "check", py.StatePath("a1b2c3d4"))
	py.Must("", "phase", "a1b2c3d4", `branch_name="feat"`) // load, validate, save
	st, err := runtime.Open(ctx, "adw:"+py.Agents(), runtime.WithKeys(keys))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := st.Get(ctx, "a1b2c3d4", "plan_file")
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := st.Unseal("a1b2c3d4", "plan_file", v.Data); err != nil || string(plain) != `"specs/secret-plan.md"` {
		t.Errorf("after Python's save: %s, %v", plain, err)
	}

	write("adw:"+py.Agents()+"?secrets=plain", "specs/plain-plan.md")
	if show := py.Show("a1b2c3d4"); show["plan_file"] != "specs/plain-plan.md" {
		t.Errorf("with secrets=plain Python reads %v", show["plan_file"])
	}
	if _, err := runtime.Open(ctx, "adw:"+py.Agents()+"?secrets=maybe"); err == nil {
		t.Error("secrets=maybe accepted")
	}
}
