package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stategen/stategen/internal/python"
)

// TestHandOverWithPython follows one run handed back and forth between the
// Python ADW scripts (a double of their ADWState: a pydantic model saved in
// place with json.dump, dropping keys it does not declare) and this port,
// on the files they share: Python creates the run with nulls; a Go phase
// takes it on stdin, another works on the file; a Python phase validates
// and saves; the Go port goes on from its own keys, which Python's saves
// could not drop; and Python's model accepts every file Go wrote, with the
// nulls it left still null.
func TestHandOverWithPython(t *testing.T) {
	py := python.NewADW(t)
	const id = "a1b2c3d4"
	work := t.TempDir()
	flags := []string{"--store", "adw:" + py.Agents(), "--workdir", work}
	valid := func(when string) map[string]any {
		t.Helper()
		if _, errOut, code := py.Run("", "check", py.StatePath(id)); code != 0 {
			t.Fatalf("%s: Python refuses adw_state.json: %s\n%s", when, errOut, readFile(t, py.StatePath(id)))
		}
		return py.Show(id)
	}

	py.Must("", "create", id, `issue_number="5"`, `issue_class="/bug"`, `model_set="heavy"`, `all_adws=["a1b2c3d4"]`)

	// A Go phase on stdin, as the Python scripts chain theirs.
	code, out, errOut := adw(t, py.Must("", "stdout", id), append([]string{"plan"}, flags...)...)
	if code != 0 {
		t.Fatalf("plan on Python's stdout: exit %d\n%s", code, errOut)
	}
	var piped map[string]any
	if err := json.Unmarshal([]byte(out), &piped); err != nil || piped["current_phase"] != "plan" {
		t.Fatalf("plan's stdout: %v\n%s", err, out)
	}
	s := valid("after the Go plan phase")
	if !strings.HasPrefix(str(s["branch_name"]), "feature-issue-5-adw-"+id) || !strings.HasSuffix(str(s["plan_file"]), "plan.md") {
		t.Errorf("after plan: %v", s)
	}
	// Optional fields Python left None stay None: not "" or 0, which its
	// validation refuses.
	if s["backend_port"] != nil || s["frontend_port"] != nil || s["model_set"] != "heavy" || s["all_adws"].([]any)[0] != id {
		t.Errorf("Python's None or values changed: %v", s)
	}
	// The next Python script takes Go's stdout.
	py.Must(out, "stdin")

	// A Go phase on the run in the store, through the file.
	if code, _, errOut := adw(t, "", append([]string{"build"}, append(flags, id)...)...); code != 0 {
		t.Fatalf("build on the stored run: exit %d\n%s", code, errOut)
	}
	s = valid("after the Go build phase")
	if s["backend_port"] == nil || s["frontend_port"] == nil {
		t.Errorf("after build: %v", s)
	}

	// A Python phase: load (validating), change, save, which rewrites the
	// file from the model alone.
	tree := filepath.Join(work, "python-tree")
	py.Must("", "phase", id, `worktree_path="`+tree+`"`)
	if data := readFile(t, py.StatePath(id)); strings.Contains(data, "completed_phases") {
		t.Fatalf("Python's save kept a key its model does not declare:\n%s", data)
	}

	// The Go port goes on from its own keys: plan and build are done.
	code, out, errOut = adw(t, "", append([]string{"status"}, append(flags, id)...)...)
	if code != 0 || !strings.Contains(out, "completed [plan build]") {
		t.Fatalf("status after Python's save: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := adw(t, "", append([]string{"test"}, append(flags, id)...)...); code != 0 {
		t.Fatalf("test on the stored run: exit %d\n%s", code, errOut)
	}
	code, out, _ = adw(t, "", append([]string{"status"}, append(flags, id)...)...)
	if code != 0 || !strings.Contains(out, "completed [plan build test]") {
		t.Errorf("status after the Go test phase:\n%s", out)
	}
	s = valid("after the Go test phase")
	if s["worktree_path"] != tree || s["issue_class"] != "/bug" || s["model_set"] != "heavy" {
		t.Errorf("Python's values lost: %v", s)
	}
}

func str(v any) string { s, _ := v.(string); return s }

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
