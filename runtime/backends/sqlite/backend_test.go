package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
)

func openURL(t *testing.T, rawURL string, opts ...runtime.Option) *runtime.Store {
	t.Helper()
	st, err := runtime.Open(context.Background(), rawURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "dir")
	st := openURL(t, "sqlite:"+filepath.Join(dir, "state.db"))
	if _, err := st.Put(context.Background(), "ns", "k", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"state.db": 0o600, "state.db-wal": 0o600, "state.db-shm": 0o600, ".": 0o700} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", name, got, want)
		}
	}
}

// TestPragmasOnEveryConnection checks the settings a DSN pragma gives each
// pooled connection, on both pools, for each synchronous choice.
func TestPragmasOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	for query, want := range map[string]int{"?busy_timeout=1500ms": 2, "?synchronous=full&busy_timeout=1500ms": 2, "?synchronous=NORMAL&busy_timeout=1500ms": 1} {
		b, err := open(ctx, mustParse(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db")+query), runtime.Config{})
		if err != nil {
			t.Fatal(err)
		}
		be := b.(*Backend)
		for pool, db := range map[string]*sql.DB{"read": be.read, "write": be.write} {
			// Hold several connections at once so that new ones are opened.
			var conns []*sql.Conn
			for range 3 {
				c, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				if pool == "write" {
					break // the write pool has one connection
				}
			}
			for _, c := range conns {
				var sync, busy int
				var mode string
				c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync)
				c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy)
				c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
				if sync != want || busy != 1500 || mode != "wal" {
					t.Errorf("%q %s pool: synchronous=%d busy_timeout=%d journal_mode=%s; want %d, 1500, wal", query, pool, sync, busy, mode, want)
				}
				c.Close()
			}
		}
		be.Close()
	}
}

func TestURLErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for raw, want := range map[string]string{
		"sqlite:" + dir + "/a.db?synchronous=off":  "synchronous",
		"sqlite:" + dir + "/a.db?busy_timeout=abc": "busy_timeout",
		"sqlite:" + dir + "/a.db?cache=shared":     `unknown URL parameter "cache"`,
		"sqlite://host/a.db":                       "host",
		"sqlite:":                                  "no file path",
	} {
		_, err := runtime.Open(ctx, raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want an error about %s", raw, err, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused URLs created files: %v", entries)
	}
}

type retryCounter struct{ n atomic.Int64 }

func (c *retryCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *retryCounter) Handle(context.Context, slog.Record) error {
	c.n.Add(1)
	return nil
}
func (c *retryCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *retryCounter) WithGroup(string) slog.Handler      { return c }

