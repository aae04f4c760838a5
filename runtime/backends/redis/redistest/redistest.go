// Package redistest runs a private redis-server for tests.
//
// Start launches one redis-server per test binary, on a free loopback port,
// with its files in a private temporary directory, the first time a test
// asks for it; later calls share it. It keeps an append-only file synced
// every second (appendfsync everysec), as a production server would, so
// that stategen's durability check has nothing to warn about. Each URL call
// returns a URL with a prefix of its own, so tests never see each other's
// data. StartPrivate starts a server for one test alone, configured as the
// test asks, which the test may kill and restart.
//
// No TestMain hook is needed to stop the server: it is tied to the test
// process by a pipe, and a small shell watchdog stops it and removes its
// directory as soon as the test binary exits, however it exits (normally,
// by os.Exit, a panic, a test timeout or kill -9). That also leaves
// TestMain free for other helpers such as backendtest.Main.
//
// Without redis-server on PATH the tests that need it are skipped, or fail
// when the environment sets STATEGEN_REQUIRE_REDIS=1 (for CI, where a
// silently skipped backend would pass unnoticed).
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// EnvRequire names the environment variable that, set to 1, turns a missing
// redis-server from a skip into a failure.
const EnvRequire = "STATEGEN_REQUIRE_REDIS"

// missingMsg is what a test says when it cannot run.
const missingMsg = "redis-server not found on PATH: install it (apt-get install redis-server) to run the Redis tests"

// kind is what a Server runs as.
type kind int

const (
	plain kind = iota
	clustered
	sentinel
)

// MasterName is the name under which the Sentinel of StartSentinel knows
// its master.
const MasterName = "stategen-test"

// Server is a running redis-server.
type Server struct {
	addr string
	kind kind
	// For a private server: how to start it again, and the running one.
	mu   sync.Mutex
	run  *running
	args []string // extra command-line options
	port int
	dir  string
}

// running is one process of a server: its watchdog and redis-server's pid.
type running struct {
	stdin  io.Closer     // closing it stops the server
	exited chan struct{} // closed when the watchdog has exited
	pid    int
}

// seq numbers prefixes across all servers, so that no two calls repeat one.
var seq atomic.Int64

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL returns a store URL on the server with a prefix no other call returns:
// a redis URL for a plain server, a redis+cluster URL for a cluster, and a
// redis URL with master_name for a Sentinel.
func (s *Server) URL(tb testing.TB) string {
	tb.Helper()
	switch s.kind {
	case clustered:
		return fmt.Sprintf("redis+cluster://%s?prefix=%s", s.addr, s.Prefix())
	case sentinel:
		return fmt.Sprintf("redis://%s/0?master_name=%s&prefix=%s", s.addr, MasterName, s.Prefix())
	}
	return fmt.Sprintf("redis://%s/0?prefix=%s", s.addr, s.Prefix())
}

// Prefix returns a key prefix no other call returns. Tests that build their
// own URLs use it for isolation.
func (s *Server) Prefix() string {
	return fmt.Sprintf("test%d-%d", os.Getpid(), seq.Add(1))
}

// Client returns a plain go-redis client on the server, closed when the test
// ends, for tests that look at or damage what a backend stored. (For a
// Sentinel it talks to the sentinel itself.)
func (s *Server) Client(tb testing.TB) *goredis.Client {
	tb.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: s.addr, MaxRetries: -1})
	tb.Cleanup(func() { c.Close() })
	return c
}

type started struct {
	once    sync.Once
	srv     *Server
	err     error
	missing bool
}

var servers [sentinel + 1]started // by kind

// Start returns the test binary's shared redis-server, starting it on first
// use. It skips the test (or fails it, with STATEGEN_REQUIRE_REDIS=1) when
// redis-server is not installed, and fails it when the server does not start.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return get(tb, plain)
}

// StartCluster returns the test binary's shared one-node Redis Cluster (all
// 16384 slots on one cluster-enabled redis-server), starting it on first use.
// It enforces what a real cluster enforces (one slot per multi-key command
// and script), so it proves a backend's cluster key layout cheaply. A new
// cluster takes about two seconds to accept writes.
func StartCluster(tb testing.TB) *Server {
	tb.Helper()
	return get(tb, clustered)
}

