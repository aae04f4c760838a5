package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/internal/benchstate"
	"github.com/stategen/stategen/runtime"
	stredis "github.com/stategen/stategen/runtime/backends/redis"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// countCommands counts the commands a client sends.
type countCommands struct{ n atomic.Int64 }

func (c *countCommands) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *countCommands) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *countCommands) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// countedStore is a Store on srv whose client counts its commands.
func countedStore(t *testing.T, srv *redistest.Server, opts ...runtime.Option) (*runtime.Store, *countCommands, string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), MaxRetries: -1})
	count := &countCommands{}
	c.AddHook(count)
	prefix := srv.Prefix()
	be, err := stredis.New(c, prefix, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st := runtime.New(be, "redis", opts...)
	t.Cleanup(func() { st.Close() })
	return st, count, prefix
}

// TestCheckpointRetentionOneScript: with a retention policy, each
// checkpoint is one command (the script), and no observer ever sees more
// checkpoints than the policy keeps: the new one and the removal of the
// oldest happen in one atomic step, which the feed reports as created then
// deleted at the same revision.
func TestCheckpointRetentionOneScript(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	st, count, prefix := countedStore(t, srv, runtime.WithRetention(runtime.Retention{KeepLast: 2}))
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	watcher := srv.Client(t)
	sub := watcher.Subscribe(ctx, prefix+":feed")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}

	// An observer counts the index and the headers as fast as it can.
	obs := srv.Client(t)
	index, headers := prefix+":{ns}:cps", prefix+":{ns}:cph"
	var most atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, n := range []int64{obs.ZCard(ctx, index).Val(), obs.HLen(ctx, headers).Val()} {
				if n > most.Load() {
					most.Store(n)
				}
			}
		}
	}()

	const n = 12
	for i := range n {
		if i == 1 {
			count.n.Store(0) // the first call may load the script (NOSCRIPT, then EVAL)
		}
		if _, err := st.Checkpoint(ctx, "ns", fmt.Sprintf("cp%02d", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // distinct creation times
		names, err := watcher.ZRange(ctx, index, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{fmt.Sprintf("cp%02d", i)}
		if i > 0 {
			want = []string{fmt.Sprintf("cp%02d", i-1), want[0]}
		}
		if !slices.Equal(names, want) {
			t.Fatalf("after checkpoint %d: index %v, want %v", i, names, want)
		}
		if h := watcher.HKeys(ctx, headers).Val(); len(h) != len(want) {
			t.Fatalf("after checkpoint %d: headers %v, want %v", i, h, want)
		}
	}
	close(stop)
	wg.Wait()
	if got := count.n.Load(); got != n-1 {
		t.Errorf("%d checkpoints sent %d commands, want one each", n-1, got)
	}
	if m := most.Load(); m > 2 {
		t.Errorf("an observer saw %d checkpoints, more than the 2 kept", m)
	}
	// The state, the index, the headers and the 2 checkpoints kept.
	if left := keysOf(t, watcher, prefix); len(left) != 5 {
		t.Errorf("keys left: %v, want state, cps, cph and 2 checkpoints", left)
	}

	// The feed: created cpI, then (from the third on) deleted cpI-2, at one revision.
	var got []string
	for range 2*n - 2 {
		m, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var msg struct {
			NS  string `json:"ns"`
			Rev int64  `json:"rev"`
			CP  string `json:"cp"`
			Op  string `json:"op"`
		}
		if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
			t.Fatal(err)
		}
		if msg.NS != "ns" || msg.Rev != 1 {
			t.Errorf("message %s: want namespace ns at revision 1", m.Payload)
		}
		got = append(got, msg.Op+" "+msg.CP)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("created cp%02d", i))
		if i >= 2 {
			want = append(want, fmt.Sprintf("deleted cp%02d", i-2))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("feed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCheckpointCorruptStoresNothing: a stored value that is not JSON makes
// Checkpoint fail with ErrCorrupt, and the script writes nothing: no
// checkpoint hash, index entry or header, and the retention policy removes
// none of the checkpoints already there.
func TestCheckpointCorruptStoresNothing(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	raw := srv.URL(t)
	st := openStore(t, raw, runtime.WithRetention(runtime.Retention{KeepLast: 1}))
	for _, k := range []string{"good", "bad"} {
		if _, err := st.Put(ctx, "ns", k, json.RawMessage(`{"fine": true}`)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Checkpoint(ctx, "ns", "old"); err != nil {
		t.Fatal(err)
	}
	c := srv.Client(t)
	p := prefixOf(t, raw)
	before := keysOf(t, c, p)
	corrupter(srv)(t, raw, "ns", "bad")
	if _, err := st.Checkpoint(ctx, "ns", "new"); !errors.Is(err, runtime.ErrCorrupt) {
		t.Fatalf("checkpoint of a damaged run: %v, want ErrCorrupt", err)
	}
	if n := c.Exists(ctx, p+":{ns}:cp:new").Val(); n != 0 {
		t.Error("the checkpoint's hash was written")
	}
	if err := c.ZScore(ctx, p+":{ns}:cps", "new").Err(); !errors.Is(err, goredis.Nil) {
		t.Errorf("the checkpoint's index entry was written: %v", err)
	}
	if c.HExists(ctx, p+":{ns}:cph", "new").Val() {
		t.Error("the checkpoint's header was written")
	}
	if after := keysOf(t, c, p); !slices.Equal(slices.Sorted(slices.Values(before)), slices.Sorted(slices.Values(after))) {
		t.Errorf("keys before %v, after %v", before, after)
	}
	if list, err := st.Checkpoints(ctx, "ns"); err != nil || len(list) != 1 || list[0].Name != "old" {
		t.Errorf("checkpoints: %+v, %v; want only old", list, err)
	}
}

// TestCheckpointCopySameAsPut: a checkpoint copied by the script is stored
// exactly as PutCheckpoint stores the same checkpoint built from a
// Snapshot: the same hash fields, header and index score, labels and
// lineage included, and CopyCheckpoint returns the info a listing reads.
func TestCheckpointCopySameAsPut(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	raw := srv.URL(t)
	st := openStore(t, raw)
	ss, err := runtime.NewStateStore(st, "ns", benchstate.Schema)
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.Save(ctx, benchstate.Sample(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Checkpoint(ctx, "ns", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Restore(ctx, "ns", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Label(ctx, "ns", map[string]string{"team": "red"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "ns", "extra", json.RawMessage(`[1, "two", {"3": null}]`)); err != nil {
		t.Fatal(err)
	}
	// JSON to Go, not to Redis's cjson, which refuses a lone surrogate.
	if _, err := st.Put(ctx, "ns", "lone", json.RawMessage(`"\ud800 \\ud800"`)); err != nil {
		t.Fatal(err)
	}

	be := openBackend(t, raw, runtime.Config{})
	created := time.Unix(0, 1_765_000_000_123_456_789)
	labels := map[string]string{"kind": "nightly", "by": "test"}
	got, err := be.CopyCheckpoint(ctx, "ns", runtime.CheckpointInfo{Name: "copied", Created: created, CheckpointMeta: runtime.CheckpointMeta{Labels: labels}}, runtime.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := be.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]runtime.Value{}
	for k, v := range snap.Values {
		if !runtime.IsReserved(k) {
			values[k] = v
		}
	}
	put := &runtime.Checkpoint{
		CheckpointInfo: runtime.CheckpointInfo{Name: "put", Created: created, Revision: snap.Revision, Schema: snap.Schema, Keys: len(values),
			CheckpointMeta: runtime.CheckpointMeta{Labels: labels, Restored: snap.RunInfo().Restored}},
		Values: values,
	}
	if put.Restored == nil {
		t.Fatal("the run records no lineage: the test proves less than it should")
	}
	if err := be.PutCheckpoint(ctx, "ns", put); err != nil {
		t.Fatal(err)
	}

	c := srv.Client(t)
	p := prefixOf(t, raw)
	hashes := [2]map[string]string{c.HGetAll(ctx, p+":{ns}:cp:copied").Val(), c.HGetAll(ctx, p+":{ns}:cp:put").Val()}
	hashes[0]["_name"], hashes[1]["_name"] = "", ""
	if !maps.Equal(hashes[0], hashes[1]) {
		t.Errorf("copied hash\n%v\nput hash\n%v", hashes[0], hashes[1])
	}
	heads := c.HMGet(ctx, p+":{ns}:cph", "copied", "put").Val()
	if heads[0] == nil || heads[0] != heads[1] {
		t.Errorf("headers differ:\ncopied %q\nput    %q", heads[0], heads[1])
	}
	scores := []float64{c.ZScore(ctx, p+":{ns}:cps", "copied").Val(), c.ZScore(ctx, p+":{ns}:cps", "put").Val()}
	if scores[0] != scores[1] || scores[0] != float64(created.UnixMilli()) {
		t.Errorf("index scores %v, want %d", scores, created.UnixMilli())
	}
	list, err := be.Checkpoints(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if l.Name == "copied" {
			if fmt.Sprint(l) != fmt.Sprint(got) {
				t.Errorf("CopyCheckpoint returned\n%+v\nlisting reads\n%+v", got, l)
			}
		}
	}
	if got.Keys != len(values) || got.Revision != snap.Revision || !got.Schema.Equal(snap.Schema) || *got.Restored != *put.Restored {
		t.Errorf("CopyCheckpoint returned %+v", got)
	}
}

// TestCheckpointCopyExactTimes: the script judges expiry and age to the
// nanosecond, though Lua's numbers (doubles) are exact to 2^53 only and
// unix nanoseconds pass 2^60: a run written at U with a TTL of d expires
// after U+d, not at it; MaxAge keeps a checkpoint created after now minus
// it, not at it; KeepLast orders equal creation times by name.
func TestCheckpointCopyExactTimes(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	raw := srv.URL(t)
	be := openBackend(t, raw, runtime.Config{})
	c := srv.Client(t)
	p := prefixOf(t, raw)
	const u = 1_765_000_000_123_456_789
	const ttl = 1_000_000_001
	c.HSet(ctx, p+":{ttl}:state", "_rev", 2, "_created", u, "v:k", `1`, "r:k", 1, "t:k", u,
		"v:__ttl", fmt.Sprint(ttl), "r:__ttl", 2, "t:__ttl", u-5)
	at := func(ns int64) runtime.CheckpointInfo {
		return runtime.CheckpointInfo{Name: fmt.Sprint("at", ns-u), Created: time.Unix(0, ns)}
	}
	if _, err := be.CopyCheckpoint(ctx, "ttl", at(u+ttl), runtime.Retention{}); err != nil {
		t.Errorf("checkpoint TTL after the last write: %v, want it stored", err)
	}
	if _, err := be.CopyCheckpoint(ctx, "ttl", at(u+ttl+1), runtime.Retention{}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("checkpoint 1ns later: %v, want ErrNotFound", err)
	}
	if names := c.ZRange(ctx, p+":{ttl}:cps", 0, -1).Val(); !slices.Equal(names, []string{fmt.Sprint("at", ttl)}) {
		t.Errorf("checkpoints stored: %v", names)
	}

	c.HSet(ctx, p+":{age}:state", "_rev", 1, "_created", u, "v:k", `1`, "r:k", 1, "t:k", u)
	for _, name := range []string{"b", "a", "c"} { // a and b at u, c 1ns later
		info := runtime.CheckpointInfo{Name: name, Created: time.Unix(0, u)}
		if name == "c" {
			info.Created = time.Unix(0, u+1)
		}
		if _, err := be.CopyCheckpoint(ctx, "age", info, runtime.Retention{}); err != nil {
			t.Fatal(err)
		}
	}
	// Now u+d: a and b are exactly d old (gone), c younger (kept).
	const d = 3 * time.Second
	if _, err := be.CopyCheckpoint(ctx, "age", runtime.CheckpointInfo{Name: "new", Created: time.Unix(0, u+int64(d))}, runtime.Retention{MaxAge: d}); err != nil {
		t.Fatal(err)
	}
	if names := c.ZRange(ctx, p+":{age}:cps", 0, -1).Val(); !slices.Equal(names, []string{"c", "new"}) {
		t.Errorf("after MaxAge %v: %v, want c and new", d, names)
	}
	for _, name := range []string{"b", "a"} {
		if _, err := be.CopyCheckpoint(ctx, "age", runtime.CheckpointInfo{Name: name, Created: time.Unix(0, u)}, runtime.Retention{}); err != nil {
			t.Fatal(err)
		}
	}
	// Oldest first: a, b (at u, by name), c, new; keep the newest 3, the
	// one written now (b again, at u) counted as the newest.
	if _, err := be.CopyCheckpoint(ctx, "age", runtime.CheckpointInfo{Name: "b", Created: time.Unix(0, u)}, runtime.Retention{KeepLast: 3}); err != nil {
		t.Fatal(err)
	}
	if names := c.ZRange(ctx, p+":{age}:cps", 0, -1).Val(); !slices.Equal(names, []string{"b", "c", "new"}) {
		t.Errorf("after KeepLast 3: %v, want b, c and new", names)
	}
}
