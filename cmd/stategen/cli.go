package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"

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

	Version kong.VersionFlag `help:"Print stategen's version (from the build information) and exit."`

	Gen  genCmd  `cmd:"" help:"Generate typed state accessors for Go struct types (run by go generate)."`
	Help helpCmd `cmd:"" help:"Show the help of stategen, or of a command: stategen help load."`

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
	Lease       leaseCmd       `cmd:"" group:"store" help:"Show who holds a run's lease (holder, token, expiry), or --break it."`
	Migrate     migrateCmd     `cmd:"" group:"store" help:"Copy namespaces with their checkpoints from one store to another, and verify the copy."`
	Rekey       rekeyCmd       `cmd:"" group:"store" help:"Seal every secret value under the primary key (after adding a key), and verify."`
	Watch       watchCmd       `cmd:"" group:"store" help:"Print the store's changes as they happen, until interrupted."`
	Serve       serveCmd       `cmd:"" group:"store" help:"Serve a web view of the store's runs, checkpoints and diffs (loopback only by default)."`
	Label       labelCmd       `cmd:"" group:"store" help:"Set or remove labels of a run: stategen label NS team=red phase=."`
	Fork        forkCmd        `cmd:"" group:"store" help:"Start a new run as exactly a checkpoint of another, recording its lineage."`
	Drop        dropCmd        `cmd:"" group:"store" help:"Delete a whole run: state, checkpoints, lease and labels (needs --yes)."`
	GC          gcCmd          `cmd:"" name:"gc" group:"store" help:"Delete the runs idle longer than their TTL, with their checkpoints."`
	Keygen      keygenCmd      `cmd:"" help:"Print a new encryption key for STATEGEN_KEYS or a key file."`

	PostgresSchema postgresSchemaCmd `cmd:"" name:"postgres-schema" help:"Print the SQL that creates stategen's tables in PostgreSQL, for a user without DDL rights."`
}

// globals are the flags every command accepts.
type globals struct {
	Store string `placeholder:"URL" env:"STATEGEN_STORE" help:"Store to operate on: sqlite:PATH, json:DIR, redis://H:P/DB, postgres://USER@H:P/DB, adw:DIR (default sqlite:.stategen/state.db)."`
	JSON  bool   `name:"json" help:"Print machine-readable JSON on stdout."`
}

// env is what a command runs with: the global flags, a context that ends
// on SIGINT or SIGTERM, and the standard streams, which run receives rather
// than taking os.Stdout, so that tests can run the whole CLI in process.
type env struct {
	globals
	ctx            context.Context
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

// helpCmd is 'stategen help [COMMAND...]': run rewrites it into
// 'stategen COMMAND... --help' before parsing, so Run only documents it.
type helpCmd struct {
	Command []string `arg:"" optional:"" name:"COMMAND" help:"The command to show the help of."`
}

func (helpCmd) Run() error { return nil }

// exitStatus is an error that only sets the exit status: the command has
// said what it had to (diff --exit-code finding differences).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// version is what --version prints: the module version the binary was
// built from (a tag for go install ...@vX; (devel) for a checkout), the
// commit when the build recorded it, and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "stategen (unknown version)"
	}
	v := "stategen " + bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		v += fmt.Sprintf(" (commit %.12s%s)", rev, modified)
	}
	return v + " " + bi.GoVersion
}

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
		kong.Vars{"version": version()},
	)
	if err != nil { // the grammar above is wrong: a bug, not the user's
		fmt.Fprintf(stderr, "stategen: internal error: %v\n", err)
		return exitFail
	}
	bare := len(args) == 0
	defer func() {
		switch r := recover().(type) {
		case nil:
		case kongExit:
			status = int(r)
			if bare {
				status = exitUsage
			}
		default:
			// One line instead of a stack trace, as for every other
			// failure; the value still says what went wrong.
			fmt.Fprintf(stderr, "stategen: internal error: %v\n", r)
			status = exitFail
		}
	}()

	switch {
	case bare:
		// Usage, as the go command prints it: on stderr, exit status 2.
		parser.Stdout = stderr
		args = []string{"--help"}
	case args[0] == "help":
		args = append(args[1:len(args):len(args)], "--help")
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "stategen: %s: see '%s --help'\n", strings.ReplaceAll(err.Error(), "\n", "; "), commandOf(err))
		return exitUsage
	}
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := ctx.Run(&env{globals: c.globals, ctx: sigCtx, stdin: stdin, stdout: stdout, stderr: stderr}); err != nil {
		var code exitStatus
		if errors.As(err, &code) {
			return int(code)
		}
		report(stderr, err)
		return exitFail
	}
	return exitOK
}

// commandOf is the command a parse error is about, "stategen load" for a
// mistake in load's arguments, so that the message points at its help.
func commandOf(err error) string {
	path := []string{"stategen"}
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		for _, p := range pe.Context.Path {
			if p.Command != nil {
				path = append(path, p.Command.Name)
			}
		}
	}
	return strings.Join(path, " ")
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