// TestBusyIsRetried holds the write lock from another connection for longer
// than the busy timeout: the write fails with SQLITE_BUSY, is retried, and
// succeeds once the lock is released.
func TestBusyIsRetried(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	var retries retryCounter
	st := openURL(t, "sqlite:"+path+"?busy_timeout=10ms", runtime.WithLogger(slog.New(&retries)),
		runtime.WithRetry(runtime.RetryPolicy{Attempts: 100, Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}))
	if _, err := st.Put(ctx, "ns", "k", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	holder, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	tx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE entries SET updated = 0 WHERE ns = 'ns'`); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(200*time.Millisecond, func() { tx.Commit() })
	if _, err := st.Put(ctx, "ns", "k", []byte(`2`)); err != nil {
		t.Fatalf("write while another connection held the lock: %v", err)
	}
	if retries.n.Load() == 0 {
		t.Fatalf("the write succeeded without a retry: the lock was not held, the test proves nothing")
	}
	if v, _ := st.Get(ctx, "ns", "k"); string(v.Data) != "2" {
		t.Fatalf("value %s after the retried write, want 2", v.Data)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPercentInPath: a '%' in the path is part of the file's name, not an
// escape: the data goes to exactly the file named, created 0600, and no
// other file appears.
func TestPercentInPath(t *testing.T) {
	dir := t.TempDir()
	st := openURL(t, "sqlite:"+filepath.Join(dir, "x%41.db"))
	if _, err := st.Put(context.Background(), "ns", "k", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	fi, err := os.Stat(filepath.Join(dir, "x%41.db"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("x%%41.db: %d bytes, mode %v; want the data, mode 0600", fi.Size(), fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "x%41.db") {
			t.Errorf("%s appeared beside x%%41.db", e.Name())
		}
	}
	if got, want := FileURI("a/b%c?d#e.db"), "file:a/b%25c%3Fd%23e.db"; got != want {
		t.Errorf("FileURI = %q, want %q", got, want)
	}
}

// TestReadOnlyCreatesNothing: a read-only open of a file that is not there,
// or that holds no stategen tables, is ErrNotFound and creates nothing.
func TestReadOnlyCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stat.db", "nosuch/dir/x.db", "empty.db"} {
		_, err := runtime.Open(ctx, "sqlite:"+filepath.Join(dir, name), runtime.ReadOnly())
		if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "no store at") {
			t.Errorf("%s: %v, want ErrNotFound saying no store at", name, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("read-only opens created files: %v", entries)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "empty.db")); fi.Size() != 0 {
		t.Errorf("empty.db was written to")
	}
}

// TestReadOnlyFileSystem: a store on a file system that cannot be written
// opens read-only and reads (the WAL database's -shm file cannot be
// created there), and refuses writes.
func TestReadOnlyFileSystem(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ro")
	path := filepath.Join(dir, "state.db")
	rw := openURL(t, "sqlite:"+path)
	if _, err := rw.Put(ctx, "ns", "k", []byte(`"v"`)); err != nil {
		t.Fatal(err)
	}
	rw.Close()
	readOnlyDir(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o600); err == nil {
		t.Fatal("the directory is still writable: the test proves nothing")
	}
	st, err := runtime.Open(ctx, "sqlite:"+path, runtime.ReadOnly())
	if err != nil {
		t.Fatalf("read-only open on a read-only file system: %v", err)
	}
	defer st.Close()
	if v, err := st.Get(ctx, "ns", "k"); err != nil || string(v.Data) != `"v"` {
		t.Fatalf("get: %s, %v", v.Data, err)
	}
	if ns, err := st.Namespaces(ctx); err != nil || len(ns) != 1 {
		t.Fatalf("namespaces: %v, %v", ns, err)
	}
	if _, err := st.Put(ctx, "ns", "k", []byte(`1`)); !errors.Is(err, runtime.ErrReadOnly) {
		t.Fatalf("put: %v, want ErrReadOnly", err)
	}
}

// readOnlyDir makes dir unwritable until the test ends: a read-only bind
// mount when running as root (whom permissions do not stop), its mode
// otherwise.
func readOnlyDir(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return
	}
	if out, err := exec.Command("mount", "--bind", dir, dir).CombinedOutput(); err != nil {
		t.Skipf("cannot bind-mount %s read-only as root (%v: %s)", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot remount %s read-only (%v: %s)", dir, err, out)
	}
}

// TestFirstLayout: a database of the first layout (no schema info
// columns) is read as it is when opened read-only, and gains the columns
// when opened for writing.
func TestFirstLayout(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.NewReplacer("\tinfo    TEXT\n", "", ",\n\tinfo    TEXT", "", "\tschema_info    TEXT,\n", "").Replace(schemaSQL)
	if strings.Contains(old, "info") {
		t.Fatalf("could not make the first layout from:\n%s", schemaSQL)
	}
	for _, q := range []string{old,
		`INSERT INTO entries VALUES ('ns', 'k', '1', 1, 0), ('ns', '', NULL, 1, 0)`,
		`INSERT INTO schemas VALUES ('ns', 'S', 2)`,
		`INSERT INTO checkpoints VALUES ('ns', 'cp', 0, 1, 'S', 2, 1)`,
		`INSERT INTO checkpoint_entries VALUES ('ns', 'cp', 'k', '1', 1, 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer db.Close()
	want := runtime.SchemaRef{Name: "S", Version: 2}
	ro := openURL(t, "sqlite:"+path, runtime.ReadOnly())
	if s, err := ro.Schema(ctx, "ns"); err != nil || !s.Equal(want) {
		t.Fatalf("read-only schema of the first layout: %+v, %v", s, err)
	}
	if cps, err := ro.Checkpoints(ctx, "ns"); err != nil || len(cps) != 1 || !cps[0].Schema.Equal(want) {
		t.Fatalf("read-only checkpoints of the first layout: %+v, %v", cps, err)
	}
	rw := openURL(t, "sqlite:"+path)
	ref := runtime.SchemaRef{Name: "S", Version: 2, Keys: []string{"k"}, Secret: []string{"k"}}
	if _, err := rw.Apply(ctx, "ns", &runtime.Batch{Schema: &ref, Puts: []runtime.KV{{Key: "k", Value: []byte(`2`)}}}); err != nil {
		t.Fatal(err)
	}
	if s, _ := rw.Schema(ctx, "ns"); !s.Equal(ref) {
		t.Fatalf("schema written after the upgrade: %+v", s)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != LayoutVersion {
		t.Fatalf("layout version after the upgrade: %d, %v; want %d", v, err, LayoutVersion)
	}
}

// Versions before this one stored an empty schema row for state written
// without a schema (restored or copied): such a namespace, its keys all
// deleted, must read as absent to every view, so that updates do not
// conflict with a revision nobody can see.
func TestLegacyEmptySchemaRow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "state.db")
	st := openURL(t, "sqlite:"+path)
	if _, err := st.Put(ctx, "ns", "k", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Delete(ctx, "ns", "k"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schemas (ns, name, version) VALUES ('ns', '', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Snapshot(ctx, "ns"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("snapshot: %v, want ErrNotFound", err)
	}
	if names, err := st.Namespaces(ctx); err != nil || len(names) != 0 {
		t.Errorf("namespaces %v (err %v): the empty namespace is listed", names, err)
	}
	if _, err := st.UpdateNamespace(ctx, "ns", func(*runtime.Snapshot) (*runtime.Batch, error) {
		return &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: []byte(`2`)}}}, nil
	}); err != nil {
		t.Errorf("update: %v", err)
	}
}

// TestStampSeesEveryCommit: the stamp read from the WAL index header
// changes with every commit of another connection, across WAL resets
// (checkpoints that restart the log) and with values of the same size, and
// is read from the header, not by the fallback query.
func TestStampSeesEveryCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	a, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if a.shm == nil {
		t.Fatal("no WAL index file opened: Stamp would always query")
	}
	prev, err := a.Stamp(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := w.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: []byte(`"x"`)}}}); err != nil {
			t.Fatal(err)
		}
		if i%25 == 0 {
			if _, err := w.write.ExecContext(ctx, "PRAGMA wal_checkpoint(RESTART)"); err != nil {
				t.Fatal(err)
			}
		}
		st, err := a.Stamp(ctx, "ns")
		if err != nil {
			t.Fatal(err)
		}
		if st == prev {
			t.Fatalf("commit %d left the stamp at %v", i, st)
		}
		if st[0] < 0 {
			t.Fatalf("commit %d: stamp %v came from the fallback query, not the header", i, st)
		}
		prev = st
	}
}

