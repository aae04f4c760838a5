package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// fillStore writes n namespaces of k keys each, with a schema and a
// checkpoint in every tenth, through the runtime.
func fillStore(tb testing.TB, url string, n, k int) {
	tb.Helper()
	ctx := context.Background()
	st, err := runtime.Open(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	ref := runtime.SchemaRef{Name: "ADWState", Version: 2}
	for i := range n {
		ns := fmt.Sprintf("run%04d", i)
		b := &runtime.Batch{Schema: &ref}
		for j := range k {
			b.Puts = append(b.Puts, runtime.KV{Key: fmt.Sprintf("key%03d", j), Value: json.RawMessage(fmt.Sprintf(`{"n": %d, "s": "value %d"}`, j, i))})
		}
		if _, err := st.Apply(ctx, ns, b); err != nil {
			tb.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := st.Checkpoint(ctx, ns, "after_plan"); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	from, to := "sqlite:"+filepath.Join(dir, "src.db"), "json:"+filepath.Join(dir, "dst")
	fillStore(t, from, 12, 5)

	r := runCLI(t, "migrate", "--from", from, "--to", to, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would copy 12 namespaces (60 keys, 2 checkpoints)") || !strings.Contains(r.stderr, "run0000: would copy 5 keys, 1 checkpoint\n") {
		t.Fatalf("dry run: %+v", r)
	}
	if r := runCLI(t, "--store", to, "namespaces"); r.stdout != "" {
		t.Fatalf("the dry run wrote: %+v", r)
	}
	// A dry run into a store that does not exist yet creates nothing.
	fresh := filepath.Join(dir, "fresh.db")
	if r := runCLI(t, "migrate", "--from", from, "--to", "sqlite:"+fresh, "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "would copy 12 namespaces (60 keys, 2 checkpoints)") {
		t.Fatalf("dry run into a new store: %+v", r)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the dry run created %s: %v", fresh, err)
	}

	r = runCLI(t, "migrate", "--from", from, "--to", to)
	if r.code != 0 || !strings.Contains(r.stdout, "copied 12 namespaces (60 keys, 2 checkpoints)") || !strings.Contains(r.stdout, "verified: key and checkpoint counts and content hashes match for all 12 namespaces") {
		t.Fatalf("migrate: %+v", r)
	}
	if !strings.Contains(r.stderr, "run0001: copied 5 keys\n") {
		t.Errorf("no plain progress line off a terminal: %q", r.stderr)
	}
	// Running it again changes nothing, and says so.
	r = runCLI(t, "migrate", "--from", from, "--to", to)
	if r.code != 0 || strings.Contains(r.stderr, "copied") || strings.Count(r.stderr, "up to date") != 12 ||
		!strings.HasPrefix(r.stdout, "nothing to copy from "+from+" to "+to+": all 12 namespaces already up to date\n") {
		t.Fatalf("second run: %+v", r)
	}
	// A namespace changed since is copied, and the summary counts only it.
	runCLI(t, "--store", from, "save", "run0005", "key000", `"changed"`)
	r = runCLI(t, "migrate", "--from", from, "--to", to, "--overwrite")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "copied 1 namespace (5 keys, 0 checkpoints) from ") || !strings.Contains(r.stdout, "; 11 more were already up to date\n") {
		t.Fatalf("third run: %+v", r)
	}
	// A --namespace the source does not hold is an error, not "up to date".
	r = runCLI(t, "migrate", "--from", from, "--to", to, "--namespace", "run0001", "--namespace", "nope")
	if r.code != 1 || r.stderr != "stategen: namespace nope not found in "+from+"\n" || r.stdout != "" {
		t.Fatalf("migrate of an absent namespace: %+v", r)
	}
	// A destination that holds other data is refused, and left alone.
	runCLI(t, "--store", to, "save", "run0003", "key000", `"mine"`)
	r = runCLI(t, "migrate", "--from", from, "--to", to, "--namespace", "run0003")
	if r.code != 1 || !strings.Contains(r.stderr, "--overwrite") {
		t.Fatalf("migrate over other data: %+v", r)
	}
	if got := runCLI(t, "--store", to, "load", "run0003", "key000"); strings.TrimSpace(got.stdout) != `"mine"` {
		t.Fatalf("a refused migrate changed the destination: %q", got.stdout)
	}
	r = runCLI(t, "--json", "migrate", "--from", from, "--to", to, "--namespace", "run0003", "--overwrite")
	var out struct {
		Verified   bool       `json:"verified"`
		Namespaces []migrated `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 {
		t.Fatalf("--json: %v %+v", err, r)
	}
	if !out.Verified || len(out.Namespaces) != 1 || !out.Namespaces[0].StateWritten || out.Namespaces[0].Keys != 5 || out.Namespaces[0].Hash == "" {
		t.Fatalf("--json output: %+v", out)
	}
	// Bad input.
	for _, args := range [][]string{
		{"migrate", "--from", from, "--to", "nosuch://x"},
		{"migrate", "--from", from, "--to", to, "--namespace", "../x"},
	} {
		if r := runCLI(t, args...); r.code != 1 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: %+v, want exit 1 and one line", args, r)
		}
	}
	if r := runCLI(t, "migrate", "--to", to); r.code != 2 {
		t.Errorf("migrate without --from: exit %d", r.code)
	}
}

// BenchmarkMigrate moves 100,000 keys in 1,000 namespaces from JSON files
// to SQLite, verification included, and reports keys per second.
func BenchmarkMigrate(b *testing.B) {
	dir := b.TempDir()
	from := "json:" + filepath.Join(dir, "src")
	fillStore(b, from, 1000, 100)
	for i := 0; b.Loop(); i++ {
		to := "sqlite:" + filepath.Join(dir, fmt.Sprintf("dst%d.db", i))
		start := time.Now()
		if r := runCLI(b, "migrate", "--from", from, "--to", to, "--json"); r.code != 0 {
			b.Fatalf("migrate: %s", r.stderr)
		}
		b.ReportMetric(100000/time.Since(start).Seconds(), "keys/s")
	}
}

// TestMigratePostgres moves a store from SQLite to PostgreSQL and on to
// Redis, verified at each step, and checks that the content, checkpoints
// and schemas arrived whole at the end.
func TestMigratePostgres(t *testing.T) {
	pg := pgtest.URL(t)
	rd := redistest.Start(t).URL(t)
	from := "sqlite:" + filepath.Join(t.TempDir(), "src.db")
	fillStore(t, from, 12, 5)

	// A dry run into a schema that holds no store yet creates nothing.
	if r := runCLI(t, "migrate", "--from", from, "--to", pg, "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "would copy 12 namespaces (60 keys, 2 checkpoints)") {
		t.Fatalf("dry run into PostgreSQL: %+v", r)
	}
	if r := runCLI(t, "--store", pg, "namespaces"); r.code != 1 || !strings.Contains(r.stderr, "no store at") {
		t.Fatalf("the dry run created the tables: %+v", r)
	}
	for _, step := range [][2]string{{from, pg}, {pg, rd}} {
		r := runCLI(t, "migrate", "--from", step[0], "--to", step[1])
		if r.code != 0 || !strings.Contains(r.stdout, "copied 12 namespaces (60 keys, 2 checkpoints)") ||
			!strings.Contains(r.stdout, "verified: key and checkpoint counts and content hashes match for all 12 namespaces") {
			t.Fatalf("migrate %s -> %s: %+v", step[0], step[1], r)
		}
	}
	// The far end holds what the source held, checkpoint times included.
	ctx := context.Background()
	stores := map[string]*runtime.Store{}
	for _, u := range []string{from, pg, rd} {
		st, err := runtime.Open(ctx, u, runtime.ReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		stores[u] = st
	}
	for _, ns := range []string{"run0000", "run0007"} {
		want, err := stores[from].Digest(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{pg, rd} {
			if got, err := stores[u].Digest(ctx, ns); err != nil || got != want {
				t.Errorf("%s in %s: digest %+v, %v; want %+v", ns, u, got, err, want)
			}
		}
	}
	if snap, err := stores[rd].Snapshot(ctx, "run0003"); err != nil || snap.Schema.Name != "ADWState" || snap.Schema.Version != 2 {
		t.Errorf("schema after SQLite -> PostgreSQL -> Redis: %+v, %v", snap, err)
	}
	// Running it again finds nothing to copy.
	if r := runCLI(t, "migrate", "--from", from, "--to", pg); r.code != 0 || !strings.HasPrefix(r.stdout, "nothing to copy") {
		t.Fatalf("second run: %+v", r)
	}
}
