package gen

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeModule makes a module with the given files in a temporary directory.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A package that does not compile elsewhere still generates for a sound
// state type, as a user mid-refactor would expect; a state type whose own
// field does not compile is refused, naming the field.
func TestTypeErrorsElsewhere(t *testing.T) {
	dir := writeModule(t, map[string]string{
		"state.go": "package m\n\ntype State struct {\n\tPhase string\n}\n\ntype Broken struct {\n\tField Undefined\n}\n",
		"other.go": "package m\n\nfunc f() int { return \"not an int\" }\n",
	})
	files, err := Generate(Config{Dir: dir, Types: []string{"State"}})
	if err != nil {
		t.Fatalf("type errors outside the state type stopped generation: %v", err)
	}
	if len(files) != 2 || !strings.Contains(string(files[0].Content), "func (s *StateStore) SavePhase(") || !strings.HasSuffix(files[1].Path, "state_state.lock.json") {
		t.Fatalf("generated %d files, want the State accessors and the lock file", len(files))
	}
	_, err = Generate(Config{Dir: dir, Types: []string{"Broken"}})
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || !strings.Contains(errs[0].Error(), "field Field") || !strings.Contains(errs[0].Error(), "does not compile") {
		t.Fatalf("a field whose type does not compile: %v", err)
	}
	if errs[0].Pos.Line != 8 {
		t.Errorf("error at line %d, want 8 (the field)", errs[0].Pos.Line)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no type given"},
		{Config{Types: []string{"A", "B"}, Output: "x.go"}, "--output names one file"},
	} {
		if _, err := Generate(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %q", tc.cfg, err, tc.want)
		}
	}
}

// When the go command cannot list the package at all (here a go.mod that
// lacks what an import needs), its own message is passed on.
func TestGoListErrorPassedOn(t *testing.T) {
	repo, _ := filepath.Abs("..")
	sum, _ := os.ReadFile(filepath.Join(repo, "go.sum"))
	dir := writeModule(t, map[string]string{
		"state.go": "package m\n\nimport _ \"github.com/stategen/stategen/runtime/backends/sqlite\"\n\ntype State struct{ A string }\n",
		"go.sum":   string(sum),
	})
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/m\n\ngo 1.26\n\nrequire github.com/stategen/stategen v0.0.0\n\nreplace github.com/stategen/stategen => "+repo+"\n"), 0o644)
	t.Setenv("GOFLAGS", "-mod=readonly")
	_, err := Generate(Config{Dir: dir, Types: []string{"State"}})
	if err == nil || !strings.Contains(err.Error(), "go mod tidy") {
		t.Fatalf("got %v, want the go command's message telling to run go mod tidy", err)
	}
}
