package jsonfile

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/internal/python"
	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

func decodeAny(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%q: %v", data, err)
	}
	return v
}

func snapshotValues(t *testing.T, st *runtime.Store, ns string) map[string]any {
	t.Helper()
	snap, err := st.Snapshot(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for k, v := range snap.Values {
		out[k] = decodeAny(t, v.Data)
	}
	return out
}

// TestPythonWritesStategenReads: state, checkpoints and a restore made by
// the Python program, read by stategen; then stategen restores and Python
// reads the result.
func TestPythonWritesStategenReads(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	python := python.StateManager(t, work)
	python(`
s = StateManager("json", "ns1")
s.save("issue", {"a": [1, 2], "t": "naïve <b> 𝄞"})
s.save("branch", "feat/x")
s.checkpoint("cp1")
s.save("branch", "feat/y")
s.save("extra", 1.5)
`)
	st, err := runtime.Open(ctx, "json:"+filepath.Join(work, ".claude", "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	issue := map[string]any{"a": []any{1.0, 2.0}, "t": "naïve <b> 𝄞"}
	want := map[string]any{"issue": issue, "branch": "feat/y", "extra": 1.5}
	if d := cmp.Diff(want, snapshotValues(t, st, "ns1")); d != "" {
		t.Errorf("Python's state read by stategen (-want +got):\n%s", d)
	}
	if ns, err := st.Namespaces(ctx); err != nil || !cmp.Equal(ns, []string{"ns1"}) {
		t.Errorf("namespaces %v, %v", ns, err)
	}
	cps, err := st.Checkpoints(ctx, "ns1")
	if err != nil || len(cps) != 1 || cps[0].Name != "cp1" || cps[0].Keys != 2 {
		t.Fatalf("Python's checkpoints read by stategen: %+v, %v", cps, err)
	}
	cp, err := st.GetCheckpoint(ctx, "ns1", "cp1")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffValues(t, map[string]any{"issue": issue, "branch": "feat/x"}, cp.Values); d != "" {
		t.Errorf("Python's checkpoint read by stategen (-want +got):\n%s", d)
	}

	// stategen writes; then Python restores its checkpoint: stategen sees
	// the old state at a new revision.
	if _, err := st.Put(ctx, "ns1", "phase", json.RawMessage(`"plan"`)); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Snapshot(ctx, "ns1")
	python(`StateManager("json", "ns1").backend.restore_checkpoint("cp1")`)
	after, err := st.Snapshot(ctx, "ns1")
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision <= before.Revision {
		t.Errorf("revision %d after Python's restore, not past %d", after.Revision, before.Revision)
	}
	if d := cmp.Diff(map[string]any{"issue": issue, "branch": "feat/x"}, snapshotValues(t, st, "ns1")); d != "" {
		t.Errorf("after Python's restore (-want +got):\n%s", d)
	}

	// stategen writes and restores; Python reads what it did.
	if _, err := st.Put(ctx, "ns1", "branch", json.RawMessage(`"feat/z"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Restore(ctx, "ns1", "cp1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "ns1", "phase", json.RawMessage(`"build"`)); err != nil {
		t.Fatal(err)
	}
	out := python(`
s = StateManager("json", "ns1")
print(json.dumps({k: s.load(k) for k in ["issue", "branch", "phase"]}))
`)
	if d := cmp.Diff(map[string]any{"issue": issue, "branch": "feat/x", "phase": "build"}, decodeAny(t, []byte(out))); d != "" {
		t.Errorf("stategen's state read by Python (-want +got):\n%s", d)
	}
}

// TestStategenWritesPythonReads: state and a checkpoint made by stategen,
// read and restored by the Python program, and read back by stategen.
func TestStategenWritesPythonReads(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	python := python.StateManager(t, work)
	st, err := runtime.Open(ctx, "json:"+filepath.Join(work, ".claude", "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	schema := runtime.SchemaRef{Name: "ADWState", Version: 1}
	if _, err := st.Apply(ctx, "ns2", &runtime.Batch{Schema: &schema, Puts: []runtime.KV{
		fstest.KV("k1", `{"x": [1, "é"], "big": 12345678901234567890}`),
		fstest.KV("k2", `42`),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Checkpoint(ctx, "ns2", "go_cp"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, "ns2", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k2", `43`), fstest.KV("k3", `true`)}}); err != nil {
		t.Fatal(err)
	}
	k2, _ := st.Get(ctx, "ns2", "k2")

	out := python(`
s = StateManager("json", "ns2")
print(json.dumps({
    "values": {k: s.load(k) for k in ["k1", "k2", "k3"]},
    "keys": sorted(s.backend.list_keys()),
    "checkpoints": s.list_checkpoints(),
}))
`)
	want := map[string]any{
		"values":      map[string]any{"k1": map[string]any{"x": []any{1.0, "é"}, "big": 12345678901234567890.0}, "k2": 43.0, "k3": true},
		"keys":        []any{"k1", "k2", "k3"}, // nothing of stategen's
		"checkpoints": []any{"go_cp"},
	}
	if d := cmp.Diff(want, decodeAny(t, []byte(out))); d != "" {
		t.Errorf("stategen's state read by Python (-want +got):\n%s", d)
	}

	// Python restores stategen's checkpoint and saves a key.
	python(`
s = StateManager("json", "ns2")
s.backend.restore_checkpoint("go_cp")
s.save("py", {"by": "python"})
`)
	got := snapshotValues(t, st, "ns2")
	want2 := map[string]any{"k1": map[string]any{"x": []any{1.0, "é"}, "big": 12345678901234567890.0}, "k2": 42.0, "py": map[string]any{"by": "python"}}
	if d := cmp.Diff(want2, got); d != "" {
		t.Errorf("after Python's restore and save (-want +got):\n%s", d)
	}
	if s, _ := st.Schema(ctx, "ns2"); s != schema {
		t.Errorf("schema after Python's restore: %v, want %v", s, schema)
	}
	// The restore copied the checkpoint's reserved entry into state.json,
	// where Python lists it until stategen's next write removes it.
	listKeys := func() string {
		return strings.TrimSpace(python("s = StateManager(\"json\", \"ns2\")\nprint(sorted(s.backend.list_keys()))"))
	}
	if got := listKeys(); got != "['__stategen__', 'k1', 'k2', 'py']" {
		t.Errorf("Python's keys after its restore: %s", got)
	}
	// A write based on what stategen read before Python's changes conflicts.
	_, err = st.Apply(ctx, "ns2", &runtime.Batch{Puts: []runtime.KV{fstest.KV("k2", `44`)}, Conds: []runtime.Cond{{Key: "k2", Revision: k2.Revision}}})
	if !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("write against a revision from before Python's restore: got %v, want ErrConflict", err)
	}
	if _, err := st.Put(ctx, "ns2", "k2", json.RawMessage(`44`)); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(); got != "['k1', 'k2', 'py']" {
		t.Errorf("Python's keys after stategen's next write: %s", got)
	}
	// The big integer survived Python's round trip (Python's ints are exact).
	v, err := st.Get(ctx, "ns2", "k1")
	if err != nil || !strings.Contains(string(v.Data), "12345678901234567890") {
		t.Errorf("k1 after Python: %s, %v", v.Data, err)
	}
}

func diffValues(t *testing.T, want map[string]any, got map[string]runtime.Value) string {
	t.Helper()
	g := map[string]any{}
	for k, v := range got {
		g[k] = decodeAny(t, v.Data)
	}
	return cmp.Diff(want, g)
}
