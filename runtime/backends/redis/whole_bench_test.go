package redis

import (
	"context"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/internal/benchstate"
	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

var emptyScript = goredis.NewScript(`return 1`)

// revisionsScript is the least a script that keeps per-key revisions does:
// bump the namespace revision, then set each key's value, revision and
// time in one HSET (no conditions, batch IDs, schema or change feed).
var revisionsScript = goredis.NewScript(`
local rev = redis.call('HINCRBY', KEYS[1], '_rev', 1)
local set = {}
for i = 2, #ARGV, 2 do
	local key = ARGV[i]
	set[#set + 1], set[#set + 2], set[#set + 3], set[#set + 4], set[#set + 5], set[#set + 6] =
		'v:' .. key, ARGV[i + 1], 'r:' .. key, rev, 't:' .. key, ARGV[1]
end
redis.call('HSET', KEYS[1], unpack(set))
return rev`)

// BenchmarkWholeSave: the 12-field state (benchstate) saved whole, against
// a hand-written program's one HSET of the same fields in one round trip;
// target within 1.2x. Two floors beside it: an empty script sent a save's
// arguments, and a script that does no more than keep per-key revisions.
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
	// The floor of any script: one that does nothing, sent the arguments
	// a whole save sends. (It costs about one HSET: what a save costs past
	// it is the script's work inside Redis.)
	b.Run("empty-script", func(b *testing.B) {
		c := benchClient(b, srv)
		be := &Backend{client: c, prefix: srv.Prefix(), ttl: "0"}
		keys := []string{be.stateKey("ns2"), be.indexKey("ns2"), be.appliedKey("ns2"), be.headersKey("ns2")}
		ref := benchstate.Schema.Ref()
		for i := 0; b.Loop(); i++ {
			rows := benchstate.Rows(i)
			args := []any{"1", "0", be.cpPrefix("ns2"), "0", `{"name":"` + ref.Name + `"}`, "batch-id", "0", appliedKeep, appliedTTL.Milliseconds(),
				be.feedChannel(), "ns2", "", 1, "\x01" + ref.Name, ref.Version, 0, len(rows)}
			for _, r := range rows {
				args = append(args, r[0], r[1])
			}
			if err := emptyScript.Run(ctx, c, keys, args...).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The floor of a script that keeps per-key revisions (revisionsScript).
	b.Run("revisions-script", func(b *testing.B) {
		c := benchClient(b, srv)
		keys := []string{srv.Prefix() + ":{ns3}:state"}
		for i := 0; b.Loop(); i++ {
			rows := benchstate.Rows(i)
			args := []any{"1"}
			for _, r := range rows {
				args = append(args, r[0], r[1])
			}
			if err := revisionsScript.Run(ctx, c, keys, args...).Err(); err != nil {
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
