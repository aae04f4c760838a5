package gen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
)

// TestEndToEnd generates code for a golden input in a module of its own
// that uses this repository, vets it, and runs a program that round-trips
// the state through the SQLite and JSON file backends (and PostgreSQL where
// a server is there), as stringer's
// end-to-end tests compile and run what it generates.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/e2e\n\ngo 1.26\n\nrequire github.com/stategen/stategen v0.0.0\n\nreplace github.com/stategen/stategen => "+repo+"\n")
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sum))
	input, err := os.ReadFile("../golden/allkinds/allkinds.go")
	if err != nil {
		t.Fatal(err)
	}
	write("allkinds/allkinds.go", string(input))
	write("main.go", e2eProgram)

	// The module's go.mod lists stategen alone; let the go command add the
	// rest, as go mod tidy would.
	t.Setenv("GOFLAGS", "-mod=mod")
	files, err := Generate(Config{Dir: filepath.Join(mod, "allkinds"), Types: []string{"Kinds"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	backends := []string{"sqlite", "json"}
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "STATEGEN_E2E_DIR="+t.TempDir())
	if pg, ok := pgtest.Optional(t); ok {
		backends = append(backends, "postgres")
		env = append(env, "STATEGEN_E2E_POSTGRES="+pg)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goTool, args...)
		cmd.Dir = mod
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("vet", "./...")
	out := run("run", ".")
	for _, backend := range backends {
		if !strings.Contains(out, backend+": ok\n") {
			t.Errorf("the program did not report %q:\n%s", backend+": ok", out)
		}
	}

	// A field added without regenerating breaks the build, saying what to do.
	changed := strings.Replace(string(input), "\tNested   map[string][]*Inner\n", "\tNested   map[string][]*Inner\n\tAdded    string\n", 1)
	if changed == string(input) {
		t.Fatal("could not add a field to allkinds.go")
	}
	write("allkinds/allkinds.go", changed)
	cmd := exec.Command(goTool, "build", "./...")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Kinds_changed_since_generation_run_go_generate") {
		t.Fatalf("a struct changed without regenerating: build %v, want a failure naming the guard:\n%s", err, out)
	}
	if files, err = Generate(Config{Dir: filepath.Join(mod, "allkinds"), Types: []string{"Kinds"}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("build", "./...")
}

// e2eProgram uses the generated KindsStore on each backend.
const e2eProgram = `package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"example.com/e2e/allkinds"
	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/all"
)

func main() {
	dir := os.Getenv("STATEGEN_E2E_DIR")
	stores := map[string]string{"sqlite": "sqlite:" + filepath.Join(dir, "s.db"), "json": "json:" + filepath.Join(dir, "j")}
	if pg := os.Getenv("STATEGEN_E2E_POSTGRES"); pg != "" {
		stores["postgres"] = pg
	}
	for name, url := range stores {
		if err := check(url); err != nil {
			fmt.Printf("%s: %v\n", name, err)
			os.Exit(1)
		}
		fmt.Printf("%s: ok\n", name)
	}
}

func check(url string) error {
	ctx := context.Background()
	st, err := runtime.Open(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := allkinds.NewKindsStore(st, "a1b2c3d4")
	if err != nil {
		return err
	}
	if _, err := s.Load(ctx); !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("load of nothing: %v", err)
	}
	inner := allkinds.Inner{Name: "n", Count: 2, Tags: []string{"x"}}
	want := &allkinds.Kinds{
		ID: "a1b2c3d4", Secret: "s3cret", Model: "heavy", Retries: 5, Flags: []string{"f"}, Enabled: true,
		I8: -8, I16: -16, I32: -32, I64: -64, U: 1, U8: 8, U32: 32, U64: 1 << 60, F32: 1.5, F64: 2.25,
		Class: "/feature", Port: 8080, Inner: inner, InnerPtr: &inner, Inners: []allkinds.Inner{inner},
		Matrix: [2][3]int{{1, 2, 3}, {4, 5, 6}}, ByName: map[string]allkinds.Inner{"a": inner}, ByID: map[int64]string{7: "seven"},
		Blob: []byte{0, 1, 2}, When: time.Date(2026, 11, 23, 12, 0, 0, 5, time.UTC), Timeout: 3 * time.Second,
		Raw: json.RawMessage(` + "`" + `{"k":[1,2]}` + "`" + `), Addr: netip.MustParseAddr("127.0.0.1"), Shout: "hello",
		Classes: []allkinds.Class{"/a", "b\"c"}, Shouts: []allkinds.Upper{"x"},
		Nested: map[string][]*allkinds.Inner{"n": {&inner}},
	}
	if err := s.Save(ctx, want); err != nil {
		return err
	}
	got, err := s.Load(ctx)
	if err != nil {
		return err
	}
	want.Shout, want.Shouts[0] = "HELLO", "X" // Upper stores itself upper-cased
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("round trip:\nsaved  %+v\nloaded %+v", want, got)
	}
	// Per-field accessors, defaults and updates.
	if err := s.SavePort(ctx, 9090); err != nil {
		return err
	}
	if p, err := s.LoadPort(ctx); err != nil || p != 9090 {
		return fmt.Errorf("port %d, %v", p, err)
	}
	if err := s.DeleteModel(ctx); err != nil {
		return err
	}
	if m, err := s.LoadModel(ctx); err != nil || m != "base" {
		return fmt.Errorf("model default %q, %v", m, err)
	}
	if r, err := s.UpdateRetries(ctx, func(r int) (int, error) { return r + 1, nil }); err != nil || r != 6 {
		return fmt.Errorf("retries %d, %v", r, err)
	}
	if _, err := s.LoadClass(ctx); err != nil {
		return err
	}
	if _, err := s.Checkpoint(ctx, "cp"); err != nil {
		return err
	}
	if err := s.SaveClass(ctx, "/bug"); err != nil {
		return err
	}
	if err := s.Restore(ctx, "cp"); err != nil {
		return err
	}
	if c, _ := s.LoadClass(ctx); c != "/feature" {
		return fmt.Errorf("class after restore %q", c)
	}
	v, err := s.Update(ctx, func(k *allkinds.Kinds) error { k.Flags = append(k.Flags, "g"); return nil })
	if err != nil || len(v.Flags) != 2 {
		return fmt.Errorf("update %v, %v", v.Flags, err)
	}

	// The constructor sets the tag defaults, and nothing else.
	n := allkinds.NewKinds()
	if n.Model != "base" || n.Retries != 3 || !reflect.DeepEqual(n.Flags, []string{"a", "b"}) || n.OptPort != 8080 || n.ID != "" || n.Inners != nil {
		return fmt.Errorf("NewKinds() = %+v", n)
	}
	// required is checked on writes, as on loads.
	if err := s.Save(ctx, n); !errors.Is(err, runtime.ErrMissing) {
		return fmt.Errorf("save without the required id: %v", err)
	}
	if err := s.SaveID(ctx, ""); !errors.Is(err, runtime.ErrMissing) {
		return fmt.Errorf("save of an empty required id: %v", err)
	}
	if _, err := s.Update(ctx, func(k *allkinds.Kinds) error { k.ID = ""; return nil }); !errors.Is(err, runtime.ErrMissing) {
		return fmt.Errorf("update that empties the required id: %v", err)
	}
	// nullzero fields store their zero value as null; slices and maps
	// without it store nil as [] and {}.
	n.ID = "a1b2c3d4"
	if err := s.Save(ctx, n); err != nil {
		return err
	}
	snap, err := st.Snapshot(ctx, "a1b2c3d4")
	if err != nil {
		return err
	}
	stored := map[string]string{}
	for k, v := range snap.Values {
		stored[k] = string(v.Data)
	}
	for k, want := range map[string]string{"opt_issue": "null", "opt_tags": "null", "opt_meta": "null", "opt_when": "null", "opt_port": "8080", "inners": "[]", "by_name": "{}", "nested": "{}"} {
		if stored[k] != want {
			return fmt.Errorf("stored %s = %s, want %s", k, stored[k], want)
		}
	}
	got, err = s.Load(ctx)
	if err != nil {
		return err
	}
	if got.OptIssue != "" || got.OptTags != nil || got.OptMeta != nil || !got.OptWhen.IsZero() || got.OptPort != 8080 {
		return fmt.Errorf("nullzero fields loaded as %+v", got)
	}
	if err := s.SaveOptIssue(ctx, "42"); err != nil {
		return err
	}
	if i, err := s.LoadOptIssue(ctx); err != nil || i != "42" {
		return fmt.Errorf("opt_issue %q, %v", i, err)
	}
	if err := s.SaveOptIssue(ctx, ""); err != nil {
		return err
	}
	if raw, err := st.Get(ctx, "a1b2c3d4", "opt_issue"); err != nil || string(raw.Data) != "null" {
		return fmt.Errorf("opt_issue stored as %s, %v; want null", raw.Data, err)
	}
	return nil
}
`
