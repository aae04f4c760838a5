package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stategen/stategen/gen"
)

// genCmd is 'stategen gen': it runs the generator once for every type named
// and writes the files it returns, or with --check compares them with the
// files on disk. It is silent on success, as stringer is; -v says what it did.
type genCmd struct {
	Types   []string `name:"type" required:"" sep:"," placeholder:"TYPE" help:"State type to generate code for (repeatable, or a comma-separated list)."`
	Output  string   `placeholder:"FILE" help:"File to write, relative to the current directory, instead of <type>_state.go beside the type; only with a single --type."`
	Tags    []string `sep:"," placeholder:"TAGS" help:"Comma-separated build tags to load the package with."`
	Check   bool     `help:"Write nothing; exit 1 when a generated file is missing or differs from what would be generated (for CI)."`
	Verbose bool     `short:"v" help:"Print each file written, unchanged or stale on stderr."`
	Package string   `arg:"" optional:"" default:"." help:"Package to load: a directory or an import path (default: the current directory, where go generate runs the tool)."`
}

// Validate refuses type names that cannot name a Go type, such as the empty
// one left by --type=A,,B, before anything is loaded.
func (g *genCmd) Validate() error {
	for _, t := range g.Types {
		if !token.IsIdentifier(t) {
			return fmt.Errorf("--type %q is not a Go type name", t)
		}
	}
	return nil
}

// genResult is what --json prints for each file.
type genResult struct {
	Path   string `json:"path"`
	Type   string `json:"type"`
	Status string `json:"status"` // written, unchanged (without --check); stale, current (with it)
}

// Run generates, then writes or checks.
func (g *genCmd) Run(e *env) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	cfg := gen.Config{Pattern: g.Package, Types: dedup(g.Types), Tags: g.Tags}
	if g.Output != "" {
		// Flags name files relative to where the command runs, not to
		// wherever the type turns out to live.
		cfg.Output = filepath.Join(wd, g.Output)
		if filepath.IsAbs(g.Output) {
			cfg.Output = g.Output
		}
	}
	files, err := gen.Generate(cfg)
	if err != nil {
		return relativeErrors(err, wd)
	}

	var results []genResult
	var stale []string
	for _, f := range files {
		path := displayPath(wd, f.Path)
		old, err := os.ReadFile(f.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		same := err == nil && bytes.Equal(old, f.Content)
		var status string
		switch {
		case g.Check && same:
			status = "current"
		case g.Check:
			status = "stale"
			stale = append(stale, path)
		case same:
			status = "unchanged"
		default:
			if err := writeFile(f.Path, f.Content); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			status = "written"
		}
		if g.Verbose {
			fmt.Fprintf(e.stderr, "%s %s\n", status, path)
		}
		results = append(results, genResult{Path: path, Type: f.Type, Status: status})
	}
	if e.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		return staleError(stale)
	}
	return nil
}

// staleError lists the files --check found out of date.
type staleError []string

func (s staleError) Error() string {
	lines := make([]string, len(s))
	for i, path := range s {
		lines[i] = path + " is stale: run go generate"
	}
	return strings.Join(lines, "\n")
}

// dedup drops repeated names, keeping the first of each, so that
// --type=A --type=A generates A once.
func dedup(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// relativeErrors shortens the file names in the generator's errors to
// paths relative to wd, as the go command prints them.
func relativeErrors(err error, wd string) error {
	var errs gen.Errors
	if !errors.As(err, &errs) {
		return err
	}
	out := make(gen.Errors, len(errs))
	for i, e := range errs {
		c := *e
		if c.Pos.Filename != "" {
			c.Pos.Filename = displayPath(wd, c.Pos.Filename)
		}
		out[i] = &c
	}
	return out
}

// displayPath is path relative to wd when path lies under wd, else path.
func displayPath(wd, path string) string {
	rel, err := filepath.Rel(wd, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}

// writeFile replaces path with content atomically: a reader (or a crash)
// sees the old file or the new one, never part of either. The file keeps
// its permissions; a new one gets 0644.
func writeFile(path string, content []byte) (err error) {
	perm := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	// A dot file not ending in .go: the go command never sees it, even
	// if it is left behind.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(content); err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename itself is durable only once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
