package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stategen/stategen/internal/benchstate"
	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
)

// Each benchmark's first sub-benchmark, raw, is a hand-written program
// doing the same work with pgx: the same SQL, the same pool settings, one
// call per round trip, no Store around it. make bench prints the others as
// ratios to it. Each side of a write benchmark starts right after a
// VACUUM and a CHECKPOINT (pgtest.Settle), so that neither meets the dead
// rows of what ran before it, nor the server flushing it.

// The ADW state of 12 fields is internal/benchstate's, which bench/peers
// measures against stategen's peers too.
var adwSchema = benchstate.Schema

// benchURL is a store URL in a schema of the benchmark's own.
func benchURL(b *testing.B) string { return pgtest.URL(b) }

func benchBackend(b *testing.B, raw string) (*Backend, *runtime.Store) {
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	be, err := Open(context.Background(), u, runtime.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be, runtime.New(be, "bench", runtime.WithoutCache())
}

// rawPool is the pool a hand-written program would make from the same URL.
func rawPool(b *testing.B, raw string) *pgxpool.Pool {
	u, _ := url.Parse(raw)
	pc, _, err := parseURL(u)
	if err != nil {
		b.Fatal(err)
	}
	p, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

var text = runtime.JSONCodec[string]()

// BenchmarkSave: a one-key save (no condition, no schema: one statement).
func BenchmarkSave(b *testing.B) {
	ctx := context.Background()
	raw := benchURL(b)
	be, st := benchBackend(b, raw)
	b.Run("raw", func(b *testing.B) {
		p := rawPool(b, raw)
		pgtest.Settle(b)
		for i := 0; b.Loop(); i++ {
			var rev int64
			if err := p.QueryRow(ctx, be.sql.putOne, "raw", time.Now().UnixNano(), "branch_name", fmt.Sprintf(`"feat-%d"`, i), be.feedChannel()).Scan(&rev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) {
		pgtest.Settle(b)
		for i := 0; b.Loop(); i++ {
			if err := runtime.Save(ctx, st, "ns", "branch_name", fmt.Sprintf("feat-%d", i), text); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLoad: a one-key load, with the cache off so that both read the
// database (and with the strict cache, whose check is one round trip too).
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	raw := benchURL(b)
	be, st := benchBackend(b, raw)
	if err := runtime.Save(ctx, st, "ns", "branch_name", "feat-1", text); err != nil {
		b.Fatal(err)
	}
	b.Run("raw", func(b *testing.B) {
		p := rawPool(b, raw)
		for b.Loop() {
			var data []byte
			var rev, updated int64
			if err := p.QueryRow(ctx, be.sql.get, "ns", "branch_name", time.Now().UnixNano()).Scan(&data, &rev, &updated); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) {
		for b.Loop() {
			if _, err := runtime.Load(ctx, st, "ns", "branch_name", text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen-strict-cache", func(b *testing.B) {
		cached := runtime.New(be, "bench")
		for b.Loop() {
			if _, err := runtime.Load(ctx, cached, "ns", "branch_name", text); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSaveState: the whole-struct save of the 12-field ADW state, as
// generated code does it (every field, the schema recorded and conditioned
// on, a batch ID), against pgx sending the same two statements in one
// pipeline with the values encoded by encoding/json. Each writes tables of
// its own: a write leaves dead rows behind until a vacuum, which would
// slow whichever ran second.
func BenchmarkSaveState(b *testing.B) {
	ctx := context.Background()
	ref := adwSchema.Ref()
	_, _, info, err := schemaColumns(ref)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("raw", func(b *testing.B) {
		raw := benchURL(b)
		be, _ := benchBackend(b, raw)
		p := rawPool(b, raw)
		s := *benchstate.Sample(0)
		pgtest.Settle(b)
		for i := 0; b.Loop(); i++ {
			s.BackendPort = 9100 + i%100
			keys := make([]string, 0, 12)
			values := make([]string, 0, 12)
			for _, f := range adwSchema.Fields {
				keys = append(keys, f.Key)
			}
			for _, v := range s.Values() {
				js, err := jsonMarshal(v)
				if err != nil {
					b.Fatal(err)
				}
				values = append(values, js)
			}
			now := time.Now().UnixNano()
			pb := &pgx.Batch{}
			pb.Queue(be.sql.lock, "raw", now)
			pb.Queue(be.sql.apply, "raw", now, fmt.Sprintf("raw-%d", i), []string{}, []int64{}, true, ref.Name, int32(ref.Version),
				1, ref.Name, int32(ref.Version), info, false, []string{}, keys, values, now-appliedTTL.Nanoseconds(),
				be.feedChannel(), "")
			if err := p.SendBatch(ctx, pb).Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) {
		_, st := benchBackend(b, benchURL(b))
		ss, err := runtime.NewStateStore(st, "ns", adwSchema)
		if err != nil {
			b.Fatal(err)
		}
		s := *benchstate.Sample(0)
		pgtest.Settle(b)
		for i := 0; b.Loop(); i++ {
			s.BackendPort = 9100 + i%100
			if err := ss.Save(ctx, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCheckpoint: a checkpoint of the ADW state, copied inside the
// server in one statement, against raw pgx running that statement.
func BenchmarkCheckpoint(b *testing.B) {
	ctx := context.Background()
	raw := benchURL(b)
	be, st := benchBackend(b, raw)
	for _, ns := range []string{"raw", "ns"} {
		ss, _ := runtime.NewStateStore(st, ns, adwSchema)
		if err := ss.Save(ctx, benchstate.Sample(0)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("raw", func(b *testing.B) {
		p := rawPool(b, raw)
		pgtest.Settle(b)
		for i := 0; b.Loop(); i++ {
			var rev, deleted int64
			var sName, sInfo *string
			var sVersion, keys *int32
			var note any
			err := p.QueryRow(ctx, be.sql.copyCheckpoint, "raw", fmt.Sprintf("cp-%d", i%10), time.Now().UnixNano(), nil, 0, 0, be.feedChannel()).
				Scan(&rev, &sName, &sVersion, &sInfo, &keys, &note, &deleted)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) {
		pgtest.Settle(b)
		for i := 0; b.Loop(); i++ {
			if _, err := st.Checkpoint(ctx, "ns", fmt.Sprintf("cp-%d", i%10)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func jsonMarshal(v any) (string, error) {
	js, err := json.Marshal(v)
	return string(js), err
}

// BenchmarkRunsByLabel: the first page of runs of a label out of 100 and
// out of 10,000, read from the partial label index.
func BenchmarkRunsByLabel(b *testing.B) {
	backendtest.BenchRunsByLabel(b, pgtest.URL)
}

// BenchmarkCheckpointList: listing 50 checkpoints of 10 keys and of 1000.
func BenchmarkCheckpointList(b *testing.B) {
	backendtest.BenchCheckpointList(b, pgtest.URL)
}