// StartSentinel returns the test binary's shared Sentinel, which watches the
// server of Start as the master MasterName; its URL makes go-redis ask the
// sentinel for the master, as in production.
func StartSentinel(tb testing.TB) *Server {
	tb.Helper()
	master := Start(tb)
	s := &servers[sentinel]
	s.once.Do(func() { s.srv, s.err = launch(sentinel, master.addr) })
	if s.err != nil {
		tb.Fatal(s.err)
	}
	return s.srv
}

// StartPrivate starts a redis-server for the calling test alone, on a free
// loopback port, with args added to its command line (redis-server options
// such as "--appendonly", "yes", "--appendfsync", "always"; by default it
// keeps nothing on disk, as "--save", "" and "--appendonly", "no" say). It
// is stopped, and its directory removed, when the test ends. Kill and
// Restart stop it without warning and start it again on the same address
// and data. Like Start it skips the test, or fails it with
// STATEGEN_REQUIRE_REDIS=1, when redis-server is not installed.
func StartPrivate(tb testing.TB, args ...string) *Server {
	tb.Helper()
	bin, sh, err := tools()
	if errors.Is(err, exec.ErrNotFound) {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatal(missingMsg)
		}
		tb.Skip(missingMsg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "stategen-redistest-")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{kind: plain, args: args, dir: dir}
	tb.Cleanup(func() {
		s.stop()
		os.RemoveAll(dir)
	})
	for range 3 { // the free port may be taken before the server binds it
		if s.port, err = freePort(); err != nil {
			tb.Fatal(err)
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		var r *running
		if r, err = launchOnce(sh, bin, plain, "", s.port, dir, true, args); err == nil {
			s.run = r
			return s
		}
	}
	tb.Fatal(err)
	return nil
}

// Kill stops a private server with SIGKILL, as a crash would, and waits
// until it is gone.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		return errors.New("redistest: the server is not running")
	}
	if err := syscall.Kill(s.run.pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("redistest: kill redis-server %d: %w", s.run.pid, err)
	}
	<-s.run.exited
	s.run.stdin.Close()
	s.run = nil
	return nil
}

// Restart starts a private server that Kill stopped again, on the same
// address and data directory, and waits until it has loaded its data and
// answers.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return errors.New("redistest: the server is running")
	}
	bin, sh, err := tools()
	if err != nil {
		return err
	}
	r, err := launchOnce(sh, bin, plain, "", s.port, s.dir, true, s.args)
	if err != nil {
		return err
	}
	s.run = r
	return nil
}

// stop ends a private server, if it runs.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		s.run.stdin.Close()
		<-s.run.exited
		s.run = nil
	}
}

func get(tb testing.TB, k kind) *Server {
	tb.Helper()
	s := &servers[k]
	s.once.Do(func() {
		s.srv, s.err = launch(k, "")
		if errors.Is(s.err, exec.ErrNotFound) {
			s.missing, s.err = true, errors.New(missingMsg)
		}
	})
	switch {
	case s.missing && os.Getenv(EnvRequire) == "1":
		tb.Fatal(s.err)
	case s.missing:
		tb.Skip(s.err)
	case s.err != nil:
		tb.Fatal(s.err)
	}
	return s.srv
}

// watchdog runs redis-server ($0, arguments "$@") and stops it when its
// standard input, a pipe from the test process, reaches EOF: when the test
// process exits, however it exits, the kernel closes the pipe. It also exits
// when the server does (a port taken meanwhile, a test's SIGKILL), printing
// the end of the server's log. Either way it then removes the server's
// directory, unless $STATEGEN_REDISTEST_KEEP is set (a private server, which
// may be started again on it).
//
// The reader runs in the background with the pipe on fd 3, since a
// background job's own standard input is /dev/null.
const watchdog = `
"$0" "$@" </dev/null 2>&1 &
server=$!
exec 3<&0
{ read -r _ <&3; kill "$server" 2>/dev/null; } &
reader=$!
wait "$server"
status=$?
kill "$reader" 2>/dev/null
if [ "$status" -ne 0 ]; then tail -n 20 "$STATEGEN_REDISTEST_DIR/redis.log" 2>/dev/null; fi
[ -n "$STATEGEN_REDISTEST_KEEP" ] || rm -rf "$STATEGEN_REDISTEST_DIR"
`

// lifelines keeps the write ends of the watchdogs' pipes reachable: were one
// collected, its finalizer would close it and stop the server early.
var (
	lifelinesMu sync.Mutex
	lifelines   []io.Closer
)

