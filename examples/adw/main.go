// Command adw is a Go port of an ADW (AI Developer Workflow) run, its state
// declared once in ADWState and stored through stategen's generated
// accessors. The phases (plan, build, test, review, document) are simulated:
// they write a plan file and touch files in a scratch worktree, without any
// AI or network, and record what they did in the run's state, with a
// checkpoint after each.
//
// Usage:
//
//	adw run --issue N [--fail-at PHASE]   a new run (a new 8-hex ADW id), all phases
//	adw resume ID                         restore the last good checkpoint, go on from there
//	adw status ID                         the typed state and the checkpoints
//	adw PHASE [--issue N]                 one phase, ADW-style: state as one flat JSON
//	                                      object on stdin (unless --issue starts a run)
//	                                      and stdout, so `adw plan --issue 42 | adw build`
//	adw demo                              a run that crashes in test, then its resume
//
// Every command takes --store URL (default $STATEGEN_STORE, else the
// embedded SQLite store .stategen/state.db) and --workdir DIR for the plan
// files and worktrees (default .stategen/work). With --store adw:agents a
// Python ADW phase and this program share agents/<adw_id>/adw_state.json.
//
// Each phase (and the restore of resume) takes the run's lease for 30s,
// renewed in the background, as HOST:PID:PHASE, and gives it back when it
// ends: one phase of a run at a time. Another phase of a run whose lease is
// held exits with status 1 naming the holder and when its lease ends; a
// process that died leaves its lease until it expires, or until
// `stategen lease ID --break`. Every write of a phase is fenced by its
// lease: a phase that lost it (stopped past its TTL and taken over) writes
// nothing more.
//
// Exit status: 0 success, 1 error, 2 bad usage, 3 a phase crashed as
// --fail-at asked (its state is left behind for resume).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/all"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// errUsage marks a bad command line; its message was printed already.
var errUsage = errors.New("usage")

// run runs one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	var crash *crashError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &crash):
		fmt.Fprintf(stderr, "adw: %v\n", err)
		return 3
	}
	fmt.Fprintf(stderr, "adw: %v\n", err)
	return 1
}

const usage = `usage: adw run --issue N [--fail-at PHASE] | resume ID | status ID | PHASE [--issue N | ID] | demo
flags of every command: --store URL, --workdir DIR`

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("adw "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "", "store URL (default $STATEGEN_STORE, else sqlite:.stategen/state.db)")
	workdir := fs.String("workdir", ".stategen/work", "directory for plan files and worktrees")
	issue := fs.String("issue", "", "issue number (run, or a phase that starts a run)")
	failAt := fs.String("fail-at", "", "phase in which the run crashes (run)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	needArg := func() (string, error) {
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "adw %s: want one ADW id\n%s\n", cmd, usage)
			return "", errUsage
		}
		return fs.Arg(0), nil
	}
	w := &workflow{workdir: *workdir, out: stdout}
	open := func() error {
		st, err := runtime.Open(ctx, *store)
		if err != nil {
			return err
		}
		w.st = st
		return nil
	}
	defer func() {
		if w.st != nil {
			w.st.Close()
		}
	}()

	switch {
	case cmd == "run":
		if *issue == "" {
			fmt.Fprintf(stderr, "adw run: --issue is required\n%s\n", usage)
			return errUsage
		}
		if *failAt != "" && !isPhase(*failAt) {
			fmt.Fprintf(stderr, "adw run: --fail-at %q is not a phase (%v)\n", *failAt, phases)
			return errUsage
		}
		if err := open(); err != nil {
			return err
		}
		return w.run(ctx, *issue, *failAt)
	case cmd == "resume":
		id, err := needArg()
		if err != nil {
			return err
		}
		if err := open(); err != nil {
			return err
		}
		return w.resume(ctx, id)
	case cmd == "status":
		id, err := needArg()
		if err != nil {
			return err
		}
		if err := open(); err != nil {
			return err
		}
		return w.status(ctx, id)
	case isPhase(cmd):
		if fs.NArg() > 1 || fs.NArg() == 1 && *issue != "" {
			fmt.Fprintf(stderr, "adw %s: want --issue N, one ADW id, or the state on stdin\n%s\n", cmd, usage)
			return errUsage
		}
		if err := open(); err != nil {
			return err
		}
		return w.pipe(ctx, cmd, *issue, fs.Arg(0), stdin)
	case cmd == "demo":
		if err := open(); err != nil {
			return err
		}
		return w.demo(ctx)
	}
	fmt.Fprintf(stderr, "adw: unknown command %q\n%s\n", cmd, usage)
	return errUsage
}