// TestGroupCommit: concurrent writers share commits, and each batch keeps
// its own conditions and atomicity: in a shared commit, a batch whose
// condition fails writes nothing while the others land, and every caller
// gets its own revision.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const writers, rounds = 8, 40
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			ns := fmt.Sprintf("run%d", w)
			for i := range rounds {
				batch := &runtime.Batch{Puts: []runtime.KV{{Key: "a", Value: []byte(fmt.Sprint(i))}, {Key: "b", Value: []byte(fmt.Sprint(i))}}}
				bad := i%3 == 2
				if bad { // a condition that never holds
					batch.Conds = []runtime.Cond{{Key: "a", Revision: 1 << 40}}
				}
				_, err := b.Apply(ctx, ns, batch)
				if bad != errors.Is(err, runtime.ErrConflict) {
					errs <- fmt.Errorf("%s round %d (failing condition %v): %v", ns, i, bad, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if b.commits.shared.Load() == 0 {
		t.Fatal("no commit carried more than one batch: writers did not share commits")
	}
	for w := range writers {
		snap, err := b.Snapshot(ctx, fmt.Sprintf("run%d", w))
		if err != nil {
			t.Fatal(err)
		}
		// The last round (39) has a condition that holds; the failing
		// rounds wrote nothing, so the revision counts the others.
		if a, bv := string(snap.Values["a"].Data), string(snap.Values["b"].Data); a != "39" || bv != "39" {
			t.Errorf("run%d holds a=%s b=%s, want 39 and 39", w, a, bv)
		}
		if want := int64(rounds - rounds/3); snap.Revision != want {
			t.Errorf("run%d is at revision %d, want %d (one per successful batch)", w, snap.Revision, want)
		}
	}
}

// openWithBlocker opens a backend on a new file, and another connection to
// the file whose transactions take its write lock.
func openWithBlocker(t *testing.T) (*Backend, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	b, err := Open(context.Background(), path, Options{BusyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	blocker, err := sql.Open("sqlite", FileURI(path)+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blocker.Close() })
	return b, blocker
}

// TestGroupCommitCancelled: a writer whose context ends while it waits for
// a commit leaves the queue having written nothing, and the writers after
// it are not stranded.
func TestGroupCommitCancelled(t *testing.T) {
	ctx := context.Background()
	b, blocker := openWithBlocker(t)
	// The blocker holds the write lock: the leader waits on it.
	tx, err := blocker.Begin()
	if err != nil {
		t.Fatal(err)
	}
	put := func(ctx context.Context, ns string) error {
		_, err := b.Apply(ctx, ns, &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: []byte(`1`)}}})
		return err
	}
	lead := make(chan error, 1)
	go func() { lead <- put(ctx, "leader") }()
	waitCommitter(t, b, "the leader to begin", func(c *committer) bool { return c.busy })
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := put(short, "cancelled"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued write with an ended context: %v, want its deadline", err)
	}
	later := make(chan error, 1)
	go func() { later <- put(ctx, "later") }()
	// The cancelled writer has left the queue; the later one waits in it.
	waitCommitter(t, b, "the later writer to queue alone", func(c *committer) bool { return len(c.queue) == 1 })
	tx.Rollback()
	for _, ch := range []chan error{lead, later} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a writer was stranded in the queue")
		}
	}
	if _, err := b.Snapshot(ctx, "cancelled"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("the cancelled write landed: %v", err)
	}
}