// tools finds redis-server and the shell that supervises it.
func tools() (bin, sh string, err error) {
	bin, err = exec.LookPath("redis-server")
	if err != nil {
		return "", "", err // wraps exec.ErrNotFound: the tests skip
	}
	sh, err = exec.LookPath("sh")
	if err != nil {
		return "", "", fmt.Errorf("redistest: a shell (sh) is needed to supervise redis-server: %v", err)
	}
	return bin, sh, nil
}

// launch starts a shared server of kind k (a sentinel watches master).
func launch(k kind, master string) (*Server, error) {
	bin, sh, err := tools()
	if err != nil {
		return nil, err
	}
	var args []string
	if k == plain {
		args = []string{"--appendonly", "yes", "--appendfsync", "everysec"}
	}
	var lastErr error
	// The port is free when we look; a race with another process can take
	// it before redis-server binds, so try a few.
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "stategen-redistest-")
		if err != nil {
			return nil, err
		}
		r, err := launchOnce(sh, bin, k, master, port, dir, false, args)
		if err == nil {
			lifelinesMu.Lock()
			lifelines = append(lifelines, r.stdin)
			lifelinesMu.Unlock()
			return &Server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), kind: k}, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// launchOnce starts redis-server in dir on port under a watchdog and waits
// until it answers. keep leaves dir in place when the server exits; args
// are added to its command line.
func launchOnce(sh, bin string, k kind, master string, port int, dir string, keep bool, extra []string) (*running, error) {
	cleanup := func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}
	logFile := filepath.Join(dir, "redis.log")
	// Every server gets a configuration file, if only to tell it from a
	// server that took the port first: INFO names the file.
	var conf []byte
	if k == sentinel {
		host, mport, _ := net.SplitHostPort(master)
		conf = []byte("sentinel monitor " + MasterName + " " + host + " " + mport + " 1\n")
	}
	confFile := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		cleanup()
		return nil, err
	}
	args := []string{"-c", watchdog, bin, confFile}
	if k == sentinel {
		args = append(args, "--sentinel")
	}
	args = append(args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", logFile, "--daemonize", "no")
	if k == clustered {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"))
	}
	args = append(args, extra...) // later options win
	cmd := exec.Command(sh, args...)
	cmd.Env = append(os.Environ(), "STATEGEN_REDISTEST_DIR="+dir)
	if keep {
		cmd.Env = append(cmd.Env, "STATEGEN_REDISTEST_KEEP=1")
	}
	var out bytes.Buffer // the server's last log lines, if it fails; read after Wait
	cmd.Stdout = &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cleanup()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cleanup()
		return nil, fmt.Errorf("redistest: start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	fail := func(err error) (*running, error) {
		stdin.Close() // the watchdog stops the server and removes dir
		<-exited
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for !ping(addr) {
		select {
		case <-exited:
			return nil, fmt.Errorf("redistest: redis-server on port %d exited at start:\n%s", port, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			return fail(fmt.Errorf("redistest: redis-server on %s did not answer PING within 15s:\n%s", addr, tail(log)))
		}
	}
	pid, err := checkOurs(addr, confFile)
	if err != nil {
		return fail(err)
	}
	if k == clustered {
		if err := assignAllSlots(addr); err != nil {
			return fail(err)
		}
	}
	return &running{stdin: stdin, exited: exited, pid: pid}, nil
}

// checkOurs makes sure the server answering at addr is the one started with
// confFile, not one that took the port between freePort and the start, and
// returns its process id.
func checkOurs(addr, confFile string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return 0, fmt.Errorf("redistest: INFO from %s: %w", addr, err)
	}
	if !strings.Contains(info, "config_file:"+confFile+"\r\n") {
		return 0, fmt.Errorf("redistest: another server answers on %s", addr)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("redistest: INFO from %s names no process_id", addr)
}

// assignAllSlots makes a fresh cluster-enabled server a one-node cluster and
// waits until it reports itself ready.
func assignAllSlots(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	if err := c.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		return fmt.Errorf("redistest: assign cluster slots: %w", err)
	}
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: one-node cluster on %s did not become ready: %v", addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping reports whether a server at addr answers PING, speaking the protocol
// by hand so that no client's retries or logging get in the way.
func ping(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// tail returns the last lines of a log, for error messages.
func tail(log []byte) string {
	lines := strings.Split(strings.TrimRight(string(log), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
