package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a PostgreSQL server of one test's own.
type Server struct {
	// URL is a store URL on the server (database postgres, user postgres).
	URL string

	bin  string // the installation's bin directory
	dir  string // the data directory
	port int
	cred *syscall.Credential // the postgres user's, when running as root

	mu     sync.Mutex
	cmd    *exec.Cmd  // the running postmaster, nil when stopped
	exited chan error // receives its exit
	pgid   int        // its process group
}

// StartPrivate initialises a data directory and starts a server on it for
// the calling test alone, with fsync and synchronous commit on, so that
// every acknowledged write survives a kill; it is stopped and removed when
// the test ends. It skips the test (fails it with
// STATEGEN_REQUIRE_POSTGRES=1) without a PostgreSQL installation.
func StartPrivate(tb testing.TB) *Server {
	tb.Helper()
	bin, err := installation()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
	dir, err := os.MkdirTemp("", "stategen-pgtest-")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{bin: bin, dir: dir}
	tb.Cleanup(func() {
		s.stop()
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Skipf("pgtest: running as root, and there is no postgres user to run a server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	for range 3 { // the free port may be taken before the server binds it
		if s.port, err = freePort(); err != nil {
			tb.Fatal(err)
		}
		if err = s.Restart(); err == nil {
			s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
			return s
		}
	}
	tb.Fatal(err)
	return nil
}

// installation finds the bin directory of the newest PostgreSQL installed
// the Debian way, or else initdb on PATH.
func installation() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrMissing
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Restart starts the server (again, after Kill) on the same port and data
// directory, and returns once it accepts connections.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: the server is running")
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(s.port), "-h", "127.0.0.1", "-k", s.dir,
		"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=50", "-c", "shared_buffers=16MB")
	// Its own process group, so that Kill reaches its children too; and
	// killed with the test process, should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", s.port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("pgtest: postgres exited (%v):\n%s", err, log.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			conn.Close(ctx)
			cancel()
			s.cmd, s.exited, s.pgid = cmd, exited, cmd.Process.Pid
			return nil
		}
		cancel()
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return fmt.Errorf("pgtest: postgres did not accept connections within a minute: %v\n%s", err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops the server and every process of it with SIGKILL, as a crash
// of the machine's server would, and waits until the postmaster is gone.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("pgtest: the server is not running")
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("pgtest: kill postgres %d: %w", s.cmd.Process.Pid, err)
	}
	<-s.exited
	s.cmd = nil
	// The postmaster's children died with it (one process group); wait
	// until none is left, or a new postmaster would find its shared
	// memory still attached.
	for range 100 {
		if syscall.Kill(-s.pgid, 0) != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// stop ends a running server at once.
func (s *Server) stop() {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		s.Kill()
	}
}

// freePort returns a loopback TCP port that is free now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
