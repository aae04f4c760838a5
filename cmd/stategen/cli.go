package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/alecthomas/kong"

	"github.com/stategen/stategen/gen"
	"github.com/stategen/stategen/runtime/backends/redis"
)

// Exit statuses; see the package doc.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// cli is stategen's command line. Each command is a field tagged `cmd:""`
// whose type, in a file of its own, has a Run(*env) error method.
type cli struct {
	globals

	Gen genCmd `cmd:"" help:"Generate typed state accessors for Go struct types (run by go generate)."`

	Namespaces  namespacesCmd  `cmd:"" group:"store" help:"List the store's namespaces (workflow runs)."`
	Keys        keysCmd        `cmd:"" group:"store" help:"List a namespace's keys with their revisions."`
	Load        loadCmd        `cmd:"" group:"store" help:"Print one key's stored JSON value."`
	Save        saveCmd        `cmd:"" group:"store" help:"Store a JSON value under a key."`
	Delete      deleteCmd      `cmd:"" group:"store" help:"Remove a key."`
	Dump        dumpCmd        `cmd:"" group:"store" help:"Print every key of a namespace with its value."`
	Checkpoint  checkpointCmd  `cmd:"" group:"store" help:"Snapshot a namespace under a checkpoint name."`
	Checkpoints checkpointsCmd `cmd:"" group:"store" help:"List a namespace's checkpoints, oldest first."`
	Restore     restoreCmd     `cmd:"" group:"store" help:"Make a namespace exactly a checkpoint again."`
	Diff        diffCmd        `cmd:"" group:"store" help:"Show what changed between two checkpoints, or a checkpoint and now."`
	Prune       pruneCmd       `cmd:"" group:"store" help:"Remove old checkpoints of a namespace."`
	Migrate     migrateCmd     `cmd:"" group:"store" help:"Copy namespaces with their checkpoints from one store to another, and verify the copy."`
}

// globals are the flags every command accepts.
type globals struct {
	Store string `placeholder:"URL" env:"STATEGEN_STORE" help:"Store to operate on: sqlite:PATH, json:DIR, redis://H:P/DB, adw:DIR (default sqlite:.stategen/state.db)."`
	JSON  bool   `name:"json" help:"Print machine-readable JSON on stdout."`
}

// env is what a command runs with: the global flags and the standard
// streams, which run receives rather than taking os.Stdout, so that tests
// can run the whole CLI in process.
type env struct {
	globals
	stdin          io.Reader
	stdout, stderr io.Writer
}

// kongExit carries the status kong asks to exit with (0 after --help) out
// of the parser as a panic, because kong expects its exit function not to
// return.
type kongExit int

// quietRedis routes go-redis's own diagnostics (failed dials...), which it
// would otherwise print on stderr, to a logger that discards them: a failed
// command prints one line, the store's error.
var quietRedis sync.Once

// run runs the command line args and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (status int) {
	quietRedis.Do(func() { redis.SetClientLogger(slog.New(slog.DiscardHandler)) })
	var c cli
	parser, err := kong.New(&c,
		kong.Name("stategen"),
		kong.Description("stategen generates typed accessors for Go state structs and inspects the stores they are saved in."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Groups{"store": "Store commands (on --store URL, or $STATEGEN_STORE):"},
	)
	if err != nil { // the grammar above is wrong: a bug, not the user's
		fmt.Fprintf(stderr, "stategen: internal error: %v\n", err)
		return exitFail
	}
	defer func() {
		switch r := recover().(type) {
		case nil:
		case kongExit:
			status = int(r)
		default:
			// One line instead of a stack trace, as for every other
			// failure; the value still says what went wrong.
			fmt.Fprintf(stderr, "stategen: internal error: %v\n", r)
			status = exitFail
		}
	}()

	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "stategen: %s: see 'stategen --help'\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return exitUsage
	}
	if err := ctx.Run(&env{globals: c.globals, stdin: stdin, stdout: stdout, stderr: stderr}); err != nil {
		report(stderr, err)
		return exitFail
	}
	return exitOK
}

// report prints err on w, a line per line of its message, each prefixed
// with "stategen: ". Generator errors that have a place in the source are
// printed as "file:line:col: message" with no prefix, as compilers print
// them, so that editors and go generate's users can jump to them.
func report(w io.Writer, err error) {
	var errs gen.Errors
	var one *gen.Error
	switch {
	case errors.As(err, &errs):
	case errors.As(err, &one):
		errs = gen.Errors{one}
	default:
		// The runtime's errors carry the prefix already.
		printLines(w, "stategen: ", strings.TrimPrefix(err.Error(), "stategen: "))
		return
	}
	for _, e := range errs {
		if !e.Pos.IsValid() {
			printLines(w, "stategen: ", e.Msg)
			continue
		}
		first, rest, _ := strings.Cut(e.Msg, "\n")
		fmt.Fprintf(w, "%s: %s\n", e.Pos, first)
		if rest != "" {
			printLines(w, "\t", rest)
		}
	}
}

// printLines prints each line of msg on w after prefix.
func printLines(w io.Writer, prefix, msg string) {
	for line := range strings.SplitSeq(msg, "\n") {
		fmt.Fprintf(w, "%s%s\n", prefix, line)
	}
}
