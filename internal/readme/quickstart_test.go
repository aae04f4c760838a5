package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// quickStart is the README's quick start: its shell blocks, in order, and
// its Go files (by package: adw/state.go, main.go), and the line it says
// the program prints.
type quickStart struct {
	shell  []string
	files  map[string]string
	prints string
}

var (
	fenceRE  = regexp.MustCompile("(?s)```(\\w+)\\n(.*?)```")
	pkgRE    = regexp.MustCompile(`(?m)^package (\w+)$`)
	printsRE = regexp.MustCompile("It prints `([^`]*)`")
)

func readQuickStart(t *testing.T) quickStart {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Quick start\n")
	if !ok {
		t.Fatal(`README.md has no "## Quick start" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	qs := quickStart{files: map[string]string{}}
	for _, m := range fenceRE.FindAllStringSubmatch(section, -1) {
		switch lang, body := m[1], m[2]; lang {
		case "sh":
			qs.shell = append(qs.shell, body)
		case "go":
			pkg := pkgRE.FindStringSubmatch(body)
			if pkg == nil {
				t.Fatalf("a Go block of the quick start has no package clause:\n%s", body)
			}
			name := "main.go"
			if pkg[1] != "main" {
				name = pkg[1] + "/state.go"
			}
			qs.files[name] = body
		default:
			t.Fatalf("the quick start has a %q block the test does not know how to follow", lang)
		}
	}
	if m := printsRE.FindStringSubmatch(section); m != nil {
		qs.prints = m[1]
	}
	if len(qs.shell) != 2 || len(qs.files) != 2 || qs.prints == "" {
		t.Fatalf("the quick start has %d shell blocks, Go files %v and prints %q; the test follows two shell blocks (set up; tidy, generate, build), adw/state.go, main.go and what it prints",
			len(qs.shell), qs.files, qs.prints)
	}
	return qs
}

// TestQuickStart follows the quick start in a new module outside the
// repository ($STATEGEN is this checkout): the setup, the files, then go
// mod tidy, a plain go generate, go build and go run, twice, as a user
// would after changing something. The go commands run with no GOFLAGS, so
// that nothing adds a requirement tidy dropped.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	qs := readQuickStart(t)
	mod := t.TempDir()
	env := []string{"STATEGEN=" + repo, "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local", "STATEGEN_STORE="}
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "STATEGEN", "GOFLAGS", "GOWORK", "GOTOOLCHAIN", "STATEGEN_STORE":
		default:
			env = append(env, kv)
		}
	}
	sh := func(script string) string {
		t.Helper()
		cmd := exec.Command("sh", "-e", "-c", script)
		cmd.Dir, cmd.Env = mod, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("following the README's\n%s\nfailed: %v\n%s", script, err, out)
		}
		return string(out)
	}
	sh(qs.shell[0])
	for name, body := range qs.files {
		path := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for round := 1; round <= 2; round++ {
		out := sh(qs.shell[1])
		if !strings.Contains(out, qs.prints+"\n") {
			t.Fatalf("round %d: the program did not print what the README says (%s):\n%s", round, qs.prints, out)
		}
		for _, f := range []string{"adw/adwstate_state.go", "adw/adwstate_state.lock.json"} {
			if _, err := os.Stat(filepath.Join(mod, f)); err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
	}
	// The generator is still a requirement after tidy, and go generate
	// --check agrees that the committed files are current.
	gomod, err := os.ReadFile(filepath.Join(mod, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tool github.com/stategen/stategen/cmd/stategen", "github.com/alecthomas/kong", "github.com/dave/jennifer"} {
		if !strings.Contains(string(gomod), want) {
			t.Errorf("go.mod after go mod tidy lacks %s:\n%s", want, gomod)
		}
	}
	sh("cd adw && go tool stategen gen --type=ADWState --check")
}
