package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/internal/benchstate"
	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// The raw sides: the plain command a hand-written program would send for one
// key (HSET, HGET), and, for the save, the same Lua script the backend sends,
// called straight through go-redis, which isolates the Store's own cost.

func benchClient(b *testing.B, srv *redistest.Server) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), MaxRetries: -1})
	b.Cleanup(func() { c.Close() })
	return c
}

func benchStore(b *testing.B, srv *redistest.Server, opts ...runtime.Option) *runtime.Store {
	st, err := runtime.Open(context.Background(), srv.URL(b), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

var text = runtime.JSONCodec[string]()

func BenchmarkSave(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	b.Run("raw-hset", func(b *testing.B) {
		c := benchClient(b, srv)
		key := srv.Prefix() + ":{ns}:state"
		for b.Loop() {
			if err := c.HSet(ctx, key, "v:branch_name", `"feat-1"`).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-script", func(b *testing.B) {
		c := benchClient(b, srv)
		be := &Backend{client: c, prefix: srv.Prefix(), ttl: "0"}
		keys := []string{be.stateKey("ns"), be.indexKey("ns"), be.appliedKey("ns"), be.headersKey("ns")}
		for b.Loop() {
			if err := applyScript.Run(ctx, c, keys, "1", "0", be.cpPrefix("ns"), "0", "", "", "0", appliedKeep, appliedTTL.Milliseconds(), be.feedChannel(), "ns", "", 0, 0, 1, "branch_name", `"feat-1"`).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) {
		st := benchStore(b, srv)
		for b.Loop() {
			if err := runtime.Save(ctx, st, "ns", "branch_name", "feat-1", text); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	b.Run("raw-hget", func(b *testing.B) {
		c := benchClient(b, srv)
		key := srv.Prefix() + ":{ns}:state"
		c.HSet(ctx, key, "v:branch_name", `"feat-1"`)
		for b.Loop() {
			if err := c.HGet(ctx, key, "v:branch_name").Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) {
		st := benchStore(b, srv, runtime.WithoutCache())
		if err := runtime.Save(ctx, st, "ns", "branch_name", "feat-1", text); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := runtime.Load(ctx, st, "ns", "branch_name", text); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRunsByLabel: the first page of runs of a label out of 100 and
// out of 10,000, read from the maintained label index.
func BenchmarkRunsByLabel(b *testing.B) {
	srv := redistest.Start(b)
	backendtest.BenchRunsByLabel(b, srv.URL)
}

// BenchmarkCheckpointList: listing 50 checkpoints of 10 keys and of 1000.
func BenchmarkCheckpointList(b *testing.B) {
	srv := redistest.Start(b)
	backendtest.BenchCheckpointList(b, srv.URL)
}

// BenchmarkCheckpoint: a checkpoint of the 12-field state (benchstate),
// names cycling over 10: raw is the same script the backend sends, called
// straight through go-redis with the same keys and arguments; stategen is
// Store.Checkpoint.
func BenchmarkCheckpoint(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	prefix := srv.Prefix()
	raw := "redis://" + srv.Addr() + "/0?prefix=" + prefix
	st, err := runtime.Open(ctx, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	for _, ns := range []string{"raw", "ns"} {
		ss, err := runtime.NewStateStore(st, ns, benchstate.Schema)
		if err != nil {
			b.Fatal(err)
		}
		if err := ss.Save(ctx, benchstate.Sample(0)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("raw", func(b *testing.B) {
		c := benchClient(b, srv)
		be := &Backend{client: c, prefix: prefix, ttl: "0"}
		for i := 0; b.Loop(); i++ {
			name := fmt.Sprintf("cp-%d", i%10)
			now := time.Now()
			keys := []string{be.stateKey("raw"), be.cpKey("raw", name), be.indexKey("raw"), be.headersKey("raw")}
			if err := copyCheckpointScript.Run(ctx, c, keys, name, now.UnixNano(), now.UnixMilli(), "", be.ttl,
				be.cpPrefix("raw"), be.feedChannel(), "raw", 0, "").Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := st.Checkpoint(ctx, "ns", fmt.Sprintf("cp-%d", i%10)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen-keep5", func(b *testing.B) {
		// With a retention policy: the copy and the removal of the
		// checkpoint it dooms.
		kept, err := runtime.Open(ctx, raw, runtime.WithRetention(runtime.Retention{KeepLast: 5}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { kept.Close() })
		for i := 0; b.Loop(); i++ {
			if _, err := kept.Checkpoint(ctx, "ns", fmt.Sprintf("keep-%d", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
