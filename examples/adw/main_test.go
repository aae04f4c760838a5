package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
)

// adw runs the command in process and returns its exit status and output.
func adw(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	if strings.Contains(errOut.String(), "goroutine ") {
		t.Fatalf("stack trace on stderr:\n%s", errOut.String())
	}
	return code, out.String(), errOut.String()
}

var runID = regexp.MustCompile(`run ([0-9a-f]{8})`)

// stores are the backends the example is tested on: the embedded default,
// the layout Python ADW shares, and PostgreSQL where a server is there.
func stores(t *testing.T) map[string]string {
	dir := t.TempDir()
	s := map[string]string{"sqlite": "sqlite:" + filepath.Join(dir, "state.db"), "adw": "adw:" + filepath.Join(dir, "agents")}
	if pg, ok := pgtest.Optional(t); ok {
		s["postgres"] = pg
	}
	return s
}

func TestRunFailResumeStatus(t *testing.T) {
	for name, url := range stores(t) {
		t.Run(name, func(t *testing.T) {
			work := t.TempDir()
			flags := []string{"--store", url, "--workdir", work}
			code, out, errOut := adw(t, "", append([]string{"run"}, append(flags, "--issue", "42", "--fail-at", "test")...)...)
			if code != 3 || !strings.Contains(errOut, "phase test crashed") {
				t.Fatalf("run --fail-at test: exit %d, stderr %q; want 3 and the crash", code, errOut)
			}
			m := runID.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no run id in %q", out)
			}
			id := m[1]

			// The crash left its state behind: the phase, a half-written
			// key, no completed mark, no checkpoint for it.
			st, err := runtime.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			s, _ := NewADWStateStore(st, id)
			v, err := s.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if v.CurrentPhase != "test" || !strings.HasSuffix(v.BranchName, "-half-done") || !slices.Equal(v.CompletedPhases, []string{"plan", "build"}) {
				t.Fatalf("state after the crash: %+v", v)
			}
			if _, err := os.Stat(v.PlanFile); err != nil {
				t.Errorf("plan phase wrote no plan file: %v", err)
			}

			code, out, errOut = adw(t, "", append([]string{"resume"}, append(flags, id)...)...)
			if code != 0 || !strings.Contains(out, "from checkpoint after_build") {
				t.Fatalf("resume: exit %d, out %q, err %q", code, out, errOut)
			}
			v, err = s.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(v.CompletedPhases, phases) || strings.HasSuffix(v.BranchName, "-half-done") || v.ModelSet != "base" {
				t.Fatalf("state after resume: %+v", v)
			}

			code, out, _ = adw(t, "", append([]string{"status"}, append(flags, id)...)...)
			for _, want := range []string{"issue #42 (/feature)", "completed [plan build test review document]", "checkpoint after_document"} {
				if code != 0 || !strings.Contains(out, want) {
					t.Errorf("status: exit %d, output lacks %q:\n%s", code, want, out)
				}
			}
		})
	}
}

func TestPiping(t *testing.T) {
	for name, url := range stores(t) {
		t.Run(name, func(t *testing.T) {
			flags := []string{"--store", url, "--workdir", t.TempDir()}
			code, planOut, errOut := adw(t, "", append([]string{"plan"}, append(flags, "--issue", "7")...)...)
			if code != 0 {
				t.Fatalf("plan: exit %d: %s", code, errOut)
			}
			var flat map[string]any
			if err := json.Unmarshal([]byte(planOut), &flat); err != nil {
				t.Fatalf("plan's stdout is not one JSON object: %v\n%s", err, planOut)
			}
			if flat["issue_number"] != "7" || flat["plan_file"] == "" || flat["adw_id"] == "" {
				t.Fatalf("plan's state: %v", flat)
			}
			code, buildOut, errOut := adw(t, planOut, append([]string{"build"}, flags...)...)
			if code != 0 {
				t.Fatalf("build: exit %d: %s", code, errOut)
			}
			var after map[string]any
			json.Unmarshal([]byte(buildOut), &after)
			if after["adw_id"] != flat["adw_id"] || after["backend_port"] == float64(0) || !slices.Equal(toStrings(after["completed_phases"]), []string{"plan", "build"}) {
				t.Fatalf("build's state: %v", after)
			}
			if code, _, errOut := adw(t, "not json", append([]string{"test"}, flags...)...); code != 1 || !strings.Contains(errOut, "stdin") {
				t.Errorf("a phase fed garbage: exit %d, %q", code, errOut)
			}
		})
	}
}

// State on stdin is checked whole before any of it is stored: a field of
// the wrong type (Python writing issue_number as a number) or no adw_id
// is refused, naming the key, and the run is left as it was.
func TestStdinValidated(t *testing.T) {
	for name, url := range stores(t) {
		t.Run(name, func(t *testing.T) {
			flags := []string{"--store", url, "--workdir", t.TempDir()}
			for input, want := range map[string]string{
				`{"adw_id": "c0ffee00", "issue_number": 42, "branch_name": "b"}`: "key issue_number holds a JSON number, but its field is a Go string",
				`{"issue_number": "42"}`:                         "required key missing: key adw_id",
				`{"adw_id": "", "issue_number": "42"}`:           "required key missing: key adw_id",
				`{"adw_id": "c0ffee00", "backend_port": "9100"}`: "key backend_port holds a JSON string",
			} {
				code, out, errOut := adw(t, input, append([]string{"build"}, flags...)...)
				if code != 1 || out != "" || !strings.Contains(errOut, want) || !strings.Contains(errOut, "nothing was stored") {
					t.Errorf("build fed %s: exit %d, stderr %q; want 1 and %q", input, code, errOut, want)
				}
			}
			st, err := runtime.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if ns, _ := st.Namespaces(context.Background()); len(ns) != 0 {
				t.Errorf("refused input stored namespaces %v", ns)
			}
		})
	}
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// With the adw: layout the state is the flat adw_state.json Python ADW
// reads, holding the Python fields under their Python names.
func TestADWLayoutFile(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := adw(t, "", "run", "--store", "adw:"+filepath.Join(dir, "agents"), "--workdir", dir, "--issue", "9")
	if code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	id := runID.FindStringSubmatch(out)[1]
	data, err := os.ReadFile(filepath.Join(dir, "agents", id, "adw_state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]any
	if err := json.Unmarshal(data, &state); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"adw_id", "issue_number", "branch_name", "plan_file", "issue_class", "worktree_path", "backend_port", "frontend_port", "model_set", "all_adws"} {
		if _, ok := state[k]; !ok {
			t.Errorf("adw_state.json lacks %s:\n%s", k, data)
		}
	}
	if state["issue_class"] != "/feature" || state["model_set"] != "base" {
		t.Errorf("adw_state.json: %s", data)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"run"}, {"run", "--issue", "1", "--fail-at", "deploy"}, {"resume"}, {"status", "a", "b"}, {"plan", "a", "b"}, {"plan", "--issue", "1", "a1b2c3d4"}} {
		if code, _, errOut := adw(t, "", args...); code != 2 || errOut == "" {
			t.Errorf("adw %v: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
	if code, _, errOut := adw(t, "", "status", "--store", "sqlite:"+filepath.Join(t.TempDir(), "s.db"), "deadbeef"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("status of an unknown run: exit %d, %q", code, errOut)
	}
	if code, _, errOut := adw(t, "", "build", "--store", "sqlite:"+filepath.Join(t.TempDir(), "s.db"), "deadbeef"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("a phase of an unknown run: exit %d, %q", code, errOut)
	}
}
