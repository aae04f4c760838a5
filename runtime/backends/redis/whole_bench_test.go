package redis

import (
	"context"
	"testing"

	"github.com/stategen/stategen/internal/benchstate"
	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// BenchmarkWholeSave: the 12-field state (benchstate) saved whole, against
// a hand-written program's one HSET of the same fields in one round trip;
// target within 1.2x.
func BenchmarkWholeSave(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	b.Run("raw", func(b *testing.B) {
		c := benchClient(b, srv)
		key := srv.Prefix() + ":{ns}:state"
		for i := 0; b.Loop(); i++ {
			rows := benchstate.Rows(i)
			args := make([]any, 0, 2*len(rows))
			for _, r := range rows {
				args = append(args, r[0], r[1])
			}
			if err := c.HSet(ctx, key, args...).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stategen", func(b *testing.B) {
		s, err := runtime.NewStateStore(benchStore(b, srv), "ns", benchstate.Schema)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			if err := s.Save(ctx, benchstate.Sample(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
