package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stategen/stategen/internal/benchstate"
	"github.com/stategen/stategen/runtime"
)

// The whole-struct benchmarks: a 12-field state (benchstate) saved and
// loaded whole, against a hand-written program doing the same with the
// driver: one transaction of prepared upserts to save, one prepared select
// and a json.Unmarshal per field to load.

func stateStore(b *testing.B, st *runtime.Store, ns string) *runtime.StateStore[benchstate.State] {
	s, err := runtime.NewStateStore(st, ns, benchstate.Schema)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkWholeSave: target within 1.3x of raw at FULL, 2x at NORMAL.
func BenchmarkWholeSave(b *testing.B) {
	ctx := context.Background()
	for _, sync := range []string{"full", "normal"} {
		b.Run(sync, func(b *testing.B) {
			b.Run("raw", func(b *testing.B) {
				db, up, _ := rawDB(b, sync)
				for i := 0; b.Loop(); i++ {
					tx, err := db.Begin()
					if err != nil {
						b.Fatal(err)
					}
					st := tx.Stmt(up)
					for _, r := range benchstate.Rows(i) {
						if _, err := st.Exec("ns", r[0], r[1]); err != nil {
							b.Fatal(err)
						}
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("stategen", func(b *testing.B) {
				s := stateStore(b, benchStore(b, sync), "ns")
				for i := 0; b.Loop(); i++ {
					if err := s.Save(ctx, benchstate.Sample(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkWholeLoad: target uncached within 1.5x of raw, and the strict
// cache at least 10x faster than uncached when nothing changed.
func BenchmarkWholeLoad(b *testing.B) {
	ctx := context.Background()
	b.Run("raw", func(b *testing.B) {
		db, up, _ := rawDB(b, "normal")
		for _, r := range benchstate.Rows(1) {
			up.Exec("ns", r[0], r[1])
		}
		sel, err := db.Prepare(`SELECT key, value FROM kv WHERE ns = ?`)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			rows, err := sel.Query("ns")
			if err != nil {
				b.Fatal(err)
			}
			vals := map[string][]byte{}
			for rows.Next() {
				var k string
				var v []byte
				if err := rows.Scan(&k, &v); err != nil {
					b.Fatal(err)
				}
				vals[k] = v
			}
			rows.Close()
			if _, err := benchstate.Decode(func(k string) ([]byte, bool) { v, ok := vals[k]; return v, ok }); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, mode := range []struct {
		name string
		opt  runtime.Option
	}{{"stategen", runtime.WithoutCache()}, {"strict-cache", runtime.WithStrictCache()}} {
		b.Run(mode.name, func(b *testing.B) {
			s := stateStore(b, benchStore(b, "normal", mode.opt), "ns")
			if err := s.Save(ctx, benchstate.Sample(1)); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.Load(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriters: whole-struct saves by 1 and by 8 goroutines, each on
// its own namespace, at FULL; ns/op is per save, so the 8-writer ratio is
// one writer's throughput divided by eight's (target: at most 0.33, three
// times the throughput). Then the floors: fsync, the disk's own time for
// the least a commit at FULL waits for (a page appended to a file, then
// fsync), which bounds commits, not saves, per second; and normal, one
// writer at NORMAL, a save that waits for no fsync at all. A save of one
// of the eight costs at least its own work plus an eighth of an fsync
// (each writer has one save outstanding, so a commit holds at most eight).
func BenchmarkWriters(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			st := benchStore(b, "full")
			saveConcurrently(ctx, b, st, n)
		})
	}
	b.Run("normal", func(b *testing.B) {
		saveConcurrently(ctx, b, benchStore(b, "normal"), 1)
	})
	b.Run("fsync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "wal"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		page := make([]byte, 4096)
		for i := 0; b.Loop(); i++ {
			if _, err := f.WriteAt(page, int64(i%1000)*4096); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// saveConcurrently saves the whole state b.N times in all, by n goroutines
// each on its own namespace.
func saveConcurrently(ctx context.Context, b *testing.B, st *runtime.Store, n int) {
	stores := make([]*runtime.StateStore[benchstate.State], n)
	for w := range stores {
		stores[w] = stateStore(b, st, fmt.Sprintf("run%d", w))
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for w, s := range stores {
		wg.Go(func() {
			for i := w; i < b.N; i += n {
				if err := s.Save(ctx, benchstate.Sample(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkCheckpoint: a checkpoint of the 12-field state against a raw
// INSERT … SELECT of its rows into a checkpoint table, at FULL; target
// within 2x.
func BenchmarkCheckpoint(b *testing.B) {
	ctx := context.Background()
	b.Run("raw", func(b *testing.B) {
		db, up, _ := rawDB(b, "full")
		for _, r := range benchstate.Rows(1) {
			up.Exec("ns", r[0], r[1])
		}
		if _, err := db.Exec(`CREATE TABLE cp (ns TEXT, name TEXT, key TEXT, value TEXT, PRIMARY KEY (ns, name, key)) WITHOUT ROWID`); err != nil {
			b.Fatal(err)
		}
		ins, err := db.Prepare(`INSERT INTO cp SELECT ns, ?2, key, value FROM kv WHERE ns = ?1`)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			if _, err := ins.Exec("ns", fmt.Sprint(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) {
		st := benchStore(b, "full")
		if err := stateStore(b, st, "ns").Save(ctx, benchstate.Sample(1)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := st.Checkpoint(ctx, "ns", ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWide: a save of 10, 100 and 1000 keys against writing one JSON
// document of the same keys as one row, at FULL; the cost per key should
// grow linearly, and at 1000 keys stay within 3x of the document. raw-rows
// is the floor of a row per key: the driver upserting the same keys into
// a table of (ns, key, value) in one transaction, in statements of up to
// 500 rows as stategen's.
func BenchmarkWide(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 100, 1000} {
		puts := make([]runtime.KV, n)
		doc := map[string]string{}
		for i := range puts {
			k := fmt.Sprintf("key_%04d", i)
			puts[i] = runtime.KV{Key: k, Value: []byte(`"` + k + `-value-of-some-length"`)}
			doc[k] = k + "-value-of-some-length"
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.Run("raw-document", func(b *testing.B) {
				_, up, _ := rawDB(b, "full")
				for i := 0; b.Loop(); i++ {
					doc["key_0000"] = fmt.Sprint(i) // as a save changes state
					js, err := json.Marshal(doc)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := up.Exec("ns", "state", string(js)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("raw-rows", func(b *testing.B) {
				db, _, _ := rawDB(b, "full")
				chunks := slices.Collect(slices.Chunk(puts, 500))
				stmts := map[int]*sql.Stmt{}
				for _, c := range chunks {
					q := "INSERT INTO kv (ns, key, value) SELECT ?1, column1, column2 FROM (VALUES " +
						strings.TrimSuffix(strings.Repeat("(?, ?),", len(c)), ",") +
						") WHERE true ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value"
					stmt, err := db.Prepare(q)
					if err != nil {
						b.Fatal(err)
					}
					stmts[len(c)] = stmt
				}
				for i := 0; b.Loop(); i++ {
					puts[0].Value = []byte(fmt.Sprintf(`"%d"`, i))
					tx, err := db.Begin()
					if err != nil {
						b.Fatal(err)
					}
					for _, c := range chunks {
						args := []any{"ns"}
						for _, kv := range c {
							args = append(args, kv.Key, string(kv.Value))
						}
						if _, err := tx.Stmt(stmts[len(c)]).Exec(args...); err != nil {
							b.Fatal(err)
						}
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("stategen", func(b *testing.B) {
				st := benchStore(b, "full")
				for i := 0; b.Loop(); i++ {
					puts[0].Value = []byte(fmt.Sprintf(`"%d"`, i))
					if _, err := st.Apply(ctx, "ns", &runtime.Batch{Puts: puts}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
