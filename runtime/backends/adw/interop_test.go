package adw

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

// TestPythonJSONDump compares, byte for byte, the files Python's
// json.dump(data, f, indent=2) (what ADWState.save calls) writes with the
// ones the backend writes for the same data, and checks that each side
// reads the other's.
func TestPythonJSONDump(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH: skipping the comparison with Python's json.dump")
	}
	ctx := context.Background()
	work := t.TempDir()
	python := func(code string) string {
		t.Helper()
		cmd := exec.Command(py, "-c", "import json, os, sys\n"+code)
		cmd.Dir = work
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, stderr.String())
		}
		return string(out)
	}
	// The state of one run as ADWState.model_dump() gives it, with the
	// awkward characters ensure_ascii escapes and a float.
	python(`
data = {
    "adw_id": "a1b2c3d4",
    "issue_number": "42",
    "branch_name": None,
    "plan_file": "specs/plan-é.md",
    "issue_class": "/feature",
    "worktree_path": None,
    "backend_port": 9101,
    "frontend_port": 9201,
    "model_set": "base",
    "all_adws": ["adw_plan_iso", "adw_build_iso"],
    "ratio": 0.1,
    "note": "<b>&amp;</b> ☃ 𝄞 \u2028 \x00 \x7f \"q\" \\ \t",
    "nested": {"empty": {}, "list": [], "deep": [[1, -2.5e-07]]},
}
os.makedirs("agents/a1b2c3d4")
with open("agents/a1b2c3d4/adw_state.json", "w") as f:
    json.dump(data, f, indent=2)
# A later phase changes a field and adds two (appended in the order the
# write gives them).
data["branch_name"] = "feat-42-é"
data["alpha"] = [True, False]
data["zeta"] = {"by": "go"}
with open("changed.json", "w") as f:
    json.dump(data, f, indent=2)
# A run created from scratch, keys in sorted order.
with open("fresh.json", "w") as f:
    json.dump(dict(sorted(data.items())), f, indent=2)
`)
	// Every key in adw_state.json: this is about json.dump's bytes, not
	// about which keys the Python model declares.
	st, err := runtime.Open(ctx, "adw:"+filepath.Join(work, "agents")+"?python_keys=*")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	path := filepath.Join(work, "agents", "a1b2c3d4", "adw_state.json")
	original := fstest.ReadFile(t, path)

	// stategen reads Python's file.
	snap, err := st.Snapshot(ctx, "a1b2c3d4")
	if err != nil {
		t.Fatal(err)
	}
	var fromPython map[string]any
	if err := json.Unmarshal([]byte(original), &fromPython); err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for k, v := range snap.Values {
		var x any
		if err := json.Unmarshal(v.Data, &x); err != nil {
			t.Fatal(err)
		}
		got[k] = x
	}
	if d := cmp.Diff(fromPython, got); d != "" {
		t.Errorf("Python's file read by stategen (-python +stategen):\n%s", d)
	}

	// A write of an unchanged value writes Python's bytes again.
	if _, err := st.Put(ctx, "a1b2c3d4", "model_set", json.RawMessage(`"base"`)); err != nil {
		t.Fatal(err)
	}
	if got := fstest.ReadFile(t, path); got != original {
		t.Fatalf("stategen rewrote Python's file differently:\n%s\npython:\n%s", got, original)
	}
	// The same changes as the Python phase: the same bytes.
	if _, err := st.Apply(ctx, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{
		fstest.KV("alpha", `[true, false]`), fstest.KV("branch_name", `"feat-42-é"`), fstest.KV("zeta", `{"by": "go"}`),
	}}); err != nil {
		t.Fatal(err)
	}
	if got, want := fstest.ReadFile(t, path), fstest.ReadFile(t, filepath.Join(work, "changed.json")); got != want {
		t.Fatalf("after the same changes stategen wrote:\n%s\npython:\n%s", got, want)
	}
	// A run created by stategen alone.
	snap, err = st.Snapshot(ctx, "a1b2c3d4")
	if err != nil {
		t.Fatal(err)
	}
	b := &runtime.Batch{}
	for _, k := range snap.Keys() {
		b.Puts = append(b.Puts, runtime.KV{Key: k, Value: snap.Values[k].Data})
	}
	if _, err := st.Apply(ctx, "f0e1d2c3", b); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(work, "agents", "f0e1d2c3", "adw_state.json")
	if got, want := fstest.ReadFile(t, fresh), fstest.ReadFile(t, filepath.Join(work, "fresh.json")); got != want {
		t.Fatalf("a new run written by stategen:\n%s\npython:\n%s", got, want)
	}

	// Python reads stategen's file as ADWState.load does.
	out := python(`
with open("agents/f0e1d2c3/adw_state.json") as f:
    data = json.load(f)
with open("fresh.json") as f:
    want = json.load(f)
print(data == want)
`)
	if strings.TrimSpace(out) != "True" {
		t.Errorf("Python read stategen's file as something else: %s", out)
	}
}
