// Package python runs, for stategen's tests, the Python programs stategen
// shares state with: test doubles of the ADW scripts' ADWState (a pydantic
// model saved in place with json.dump) and of the Python StateManager's
// JSON backend, kept in testdata and written from what the real programs
// do, not from what would suit stategen.
//
// A test that needs python3 (with pydantic 2 for the ADW double) skips,
// saying so, where it is missing, and fails instead when
// STATEGEN_REQUIRE_PYTHON is set, as CI sets it.
package python

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed all:testdata
var doubles embed.FS

// EnvRequire names the variable that turns a skip for a missing python3 or
// pydantic into a failure.
const EnvRequire = "STATEGEN_REQUIRE_PYTHON"

// Find returns the python3 to run, with the modules given importable; it
// skips the test (or fails it, under EnvRequire) when they are not.
func Find(t testing.TB, modules ...string) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("%s, and %s is set", what, EnvRequire)
		}
		t.Skipf("%s: skipping the test against the Python side (set %s to fail instead)", what, EnvRequire)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		missing("python3 is not on PATH")
	}
	for _, m := range modules {
		if out, err := exec.Command(py, "-c", "import "+m).CombinedOutput(); err != nil {
			missing("python3 cannot import " + m + ": " + strings.TrimSpace(string(out)))
		}
	}
	return py
}

// copyTree writes the embedded directory testdata/src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := fs.WalkDir(doubles, "testdata/"+src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, "testdata/"+src), "/")
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := doubles.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ADW is an ADW project in a temporary directory: the doubles in adws/,
// run state in agents/<adw_id>/adw_state.json.
type ADW struct {
	// Root is the project's directory.
	Root string
	t    testing.TB
	py   string
}

// NewADW lays out a project.
func NewADW(t testing.TB) *ADW {
	t.Helper()
	py := Find(t, "pydantic")
	root := t.TempDir()
	copyTree(t, "adws", filepath.Join(root, "adws"))
	return &ADW{Root: root, t: t, py: py}
}

// Agents is the directory of the runs' state: the store adw:Agents().
func (a *ADW) Agents() string { return filepath.Join(a.Root, "agents") }

// StatePath is the state file of run id.
func (a *ADW) StatePath(id string) string { return filepath.Join(a.Agents(), id, "adw_state.json") }

// Run runs adws/adw.py (see its doc string for the commands) with stdin and
// returns what it printed and its exit status.
func (a *ADW) Run(stdin string, args ...string) (stdout, stderr string, status int) {
	a.t.Helper()
	cmd := exec.Command(a.py, append([]string{filepath.Join(a.Root, "adws", "adw.py")}, args...)...)
	cmd.Dir = a.Root
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitCode()
	case err != nil:
		a.t.Fatalf("python %v: %v", args, err)
	}
	return out.String(), errOut.String(), 0
}

// Must runs adw.py and fails the test unless it succeeds.
func (a *ADW) Must(stdin string, args ...string) string {
	a.t.Helper()
	out, errOut, status := a.Run(stdin, args...)
	if status != 0 {
		a.t.Fatalf("python adw.py %v: exit %d\n%s", args, status, errOut)
	}
	return out
}

// Show returns run id's state as the Python side loads it (ADWState.load),
// failing the test if that refuses the file.
func (a *ADW) Show(id string) map[string]any {
	a.t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.Must("", "show", id)), &m); err != nil {
		a.t.Fatal(err)
	}
	return m
}

// Command returns an unstarted adw.py command, for tests that run it
// alongside something else.
func (a *ADW) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(a.py, append([]string{filepath.Join(a.Root, "adws", "adw.py")}, args...)...)
	cmd.Dir = a.Root
	return cmd
}

// StateManager returns a function that runs Python code with
// `from state_manager import StateManager` done, in workDir (the program
// keeps its state in .claude/state/<namespace> below its working
// directory), and returns what it printed. It uses the reference program
// when it is at ../shared/reference beside the repository, and the double
// otherwise.
func StateManager(t testing.TB, workDir string) func(code string) string {
	t.Helper()
	py := Find(t)
	ref := ""
	if root, err := repoRoot(); err == nil {
		if p := filepath.Join(root, "..", "shared", "reference"); fileExists(filepath.Join(p, "state_manager.py")) {
			ref = p
		}
	}
	if ref == "" {
		ref = filepath.Join(t.TempDir(), "statemanager")
		copyTree(t, "statemanager", ref)
	}
	return func(code string) string {
		t.Helper()
		q, _ := json.Marshal(ref) // JSON's quoting is valid Python
		prelude := "import sys, json\nsys.path.insert(0, " + string(q) + ")\nfrom state_manager import StateManager\n"
		cmd := exec.Command(py, "-c", prelude+code)
		cmd.Dir = workDir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python: %v\n%s\ncode:\n%s", err, stderr.String(), code)
		}
		return string(out)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// repoRoot walks up from the working directory to the directory of go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
