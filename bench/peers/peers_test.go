package peers

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
)

var (
	rounds = flag.Int("peers.rounds", 5, "timed rounds of every workload on every system")
	budget = flag.Duration("peers.budget", 300*time.Millisecond, "time one measurement aims at")
)

// Environment variables make bench-peers sets.
const (
	// envDir is the directory npm installed the LangGraph.js peers in.
	envDir = "STATEGEN_PEERS_DIR"
	// envStateManager is the path of the Python StateManager's source.
	envStateManager = "STATEGEN_STATE_MANAGER"
)

// A workload is one of the operations every system runs (the op its
// drivers take), with how many callers run it at once.
type workload struct {
	name, op string
	parallel int
}

var workloads = []workload{
	{"whole save", "save", 1},
	{"whole load", "load", 1},
	{"one-field update", "update", 1},
	{"checkpoint + list of 50", "checkpoint", 1},
	{"8 writers, per save", "writers", writers},
}

// A system is one store under test: run does a workload's op n times and
// returns nanoseconds per operation.
type system struct {
	name, durability string
	baseline         string // the stategen system of equal durability
	onServer         bool   // on the PostgreSQL server
	run              func(op string, n int) (float64, error)
}

// The stategen systems the peers are compared with.
const (
	sqliteFull   = "stategen sqlite FULL"
	sqliteNormal = "stategen sqlite NORMAL"
	postgres     = "stategen postgres"
)

// notes follow the table: what it compares and where a peer does less.
var notes = []string{
	"median: of the rounds' times per operation; per second: operations completed per second, by all 8 callers for the writers.",
	"ratio: the peer's median over that of the stategen system of equal durability (compared with); above 1, stategen is faster.",
	"durability: SQLite FULL fsyncs the WAL at every commit; NORMAL does not (a commit survives a crash of the process, not of the machine).",
	"StateManager json renames its file without any fsync, so it is compared with NORMAL; it has no whole-state write or read: a save is its 12 saves, not atomic, and a load its backend's 12 reads.",
	"StateManager sqlite runs SQLite's defaults (rollback journal, synchronous=FULL) on a new connection per operation; its list_checkpoints reads only the JSON directory, so the driver lists the checkpoints table itself.",
	"LangGraph SqliteSaver runs in WAL mode at better-sqlite3's default for a WAL database, synchronous=NORMAL, so it is compared with NORMAL; its one-field update and checkpoint are puts (naming one channel, none) and its listing returns whole checkpoints.",
	"stategen loads with the cache off (runtime.WithoutCache), as the peers read storage; PostgreSQL systems share one server with synchronous_commit=on.",
}

