package gen

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files of ../golden from what the generator makes now")

// goldenCases are the directories of ../golden that hold an args file.
func goldenCases(t *testing.T) []string {
	t.Helper()
	var dirs []string
	entries, err := os.ReadDir("../golden")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join("../golden", e.Name(), "args")); err == nil {
			dirs = append(dirs, filepath.Join("../golden", e.Name()))
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no golden case found in ../golden")
	}
	return dirs
}

// configFor reads a case's args file: the generator flags of its
// //go:generate line.
func configFor(t *testing.T, dir string) Config {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: dir}
	for _, a := range strings.Fields(string(raw)) {
		switch name, val, _ := strings.Cut(a, "="); name {
		case "--type":
			cfg.Types = append(cfg.Types, strings.Split(val, ",")...)
		case "--tags":
			cfg.Tags = strings.Split(val, ",")
		case "--output":
			cfg.Output = val
		default:
			t.Fatalf("%s/args: unknown flag %q", dir, a)
		}
	}
	return cfg
}

func TestGolden(t *testing.T) {
	for _, dir := range goldenCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, _ := filepath.Abs(dir)
			cfg := configFor(t, dir)
			cfg.Dir = abs
			files, err := Generate(cfg)
			stderrFile := filepath.Join(dir, "stderr")
			if err != nil {
				var errs Errors
				if !errors.As(err, &errs) {
					t.Fatalf("error is not gen.Errors: %T %v", err, err)
				}
				got := strings.ReplaceAll(err.Error(), abs+string(filepath.Separator), "") + "\n"
				if *update {
					writeGolden(t, stderrFile, []byte(got))
					return
				}
				want, rerr := os.ReadFile(stderrFile)
				if rerr != nil {
					t.Fatalf("generation failed, and the case has no stderr file:\n%s", got)
				}
				if d := cmp.Diff(string(want), got); d != "" {
					t.Errorf("errors differ from %s (-want +got):\n%s", stderrFile, d)
				}
				return
			}
			if _, err := os.Stat(stderrFile); err == nil {
				t.Fatalf("generation succeeded, but the case expects the errors in %s", stderrFile)
			}
			again, err := Generate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range files {
				if !bytes.Equal(f.Content, again[i].Content) {
					t.Errorf("%s: two runs gave different bytes: generation is not deterministic", f.Path)
				}
				if first, _, _ := strings.Cut(string(f.Content), "\n"); strings.HasSuffix(f.Path, ".go") && first != Header {
					t.Errorf("%s: first line %q, want %q", f.Path, first, Header)
				}
				if *update {
					writeGolden(t, f.Path, f.Content)
					continue
				}
				want, err := os.ReadFile(f.Path)
				if err != nil {
					t.Fatalf("no golden output %s (run make golden and review it): %v", f.Path, err)
				}
				if d := cmp.Diff(string(want), string(f.Content)); d != "" {
					t.Errorf("%s differs from what the generator makes (-golden +generated):\n%s", f.Path, d)
				}
			}
		})
	}
}

func writeGolden(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
