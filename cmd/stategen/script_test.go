package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// The store commands are tested by the scripts in testdata: real command
// lines against real stores. testdata/script/*.txtar run on the default
// store (sqlite:.stategen/state.db in the script's $WORK);
// testdata/backends/*.txtar run once on each backend, the URL in
// STATEGEN_STORE, with the condition [sqlite], [json], [adw], [redis] or
// [postgres] true for the one in use. Each 'stategen' line runs this test
// binary as the stategen command (see TestMain), which calls run.
//
// Commands the scripts have besides testscript's own:
//
//	exits CODE PROG [ARGS...]   run PROG; fail unless it exits CODE, and, when
//	                            CODE is not 0, unless stderr is one line
//	                            with no stack trace
//	scrub                       replace stdout's UTC times with TIME and
//	                            generated checkpoint names with GENERATED
//	waitfor FILE REGEXP         wait (10s at most) until FILE, written by a
//	                            command in the background, matches REGEXP
//	seed NS SCHEMA VERSION [secret:KEY]... KEY=JSON...
//	                            write keys under a schema that marks the
//	                            secret:KEY keys secret, as generated code
//	                            does (save records no schema)
//	hold NS HOLDER TTL          acquire NS's lease for HOLDER, print its token
//
// go test -run TestScripts -update rewrites the expected files of failing
// cmp lines in the scripts (read the diff before committing it).

var updateScripts = flag.Bool("update", false, "rewrite the scripts' expected output")

// The schema the scripts' state is written under: registered here, it is
// "linked into the binary", so the CLI redacts its secret key.
func init() {
	runtime.RegisterSchema(runtime.SchemaInfo{
		Name:    "ADWState",
		Version: 1,
		Keys:    []string{"adw_id", "branch_name", "plan", "token"},
		Secret:  []string{"token"},
	})
}

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"stategen": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"seed":     seedMain,
		"hold":     holdMain,
	})
}

// TestScripts runs testdata/script on the default store.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script", "sqlite", nil))
}

// TestScriptsBackends runs testdata/backends on SQLite, JSON files and the
// ADW layout, with relative and absolute URLs.
func TestScriptsBackends(t *testing.T) {
	for _, b := range []struct{ name, url string }{
		{"sqlite", "sqlite:data/state.db"},
		{"json", "json:$WORK/json-store"},
		{"adw", "adw:agents"},
	} {
		t.Run(b.name, func(t *testing.T) {
			testscript.Run(t, scriptParams("testdata/backends", b.name, func(env *testscript.Env) error {
				env.Setenv(runtime.EnvStore, strings.ReplaceAll(b.url, "$WORK", env.WorkDir))
				return nil
			}))
		})
	}
}

// TestScriptsRedis runs testdata/backends on Redis, each script under a key
// prefix of its own. It skips without redis-server (fails with
// STATEGEN_REQUIRE_REDIS=1).
func TestScriptsRedis(t *testing.T) {
	srv := redistest.Start(t)
	testscript.Run(t, scriptParams("testdata/backends", "redis", func(env *testscript.Env) error {
		env.Setenv(runtime.EnvStore, srv.URL(env.T().(testing.TB)))
		return nil
	}))
}

// TestScriptsPostgres runs testdata/backends on PostgreSQL, each script in
// a schema of its own. It skips without a reachable server (fails with
// STATEGEN_REQUIRE_POSTGRES=1).
func TestScriptsPostgres(t *testing.T) {
	pgtest.URL(t) // skip now, not in each script, without a server
	testscript.Run(t, scriptParams("testdata/backends", "postgres", func(env *testscript.Env) error {
		env.Setenv(runtime.EnvStore, pgtest.URL(env.T().(testing.TB)))
		return nil
	}))
}

func scriptParams(dir, backend string, setup func(*testscript.Env) error) testscript.Params {
	return testscript.Params{
		Dir: dir,
		Setup: func(env *testscript.Env) error {
			// Under -race every command would otherwise sleep a second
			// at exit, waiting for late race reports.
			if gorace := env.Getenv("GORACE"); !strings.Contains(gorace, "atexit_sleep_ms") {
				env.Setenv("GORACE", strings.TrimSpace(gorace+" atexit_sleep_ms=0"))
			}
			if setup != nil {
				return setup(env)
			}
			return nil
		},
		RequireUniqueNames: true,
		UpdateScripts:      *updateScripts,
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "sqlite", "json", "adw", "redis", "postgres":
				return cond == backend, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":   cmdExits,
			"scrub":   cmdScrub,
			"waitfor": cmdWaitfor,
		},
	}
}

