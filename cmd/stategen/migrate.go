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
checkpoints (their names, creation times, revisions, labels and lineage),
its schema version, labels, lineage and TTL (not its lease) from one store
to another, then verifies the copy: key and
checkpoint counts and a content hash per namespace must match. What the
destination already holds the same is left alone, so running it again
changes nothing and an interrupted run can simply be run again. The
source is only read: one that does not exist is an error, as is a
--namespace it does not hold. The summary says what was written, and how
many namespaces were already up to date.

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
	src, err := openStore(ctx, c.From, true, e.stderr)
	if err != nil {
		return err
	}
	defer src.Close()
	names := dedup(c.Namespace)
	for _, ns := range names {
		if err := holds(ctx, src, ns); err != nil {
			return err
		}
	}
	dst, err := openStore(ctx, c.To, c.DryRun, e.stderr)
	if c.DryRun && errors.Is(err, runtime.ErrNotFound) {
		// A destination that does not exist yet would get everything:
		// compare with an empty store rather than create one.
		dst, err = runtime.New(noStore{}, runtime.RedactURL(c.To), runtime.ReadOnly()), nil
	}
	if err != nil {
		return err
	}
	defer dst.Close()

	if len(names) == 0 {
		if names, err = src.Namespaces(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	prog := newProgress(e.stderr, len(names), e.JSON)
	out := make([]migrated, 0, len(names))
	var sum copySummary
	for i, ns := range names {
		res, err := runtime.Copy(ctx, src, dst, ns, runtime.CopyOptions{Overwrite: c.Overwrite, DryRun: c.DryRun})
		if err != nil {
			prog.done()
			if ctx.Err() != nil {
				return errors.New("interrupted: run the same command again to finish")
			}
			if errors.Is(err, runtime.ErrDestinationDiffers) {
				return fmt.Errorf("%w (give --overwrite to replace it)", err)
			}
			return err
		}
		sum.add(res)
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
	fmt.Fprintln(e.stdout, sum.text(c.DryRun, src.Name(), dst.Name(), time.Since(start).Round(time.Millisecond)))
	if verified {
		fmt.Fprintf(e.stdout, "verified: key and checkpoint counts and content hashes match for %s\n", allOf(len(out), "namespace"))
	}
	return nil
}

// noStore is a store that holds nothing, the destination of a dry run into
// a store that does not exist yet.
type noStore struct{}

func (noStore) Get(context.Context, string, string) (runtime.Value, error) {
	return runtime.Value{}, runtime.ErrNotFound
}
func (noStore) Snapshot(context.Context, string) (*runtime.Snapshot, error) {
	return nil, runtime.ErrNotFound
}
func (noStore) Apply(context.Context, string, *runtime.Batch) (int64, error) {
	return 0, runtime.ErrReadOnly
}
func (noStore) Namespaces(context.Context) ([]string, error) { return nil, nil }
func (noStore) PutCheckpoint(context.Context, string, *runtime.Checkpoint) error {
	return runtime.ErrReadOnly
}
func (noStore) GetCheckpoint(context.Context, string, string) (*runtime.Checkpoint, error) {
	return nil, runtime.ErrNotFound
}
func (noStore) Checkpoints(context.Context, string) ([]runtime.CheckpointInfo, error) {
	return nil, nil
}
func (noStore) DeleteCheckpoint(context.Context, string, string) error { return runtime.ErrReadOnly }
func (noStore) Close() error                                           { return nil }

// holds checks that st holds namespace ns (state or checkpoints).
func holds(ctx context.Context, st *runtime.Store, ns string) error {
	_, err := st.Snapshot(ctx, ns)
	if !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	cps, err := st.Checkpoints(ctx, ns)
	if err != nil {
		return err
	}
	if len(cps) == 0 {
		return fmt.Errorf("namespace %s not found in %s", ns, st.Name())
	}
	return nil
}

// copySummary counts what a migration wrote (or, dry, would write).
type copySummary struct {
	namespaces, keys, checkpoints int // written
	current                       int // namespaces already the same
}

func (s *copySummary) add(r runtime.CopyResult) {
	if !r.State && r.Checkpoints == 0 {
		s.current++
		return
	}
	s.namespaces++
	if r.State {
		s.keys += r.Keys
	}
	s.checkpoints += r.Checkpoints
}

// text is the summary line: what was copied from src to dst in d, and
// how many namespaces were not, being there already.
func (s copySummary) text(dryRun bool, src, dst string, d time.Duration) string {
	if s.namespaces == 0 {
		if s.current == 0 {
			return fmt.Sprintf("nothing to copy: %s holds no namespace", src)
		}
		return fmt.Sprintf("nothing to copy from %s to %s: %s already up to date", src, dst, allOf(s.current, "namespace"))
	}
	verb := "copied"
	if dryRun {
		verb = "would copy"
	}
	out := fmt.Sprintf("%s %s (%s, %s) from %s to %s in %s", verb, plural(s.namespaces, "namespace"), plural(s.keys, "key"), plural(s.checkpoints, "checkpoint"), src, dst, d)
	switch {
	case s.current == 1:
		out += "; 1 more was already up to date"
	case s.current > 1:
		out += fmt.Sprintf("; %d more were already up to date", s.current)
	}
	return out
}

// allOf is "the namespace" for one, "all 12 namespaces" for more.
func allOf(n int, noun string) string {
	if n == 1 {
		return "the " + noun
	}
	return fmt.Sprintf("all %d %ss", n, noun)
}

// describe says what Copy did, or would do, with a namespace.
func describe(r runtime.CopyResult, dryRun bool) string {
	var parts []string
	if r.State {
		parts = append(parts, plural(r.Keys, "key"))
	}
	if r.Checkpoints > 0 {
		parts = append(parts, plural(r.Checkpoints, "checkpoint"))
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
