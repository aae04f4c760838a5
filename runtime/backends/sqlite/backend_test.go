package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/url"
	"os"
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
	if _, err := runtime.Open(ctx, "sqlite:"+dir+"/a.db", runtime.WithTTL(time.Hour)); !errors.Is(err, runtime.ErrUnsupported) {
		t.Errorf("TTL on sqlite: %v, want ErrUnsupported", err)
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