// TestGroupCommitWriteFails: a batch whose write fails part way in a
// shared commit fails alone, having written nothing (here its delete runs,
// then its put is refused by a trigger), and the batches that shared the
// commit land.
func TestGroupCommitWriteFails(t *testing.T) {
	ctx := context.Background()
	b, blocker := openWithBlocker(t)
	kv := func(k, v string) runtime.KV { return runtime.KV{Key: k, Value: []byte(v)} }
	for _, ns := range []string{"leader", "bad", "good1", "good2"} {
		if _, err := b.Apply(ctx, ns, &runtime.Batch{Puts: []runtime.KV{kv("a", `1`)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := blocker.Exec(`CREATE TRIGGER boom BEFORE INSERT ON entries WHEN NEW.value = '"boom"' BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	// Alone, the failing batch fails whole, and is not tried again.
	bad := &runtime.Batch{Deletes: []string{"a"}, Puts: []runtime.KV{kv("b", `"boom"`), kv("c", `3`)}}
	if _, err := b.Apply(ctx, "bad", bad); err == nil || b.commits.rewrites.Load() != 0 {
		t.Fatalf("a lone failing batch: %v, %d rewrites", err, b.commits.rewrites.Load())
	}
	// Another connection holds the write lock: the leader waits on it in
	// its transaction while the others queue, and then takes them in.
	tx, err := blocker.Begin()
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]chan error{}
	apply := func(ns string, batch *runtime.Batch) {
		ch := make(chan error, 1)
		results[ns] = ch
		go func() {
			_, err := b.Apply(ctx, ns, batch)
			ch <- err
		}()
	}
	apply("leader", &runtime.Batch{Puts: []runtime.KV{kv("b", `2`), kv("c", `3`)}})
	waitCommitter(t, b, "the leader to begin", func(c *committer) bool { return c.busy })
	time.Sleep(50 * time.Millisecond) // and to wait on the lock, having taken no one
	apply("good1", &runtime.Batch{Puts: []runtime.KV{kv("b", `2`), kv("c", `3`)}})
	apply("bad", bad)
	apply("good2", &runtime.Batch{Puts: []runtime.KV{kv("b", `2`), kv("c", `3`)}})
	waitCommitter(t, b, "three writers to queue", func(c *committer) bool { return len(c.queue) == 3 })
	tx.Rollback()
	for ns, ch := range results {
		select {
		case err := <-ch:
			if (ns == "bad") != (err != nil) {
				t.Errorf("%s: %v", ns, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: stranded", ns)
		}
	}
	for ns := range results {
		got := map[string]string{}
		snap, err := b.Snapshot(ctx, ns)
		switch {
		case err == nil:
			for k, v := range snap.Values {
				got[k] = string(v.Data)
			}
		case !errors.Is(err, runtime.ErrNotFound):
			t.Fatal(err)
		}
		want := map[string]string{"a": "1", "b": "2", "c": "3"}
		if ns == "bad" {
			want = map[string]string{"a": "1"}
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s holds %v, want %v", ns, got, want)
		}
	}
	if b.commits.rewrites.Load() != 1 {
		t.Fatalf("%d shared commits rolled back and rewritten, want 1: the writes did not share a commit", b.commits.rewrites.Load())
	}
}

// waitCommitter waits until ready holds of b's committer.
func waitCommitter(t *testing.T, b *Backend, what string, ready func(*committer) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		b.commits.mu.Lock()
		ok := ready(&b.commits)
		b.commits.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}

// TestLayoutVersion: a new database records the layout version (one of
// the first layout is upgraded to it: TestFirstLayout), and one of a later
// version, a newer stategen's, is refused, read-only too, and left as it
// was.
func TestLayoutVersion(t *testing.T) {
	ctx := context.Background()
	userVersion := func(path string) int {
		t.Helper()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v int
		if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	path := filepath.Join(t.TempDir(), "state.db")
	st := openURL(t, "sqlite:"+path)
	if _, err := st.Put(ctx, "ns", "k", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if v := userVersion(path); v != LayoutVersion {
		t.Fatalf("a new database records layout version %d, want %d", v, LayoutVersion)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	newer := LayoutVersion + 1
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, newer)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]runtime.Option{nil, {runtime.ReadOnly()}} {
		st, err := runtime.Open(ctx, "sqlite:"+path, opts...)
		if err == nil {
			st.Close()
			t.Fatalf("opened (options %d) a database of layout version %d", len(opts), newer)
		}
		if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("layout version %d, written by a newer stategen", newer)) {
			t.Fatalf("refusal does not say why: %v", err)
		}
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("refusing a newer layout changed the file (%v)", err)
	}
}