// cmdExits is 'exits CODE PROG [ARGS...]'.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
	stderr := ts.ReadFile("stderr")
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic:") {
		ts.Fatalf("%s printed a stack trace", args[1])
	}
	if want != 0 && strings.Count(stderr, "\n") != 1 {
		ts.Fatalf("%s printed %d lines on stderr, want one", args[1], strings.Count(stderr, "\n"))
	}
}

var (
	utcTimeRE   = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	genNameRE   = regexp.MustCompile(`\b\d{8}T\d{6}\.\d{9}Z\b`)
	genNameText = "GENERATED"
)

// cmdScrub is 'scrub': it replaces stdout with itself less what changes
// from run to run. Generated checkpoint names go first: they look like times.
func cmdScrub(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: scrub")
	}
	out := genNameRE.ReplaceAllString(ts.ReadFile("stdout"), genNameText)
	out = utcTimeRE.ReplaceAllString(out, "TIME")
	fmt.Fprint(ts.Stdout(), out)
}

// cmdWaitfor is 'waitfor FILE REGEXP': for a command in the background
// (exec sh -c 'exec stategen watch >FILE' &name&) to have printed a line.
func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfor FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(ts.MkAbs(args[0]))
		if err == nil && re.Match(data) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not match %q in 10s; it holds:\n%s", args[0], args[1], data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seedMain is the 'seed NS SCHEMA VERSION KEY=JSON...' command: it writes
// the keys in one batch that records the schema, on the store of
// $STATEGEN_STORE (or the default one), as generated code does.
func seedMain() {
	if err := seed(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func seed(args []string) error {
	if len(args) < 3 {
		return errors.New("usage: seed NS SCHEMA VERSION [secret:KEY]... KEY=JSON...")
	}
	version, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	b := &runtime.Batch{Schema: &runtime.SchemaRef{Name: args[1], Version: version}}
	for _, kv := range args[3:] {
		if key, ok := strings.CutPrefix(kv, "secret:"); ok {
			b.Schema.Secret = append(b.Schema.Secret, key)
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !json.Valid([]byte(v)) {
			return fmt.Errorf("%q: want KEY=JSON", kv)
		}
		b.Puts = append(b.Puts, runtime.KV{Key: k, Value: json.RawMessage(v)})
	}
	ctx := context.Background()
	st, err := runtime.Open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Apply(ctx, args[0], b)
	return err
}

// holdMain is the 'hold NS HOLDER TTL' command: it acquires the lease of
// NS for HOLDER for TTL (a Go duration) on the store of $STATEGEN_STORE,
// and prints its token.
func holdMain() {
	if err := hold(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hold:", err)
		os.Exit(1)
	}
}

func hold(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: hold NS HOLDER TTL")
	}
	ttl, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := runtime.Open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := st.Acquire(ctx, args[0], args[1], ttl)
	if err != nil {
		return err
	}
	fmt.Println("token", l.Token())
	return nil
}

// TestScriptsCoverEveryCommand: every store command appears in a script,
// so that a new one is not left untested.
func TestScriptsCoverEveryCommand(t *testing.T) {
	var all strings.Builder
	for _, pattern := range []string{"testdata/script/*.txtar", "testdata/backends/*.txtar"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all.Write(b)
		}
	}
	for _, cmd := range []string{"namespaces", "keys", "load", "save", "delete", "dump", "checkpoint", "checkpoints", "restore", "diff", "prune", "watch", "lease", "label", "fork", "drop", "gc"} {
		if !regexp.MustCompile(`(?m)^(\[[^]]*\] )?(! )?(exits \d )?stategen( --[a-z-]+(=\S+)?)* ` + cmd + `\b`).MatchString(all.String()) {
			t.Errorf("no script runs stategen %s", cmd)
		}
	}
}