// TestPeers measures every system on every workload, interleaved, and
// prints the table. make bench-peers runs it; it only reports times.
func TestPeers(t *testing.T) {
	dir := os.Getenv(envDir)
	if dir == "" {
		t.Skip(envDir + " is not set: make bench-peers installs the peers and runs this")
	}
	systems := stategenSystems(t)
	systems = append(systems, stateManagerSystems(t)...)
	systems = append(systems, langGraphSystems(t, dir)...)

	startLoad := loadAverage()
	// An untimed round sizes each measurement to the budget.
	counts := map[[2]string]int{}
	fmt.Printf("sizing %d workloads on %d systems\n", len(workloads), len(systems))
	for _, w := range workloads {
		for _, s := range systems {
			ns := measure(t, s, w, 3)
			counts[[2]string{w.op, s.name}] = min(max(int(float64(budget.Nanoseconds())/ns), 3), 5000)
		}
	}
	results := map[[2]string]*Result{}
	for r := range *rounds {
		fmt.Printf("round %d/%d\n", r+1, *rounds)
		for _, w := range workloads {
			for i := range systems {
				s := systems[(i+r)%len(systems)] // a different order each round
				k := [2]string{w.op, s.name}
				if results[k] == nil {
					results[k] = &Result{Workload: w.name, System: s.name, Durability: s.durability, Baseline: s.baseline, Parallel: w.parallel}
				}
				results[k].Rounds = append(results[k].Rounds, measure(t, s, w, counts[k]))
			}
		}
	}
	var table []Result
	for _, w := range workloads {
		for _, s := range systems {
			table = append(table, *results[[2]string{w.op, s.name}])
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("\n%s, %s, %d CPUs, load average %s at the start, %s at the end\n\n",
		time.Now().Format("2006-01-02 15:04"), host, goruntime.NumCPU(), startLoad, loadAverage())
	if err := Table(os.Stdout, table); err != nil {
		t.Fatal(err)
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println("- " + n)
	}
}

// measure times w on s. A system on the PostgreSQL server starts right
// after a VACUUM and a CHECKPOINT, so that it does not meet the dead rows
// of what the system before it wrote, nor the server flushing it (see
// pgtest.Settle).
func measure(t *testing.T, s system, w workload, n int) float64 {
	t.Helper()
	if s.onServer {
		pgtest.Settle(t)
	}
	ns, err := s.run(w.op, n)
	if err != nil {
		t.Fatalf("%s, %s: %v", s.name, w.name, err)
	}
	return ns
}

// stategenSystems opens stategen on SQLite at both synchronous settings and
// on PostgreSQL (a database pgtest makes and drops).
func stategenSystems(t *testing.T) []system {
	ctx := context.Background()
	dir := t.TempDir()
	var out []system
	for _, c := range []struct{ name, durability, url string }{
		{sqliteFull, "fsync per commit", "sqlite:" + filepath.Join(dir, "full.db") + "?synchronous=full"},
		{sqliteNormal, "no fsync per commit", "sqlite:" + filepath.Join(dir, "normal.db") + "?synchronous=normal"},
		{postgres, "server, fsync per commit", pgtest.URL(t)},
	} {
		g, err := openStategen(ctx, c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Cleanup(func() { g.Close() })
		out = append(out, system{name: c.name, durability: c.durability, onServer: c.name == postgres, run: func(op string, n int) (float64, error) {
			return g.run(ctx, op, n)
		}})
	}
	return out
}

// stateManagerSystems runs the Python StateManager's JSON and SQLite
// backends through testdata/statemanager.py, when its source is there.
func stateManagerSystems(t *testing.T) []system {
	source := os.Getenv(envStateManager)
	if _, err := os.Stat(source); source == "" || err != nil {
		fmt.Printf("StateManager skipped: no state_manager.py at %q (make bench-peers STATE_MANAGER=path/to/state_manager.py)\n", source)
		return nil
	}
	// The interpreter itself, not a wrapper such as pyenv's shim, which
	// can take longer to start than a measurement.
	out, err := exec.Command(lookPath(t, "python3"), "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	python := strings.TrimSpace(string(out))
	script := testdata(t, "statemanager.py")
	dir := t.TempDir()
	driver := func(backend string) func(op string, n int) (float64, error) {
		return func(op string, n int) (float64, error) {
			return runDriver(python, script, source, backend, filepath.Join(dir, backend), op, strconv.Itoa(n))
		}
	}
	return []system{
		{name: "StateManager json", durability: "no fsync at all", baseline: sqliteNormal, run: driver("json")},
		{name: "StateManager sqlite", durability: "fsync per commit", baseline: sqliteFull, run: driver("sqlite")},
	}
}

// langGraphSystems runs LangGraph.js's SqliteSaver and PostgresSaver, from
// the packages in dir, through testdata/langgraph.cjs.
func langGraphSystems(t *testing.T, dir string) []system {
	node := lookPath(t, "node")
	script := testdata(t, "langgraph.cjs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@langchain", "langgraph-checkpoint-sqlite")); err != nil {
		t.Fatalf("no LangGraph.js packages in %s: make bench-peers installs them", dir)
	}
	file := filepath.Join(t.TempDir(), "langgraph.db")
	db := *pgtest.Database(t)
	db.RawQuery = ""
	schema := pgtest.Schema()
	return []system{
		{name: "LangGraph SqliteSaver", durability: "no fsync per commit", baseline: sqliteNormal, run: func(op string, n int) (float64, error) {
			return runDriver(node, script, dir, op, strconv.Itoa(n), "sqlite", file)
		}},
		{name: "LangGraph PostgresSaver", durability: "server, fsync per commit", baseline: postgres, onServer: true, run: func(op string, n int) (float64, error) {
			return runDriver(node, script, dir, op, strconv.Itoa(n), "postgres", db.String(), schema)
		}},
	}
}

// runDriver runs a peer's driver and reads the nanoseconds per operation
// it prints.
func runDriver(name string, args ...string) (float64, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s %s: %v: %s", filepath.Base(name), filepath.Base(args[0]), err, strings.TrimSpace(stderr.String()))
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(stdout.String()), 64)
	if err != nil || ns <= 0 {
		return 0, fmt.Errorf("%s printed %q, want nanoseconds per operation", filepath.Base(args[0]), stdout.String())
	}
	return ns, nil
}

func lookPath(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: make bench-peers needs node, npm and python3", name)
	}
	return p
}

func testdata(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// loadAverage is /proc/loadavg's first three fields, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
