package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/backendtest"
)

// The raw side of each pair is what a hand-written program would do with the
// driver: one prepared statement on a database with the same settings.

func rawDB(b *testing.B, sync string) (*sql.DB, *sql.Stmt, *sql.Stmt) {
	path := filepath.Join(b.TempDir(), "raw.db")
	db, err := sql.Open("sqlite", fmt.Sprintf("file:%s?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(%s)", path, sync))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE kv (ns TEXT, key TEXT, value TEXT, PRIMARY KEY (ns, key)) WITHOUT ROWID`); err != nil {
		b.Fatal(err)
	}
	up, err := db.Prepare(`INSERT INTO kv (ns, key, value) VALUES (?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value`)
	if err != nil {
		b.Fatal(err)
	}
	get, err := db.Prepare(`SELECT value FROM kv WHERE ns = ? AND key = ?`)
	if err != nil {
		b.Fatal(err)
	}
	return db, up, get
}

func benchStore(b *testing.B, sync string, opts ...runtime.Option) *runtime.Store {
	st, err := runtime.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "state.db")+"?synchronous="+sync, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

var text = runtime.JSONCodec[string]()

// BenchmarkSave: a one-key save against the raw prepared upsert, at each
// synchronous setting.
func BenchmarkSave(b *testing.B) {
	ctx := context.Background()
	for _, sync := range []string{"full", "normal"} {
		b.Run(sync, func(b *testing.B) {
			b.Run("raw", func(b *testing.B) {
				_, up, _ := rawDB(b, sync)
				for i := 0; b.Loop(); i++ {
					if _, err := up.Exec("ns", "branch_name", fmt.Sprintf(`"feat-%d"`, i)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("stategen", func(b *testing.B) {
				st := benchStore(b, sync)
				for i := 0; b.Loop(); i++ {
					if err := runtime.Save(ctx, st, "ns", "branch_name", fmt.Sprintf("feat-%d", i), text); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkLoad: a one-key load against the raw prepared select, with the
// cache off so that both read the database.
func BenchmarkLoad(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		_, up, get := rawDB(b, "normal")
		up.Exec("ns", "branch_name", `"feat-1"`)
		for b.Loop() {
			var v string
			if err := get.QueryRow("ns", "branch_name").Scan(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) { benchLoad(b, runtime.WithoutCache()) })
}

// BenchmarkCachedLoad: the cache's modes against no cache.
func BenchmarkCachedLoad(b *testing.B) {
	b.Run("uncached", func(b *testing.B) { benchLoad(b, runtime.WithoutCache()) })
	b.Run("strict", func(b *testing.B) { benchLoad(b, runtime.WithStrictCache()) })
	b.Run("relaxed", func(b *testing.B) { benchLoad(b, runtime.WithRelaxedCache(time.Minute)) })
}

func benchLoad(b *testing.B, opt runtime.Option) {
	ctx := context.Background()
	st := benchStore(b, "normal", opt)
	if err := runtime.Save(ctx, st, "ns", "branch_name", "feat-1", text); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := runtime.Load(ctx, st, "ns", "branch_name", text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunsByLabel: the first page of runs of a label out of 100 and
// out of 10,000, read from the label index.
func BenchmarkRunsByLabel(b *testing.B) {
	backendtest.BenchRunsByLabel(b, func(t testing.TB) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "state.db") + "?synchronous=normal"
	})
}

// BenchmarkCheckpointList: listing 50 checkpoints of 10 keys and of 1000.
func BenchmarkCheckpointList(b *testing.B) {
	backendtest.BenchCheckpointList(b, func(t testing.TB) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "state.db") + "?synchronous=normal"
	})
}
