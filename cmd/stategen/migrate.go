package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/stategen/stategen/runtime"
)

// migrateCmd is 'stategen migrate': copy namespaces between stores.
type migrateCmd struct {
	From      string   `required:"" placeholder:"URL" help:"Store to copy from: any store URL, or pysqlite:DIR for the Python StateManager's SQLite layout (pysqlite:.claude/state)."`
	To        string   `required:"" placeholder:"URL" help:"Store to copy to."`
	Namespace []string `placeholder:"NS" help:"Copy only this namespace (repeatable; default: all of them)."`
	DryRun    bool     `help:"List what would be copied and write nothing."`
	Overwrite bool     `help:"Replace destination namespaces and checkpoints that hold different data (by default they are refused)."`
}

func (migrateCmd) Help() string {
	return `Copies every namespace (or those named by --namespace) with its
checkpoints (their names, creation times and revisions) and its schema
version from one store to another, then verifies the copy: key and
checkpoint counts and a content hash per namespace must match. What the
destination already holds the same is left alone, so running it again
changes nothing and an interrupted run can simply be run again.

On a terminal it shows a progress bar on stderr; otherwise one line per
namespace. With --json it prints on stdout:
  {"from","to","dry_run","namespaces":[{"namespace","keys","checkpoints",
   "state_written","checkpoints_written","hash"}],"verified"}`
}

// migrated is one namespace's line of the --json output.
type migrated struct {
	Namespace          string `json:"namespace"`
	Keys               int    `json:"keys"`
	Checkpoints        int    `json:"checkpoints"`
	StateWritten       bool   `json:"state_written"`
	CheckpointsWritten int    `json:"checkpoints_written"`
	Hash               string `json:"hash,omitempty"`
}

func (c *migrateCmd) Run(e *env) error {
	for _, ns := range c.Namespace {
		if err := checkNames("namespace", ns); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := openStore(ctx, c.From, e.stderr)
	if err != nil {
		return openError(c.From, err)
	}
	defer src.Close()
	dst, err := openStore(ctx, c.To, e.stderr)
	if err != nil {
		return openError(c.To, err)
	}
	defer dst.Close()

	names := c.Namespace
	if len(names) == 0 {
		if names, err = src.Namespaces(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	prog := newProgress(e.stderr, len(names), e.JSON)
	out := make([]migrated, 0, len(names))
	keys, cps := 0, 0
	for i, ns := range names {
		res, err := runtime.Copy(ctx, src, dst, ns, c.Overwrite, c.DryRun)
		if err != nil {
			prog.done()
			if ctx.Err() != nil {
				return errors.New("interrupted: run the same command again to finish")
			}
			return err
		}
		keys += res.Keys
		cps += res.Checkpoints + res.Skipped
		out = append(out, migrated{Namespace: ns, Keys: res.Keys, Checkpoints: res.Checkpoints + res.Skipped, StateWritten: res.State, CheckpointsWritten: res.Checkpoints})
		prog.step(i+1, ns, describe(res, c.DryRun))
	}
	prog.done()

	verified := false
	if !c.DryRun {
		for i, m := range out {
			want, err := src.Digest(ctx, m.Namespace)
			if err != nil {
				return err
			}
			got, err := dst.Digest(ctx, m.Namespace)
			if err != nil {
				return fmt.Errorf("verify %s: %w", m.Namespace, err)
			}
			if got != want {
				return fmt.Errorf("verify %s: the copy differs from the source (source %d keys, %d checkpoints, hash %.12s; copy %d keys, %d checkpoints, hash %.12s)",
					m.Namespace, want.Keys, want.Checkpoints, want.Hash, got.Keys, got.Checkpoints, got.Hash)
			}
			out[i].Hash = got.Hash
		}
		verified = true
	}
	if e.JSON {
		return writeJSON(e.stdout, map[string]any{"from": src.Name(), "to": dst.Name(), "dry_run": c.DryRun, "namespaces": out, "verified": verified})
	}
	verb := "copied"
	if c.DryRun {
		verb = "would copy"
	}
	fmt.Fprintf(e.stdout, "%s %d namespaces (%d keys, %d checkpoints) from %s to %s in %s\n",
		verb, len(out), keys, cps, src.Name(), dst.Name(), time.Since(start).Round(time.Millisecond))
	if verified {
		fmt.Fprintf(e.stdout, "verified: key and checkpoint counts and content hashes match for all %d namespaces\n", len(out))
	}
	return nil
}

// describe says what Copy did, or would do, with a namespace.
func describe(r runtime.CopyResult, dryRun bool) string {
	var parts []string
	if r.State {
		parts = append(parts, fmt.Sprintf("%d keys", r.Keys))
	}
	if r.Checkpoints > 0 {
		parts = append(parts, fmt.Sprintf("%d checkpoints", r.Checkpoints))
	}
	if len(parts) == 0 {
		return "up to date"
	}
	if dryRun {
		return "would copy " + strings.Join(parts, ", ")
	}
	return "copied " + strings.Join(parts, ", ")
}

// progress reports migrate's advance: a bar redrawn in place on a
// terminal, a line per namespace otherwise, nothing with --json.
type progress struct {
	w        io.Writer
	total    int
	terminal bool
	quiet    bool
	last     time.Time
}

func newProgress(w io.Writer, total int, quiet bool) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, total: total, quiet: quiet, terminal: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) step(n int, ns, what string) {
	switch {
	case p.quiet:
	case !p.terminal:
		fmt.Fprintf(p.w, "%s: %s\n", ns, what)
	case n == p.total || time.Since(p.last) > 100*time.Millisecond:
		p.last = time.Now()
		const width = 30
		filled := width * n / max(p.total, 1)
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d namespaces", strings.Repeat("#", filled), strings.Repeat(".", width-filled), n, p.total)
	}
}

// done ends the bar's line.
func (p *progress) done() {
	if p.terminal && !p.quiet && p.total > 0 {
		fmt.Fprintln(p.w)
	}
}
