package redis_test

import (
	"context"
	"encoding/json"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// TestCheckpointListOldLayout: checkpoints written before the header hash
// (a hash and an index entry, written here by hand), or replaced by such a
// version after a header was written, are listed from their own hashes;
// the others from their headers.
func TestCheckpointListOldLayout(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	raw := srv.URL(t)
	p := prefixOf(t, raw)
	st := openStore(t, raw)
	ctx := context.Background()
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"new", "replaced"} {
		if _, err := st.Checkpoint(ctx, "ns", name); err != nil {
			t.Fatal(err)
		}
	}
	// The header, not the hash, is what lists "new".
	c.HSet(ctx, p+":{ns}:cp:new", "_rev", "99")
	// As the old scripts wrote them: "old" from scratch, "replaced" anew
	// (its header, now stale, names another creation time).
	for name, created := range map[string]int64{"old": 1_700_000_000_000, "replaced": 1_800_000_000_000} {
		cp := p + ":{ns}:cp:" + name
		c.Del(ctx, cp)
		c.HSet(ctx, cp, "_name", name, "_created", created*1_000_000, "_rev", 7, `_schema`, `{"name":"S","version":3}`,
			"v:a", `1`, "r:a", 7, "t:a", 0, "v:b", `2`, "r:b", 7, "t:b", 0)
		c.ZAdd(ctx, p+":{ns}:cps", goredis.Z{Score: float64(created), Member: name})
	}
	list, err := st.Checkpoints(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]runtime.CheckpointInfo{}
	for _, cp := range list {
		if cp.Err != nil {
			t.Errorf("checkpoint %s: %v", cp.Name, cp.Err)
		}
		got[cp.Name] = cp
	}
	if len(list) != 3 || got["new"].Revision != 1 || got["new"].Keys != 1 {
		t.Fatalf("listed %+v: want new (revision 1, from its header, 1 key), old and replaced", list)
	}
	for _, name := range []string{"old", "replaced"} {
		cp := got[name]
		if cp.Revision != 7 || cp.Keys != 2 || cp.Schema.Name != "S" || cp.Schema.Version != 3 {
			t.Errorf("checkpoint %s listed as %+v: want revision 7, 2 keys and schema S v3, from its hash", name, cp)
		}
	}
}
