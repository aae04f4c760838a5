package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/internal/faultproxy"
	"github.com/stategen/stategen/runtime"
	stredis "github.com/stategen/stategen/runtime/backends/redis"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// openBackend opens the backend itself (no Store, so no retries) and closes
// it when the test ends.
func openBackend(t testing.TB, raw string, cfg runtime.Config) *stredis.Backend {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := stredis.Open(context.Background(), u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openStore(t testing.TB, raw string, opts ...runtime.Option) *runtime.Store {
	t.Helper()
	st, err := runtime.Open(context.Background(), raw, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// keysOf lists every key under a prefix, by SCAN.
func keysOf(t testing.TB, c *goredis.Client, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, prefix+":*", 100).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// writeEverything exercises every kind of write: puts, deletes, a schema, a
// checkpoint, a restore and a deleted checkpoint.
func writeEverything(t testing.TB, st *runtime.Store) {
	t.Helper()
	ctx := context.Background()
	v1 := runtime.SchemaRef{Name: "S", Version: 1}
	steps := []func() error{
		func() error {
			_, err := st.Apply(ctx, "ns", &runtime.Batch{Schema: &v1, Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(`1`)}, {Key: "b", Value: json.RawMessage(`2`)}}})
			return err
		},
		func() error { _, err := st.Checkpoint(ctx, "ns", "one"); return err },
		func() error { _, err := st.Checkpoint(ctx, "ns", "two"); return err },
		func() error { _, err := st.Delete(ctx, "ns", "b"); return err },
		func() error { _, err := st.Restore(ctx, "ns", "one"); return err },
		func() error { return st.DeleteCheckpoint(ctx, "ns", "two") },
		func() error { _, err := st.Put(ctx, "other", "k", json.RawMessage(`"v"`)); return err },
		func() error {
			_, err := st.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "c", Value: json.RawMessage(`3`)}}, Conds: []runtime.Cond{{Key: "c"}}})
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
}

func TestNoExpiryWithoutTTL(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	raw := srv.URL(t)
	writeEverything(t, openStore(t, raw))
	keys := keysOf(t, c, prefixOf(t, raw))
	if len(keys) < 4 {
		t.Fatalf("only %d keys written: %v", len(keys), keys)
	}
	for _, k := range keys {
		ttl := c.PTTL(context.Background(), k).Val()
		if strings.HasSuffix(k, ":applied") {
			// Bookkeeping, not state: the IDs of applied batches are
			// needed only while a retry may come.
			if ttl <= 0 || ttl > 10*time.Minute {
				t.Errorf("key %s has PTTL %v, want (0, 10m]", k, ttl)
			}
			continue
		}
		if ttl != -1 {
			t.Errorf("key %s has PTTL %v, want -1 (no expiry): nothing expires unless a TTL is configured", k, ttl)
		}
	}
}

func TestTTL(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	raw := srv.URL(t)
	writeEverything(t, openStore(t, raw, runtime.WithTTL(time.Hour)))
	keys := keysOf(t, c, prefixOf(t, raw))
	for _, k := range keys {
		ttl := c.PTTL(context.Background(), k).Val()
		if ttl <= 0 || ttl > time.Hour {
			t.Errorf("key %s has PTTL %v, want (0, 1h]", k, ttl)
		}
	}
	if len(keys) < 4 { // state and index of ns, checkpoint one, state of other
		t.Errorf("keys %v: want the state, index and checkpoint of ns and the state of other", keys)
	}

	// A namespace that expired reads as absent, and its checkpoints went with it.
	short := openStore(t, srv.URL(t), runtime.WithTTL(100*time.Millisecond))
	ctx := context.Background()
	if _, err := short.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if _, err := short.Checkpoint(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := short.Get(ctx, "ns", "k"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("get after the TTL: %v, want ErrNotFound", err)
	}
	if l, err := short.Checkpoints(ctx, "ns"); err != nil || len(l) != 0 {
		t.Errorf("checkpoints after the TTL: %v (err %v), want none", l, err)
	}
}

// commandCalls reads how often the server ran a command (INFO commandstats).
func commandCalls(t testing.TB, c *goredis.Client, cmd string) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls=")
		if ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

func TestNamespacesScan(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	// A prefix full of glob characters: unescaped, the MATCH pattern would
	// also match the keys of the look-alike prefix below.
	base := srv.Prefix()
	prefix := base + "*?[x]\\"
	raw := "redis://" + srv.Addr() + "/0?prefix=" + url.QueryEscape(prefix)
	be := openBackend(t, raw, runtime.Config{})

	const n = 1100 // more than one SCAN page
	want := make([]string, 0, n)
	_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range n {
			ns := fmt.Sprintf("ns%04d", i)
			want = append(want, ns)
			p.HSet(ctx, prefix+":{"+ns+"}:state", "_rev", 1, "_created", 1, "v:k", "1", "r:k", "1", "t:k", "1")
		}
		// Not namespaces of this store: another prefix the pattern would
		// match unescaped, keys that are no state hash, a name stategen
		// refuses.
		p.HSet(ctx, base+"AAx]Z:{intruder}:state", "_rev", 1, "_created", 1, "v:k", "1", "r:k", "1", "t:k", "1")
		p.HSet(ctx, prefix+":{ns0000}:cp:x", "_rev", 1)
		p.Set(ctx, prefix+":{astring}:state", "1", 0)
		p.HSet(ctx, prefix+":{bad name}:state", "_rev", 1, "_created", 1, "v:k", "1", "r:k", "1", "t:k", "1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Through the backend: a namespace whose keys were all deleted is not
	// listed, one that kept checkpoints is.
	for _, ns := range []string{"emptied", "zz-with-checkpoint"} {
		if _, err := be.Apply(ctx, ns, &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	cp := &runtime.Checkpoint{CheckpointInfo: runtime.CheckpointInfo{Name: "cp", Created: time.Now()}}
	if err := be.PutCheckpoint(ctx, "zz-with-checkpoint", cp); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"emptied", "zz-with-checkpoint"} {
		if _, err := be.Apply(ctx, ns, &runtime.Batch{Deletes: []string{"k"}}); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "zz-with-checkpoint")

	keysBefore, scansBefore := commandCalls(t, c, "keys"), commandCalls(t, c, "scan")
	got, err := be.Namespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("namespaces (-want +got):\n%s", d)
	}
	if k := commandCalls(t, c, "keys") - keysBefore; k != 0 {
		t.Errorf("listing namespaces ran KEYS %d times", k)
	}
	if s := commandCalls(t, c, "scan") - scansBefore; s < 2 {
		t.Errorf("listing %d namespaces took %d SCAN calls: the cursor was not followed", n, s)
	}
}

func TestLayout(t *testing.T) {
	// Other tools read this layout (see the package doc); pin it.
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	raw := srv.URL(t)
	p := prefixOf(t, raw)
	st := openStore(t, raw)
	v2 := runtime.SchemaRef{Name: "ADWState", Version: 2}
	rev, err := st.Apply(ctx, "a1b2c3d4", &runtime.Batch{Schema: &v2, Puts: []runtime.KV{{Key: "branch_name", Value: json.RawMessage(`"feat/x"`)}}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Checkpoint(ctx, "a1b2c3d4", "after_plan")
	if err != nil {
		t.Fatal(err)
	}
	state := c.HGetAll(ctx, p+":{a1b2c3d4}:state").Val()
	r := strconv.FormatInt(rev, 10)
	for f, want := range map[string]string{"v:branch_name": `"feat/x"`, "r:branch_name": r, "_rev": r, "_schema": `{"name":"ADWState","version":2}`} {
		if state[f] != want {
			t.Errorf("state field %s = %q, want %q (all: %v)", f, state[f], want, state)
		}
	}
	for _, f := range []string{"t:branch_name", "_created"} {
		if n, err := strconv.ParseInt(state[f], 10, 64); err != nil || n <= 0 {
			t.Errorf("state field %s = %q, want unix nanoseconds", f, state[f])
		}
	}
	cp := c.HGetAll(ctx, p+":{a1b2c3d4}:cp:after_plan").Val()
	for f, want := range map[string]string{"v:branch_name": `"feat/x"`, "r:branch_name": r, "t:branch_name": state["t:branch_name"],
		"_rev": r, "_schema": state["_schema"], "_name": "after_plan", "_created": strconv.FormatInt(info.Created.UnixNano(), 10)} {
		if cp[f] != want {
			t.Errorf("checkpoint field %s = %q, want %q", f, cp[f], want)
		}
	}
	// A conditional write records its batch ID, scored by its revision,
	// beside the floor "" scored by the revision before the first one.
	before := rev
	crev, err := st.Apply(ctx, "a1b2c3d4", &runtime.Batch{Puts: []runtime.KV{{Key: "branch_name", Value: json.RawMessage(`"feat/y"`)}},
		Conds: []runtime.Cond{{Key: "branch_name", Revision: rev}}})
	if err != nil {
		t.Fatal(err)
	}
	applied := c.ZRangeWithScores(ctx, p+":{a1b2c3d4}:applied", 0, -1).Val()
	if len(applied) != 2 || applied[0].Member != "" || int64(applied[0].Score) != before || len(applied[1].Member.(string)) != 24 || int64(applied[1].Score) != crev {
		t.Errorf("applied batch IDs %v, want \"\" scored %d and one ID scored %d", applied, before, crev)
	}
	idx := c.ZRangeWithScores(ctx, p+":{a1b2c3d4}:cps", 0, -1).Val()
	if len(idx) != 1 || idx[0].Member != "after_plan" || int64(idx[0].Score) != info.Created.UnixMilli() {
		t.Errorf("checkpoint index %v, want after_plan scored %d", idx, info.Created.UnixMilli())
	}
	// Restoring a checkpoint of unversioned state removes the schema.
	if _, err := st.Apply(ctx, "plain", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Checkpoint(ctx, "plain", "cp"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, "plain", &runtime.Batch{Schema: &v2}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Restore(ctx, "plain", "cp"); err != nil {
		t.Fatal(err)
	}
	if s, err := st.Schema(ctx, "plain"); err != nil || !s.IsZero() {
		t.Errorf("schema after restoring an unversioned checkpoint: %v (err %v), want none", s, err)
	}
}

func TestConflictNamesKeyAndRevisions(t *testing.T) {
	srv := redistest.Start(t)
	be := openBackend(t, srv.URL(t), runtime.Config{})
	ctx := context.Background()
	rev, err := be.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = be.Apply(ctx, "ns", &runtime.Batch{
		Puts:  []runtime.KV{{Key: "k", Value: json.RawMessage(`2`)}},
		Conds: []runtime.Cond{{Key: "k", Revision: rev}, {Key: "other", Revision: 7}},
	})
	if !errors.Is(err, runtime.ErrConflict) || runtime.IsTransient(err) {
		t.Fatalf("got %v, want a final ErrConflict", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "key other") || !strings.Contains(msg, "expected revision 7, found 0") {
		t.Errorf("conflict %q does not say which key and which revisions", msg)
	}
	if v, _ := be.Get(ctx, "ns", "k"); string(v.Data) != "1" {
		t.Errorf("conflicting batch wrote k = %s", v.Data)
	}
	_, err = be.Apply(ctx, "ns", &runtime.Batch{Conds: []runtime.Cond{{Revision: rev + 5}}})
	if !errors.Is(err, runtime.ErrConflict) || !strings.Contains(err.Error(), fmt.Sprintf("namespace: revision conflict: expected revision %d, found %d", rev+5, rev)) {
		t.Errorf("namespace conflict: %v", err)
	}
}

func TestEmptiedNamespace(t *testing.T) {
	srv := redistest.Start(t)
	be := openBackend(t, srv.URL(t), runtime.Config{})
	ctx := context.Background()
	r1, err := be.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := be.Apply(ctx, "ns", &runtime.Batch{Deletes: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.Snapshot(ctx, "ns"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("snapshot of a namespace whose keys were all deleted: %v, want ErrNotFound", err)
	}
	// It counts as absent for a condition, as Store.UpdateNamespace expects
	// after that ErrNotFound, yet its revisions keep growing.
	r3, err := be.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`2`)}}, Conds: []runtime.Cond{{}}})
	if err != nil {
		t.Fatalf("condition revision 0 on an emptied namespace: %v", err)
	}
	if !(r1 < r2 && r2 < r3) {
		t.Errorf("revisions %d %d %d do not grow", r1, r2, r3)
	}
}

func TestStamp(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	raw := srv.URL(t)
	be := openBackend(t, raw, runtime.Config{})
	ctx := context.Background()
	stamp := func() runtime.Stamp {
		t.Helper()
		s, err := be.Stamp(ctx, "ns")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := stamp(); s != (runtime.Stamp{}) {
		t.Errorf("stamp of an absent namespace %v, want zero", s)
	}
	put := func() {
		t.Helper()
		if _, err := be.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	put()
	s1 := stamp()
	if s1[0] != 1 {
		t.Errorf("stamp %v, want the revision 1 first", s1)
	}
	put()
	if s2 := stamp(); s2 == s1 {
		t.Errorf("stamp %v unchanged by a write", s2)
	}
	// The namespace vanishes (as when a TTL expires) and is written anew:
	// same revision as before, different stamp.
	c.Del(ctx, prefixOf(t, raw)+":{ns}:state")
	time.Sleep(time.Millisecond)
	put()
	if s3 := stamp(); s3 == s1 {
		t.Errorf("stamp %v of a recreated namespace equals the old one's", s3)
	}
}

func TestCorruptLeftAlone(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	raw := srv.URL(t)
	p := prefixOf(t, raw)
	st := openStore(t, raw)
	ctx := context.Background()
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`{"a": 1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Checkpoint(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
	damage := map[string][2]string{
		"checkpoint value":   {p + ":{ns}:cp:cp", "v:k"},
		"checkpoint created": {p + ":{ns}:cp:cp", "_created"},
		"checkpoint header":  {p + ":{ns}:cph", "cp"},
		"key revision":       {p + ":{ns}:state", "r:k"},
		"schema":             {p + ":{ns}:state", "_schema"},
	}
	for what, hf := range damage {
		t.Run(strings.ReplaceAll(what, " ", "_"), func(t *testing.T) {
			good := c.HGet(ctx, hf[0], hf[1]).Val()
			c.HSet(ctx, hf[0], hf[1], "{not json")
			defer c.HSet(ctx, hf[0], hf[1], good)
			var err error
			if strings.HasPrefix(what, "checkpoint") {
				_, err = st.Restore(ctx, "ns", "cp")
				if what == "checkpoint header" {
					// Listed with its error, the listing itself fine.
					var l []runtime.CheckpointInfo
					if l, err = st.Checkpoints(ctx, "ns"); err == nil && len(l) == 1 {
						err = l[0].Err
					}
				}
			} else {
				_, err = st.Snapshot(ctx, "ns")
				if what == "key revision" {
					_, err = st.Get(ctx, "ns", "k")
				}
			}
			if !errors.Is(err, runtime.ErrCorrupt) {
				t.Errorf("got %v, want ErrCorrupt", err)
			}
			if got := c.HGet(ctx, hf[0], hf[1]).Val(); got != "{not json" {
				t.Errorf("damaged field rewritten to %q", got)
			}
		})
	}
}

func TestClientKillMidRun(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	raw := srv.URL(t)
	be := openBackend(t, raw, runtime.Config{})
	st := runtime.New(be, "redis test store", runtime.WithoutCache(),
		runtime.WithRetry(runtime.RetryPolicy{Attempts: 10, Initial: time.Millisecond, Max: 20 * time.Millisecond}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kills := 0
	for i := range 200 {
		if i%50 == 25 {
			n, err := admin.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Result()
			if err != nil {
				t.Fatal(err)
			}
			kills += int(n)
		}
		want := json.RawMessage(strconv.Itoa(i))
		if _, err := st.Put(ctx, "ns", "k", want); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		v, err := st.Get(ctx, "ns", "k")
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if string(v.Data) != string(want) {
			t.Fatalf("get %d: %s", i, v.Data)
		}
	}
	if kills == 0 {
		t.Error("CLIENT KILL killed no connection: the test did not test anything")
	}
}

// proxied starts a fault proxy in front of srv and returns it and a URL
// through it with a prefix of its own.
func proxied(t *testing.T, srv *redistest.Server) (*faultproxy.Proxy, string) {
	t.Helper()
	p, err := faultproxy.Start(srv.Addr(), faultproxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, "redis://" + p.Addr() + "/0?prefix=" + srv.Prefix()
}

func TestDroppedConnectionIsTransient(t *testing.T) {
	srv := redistest.Start(t)
	proxy, raw := proxied(t, srv)
	be := openBackend(t, raw, runtime.Config{})
	ctx := context.Background()
	batch := &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}}
	if _, err := be.Apply(ctx, "ns", batch); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"get":         func() error { _, err := be.Get(ctx, "ns", "k"); return err },
		"snapshot":    func() error { _, err := be.Snapshot(ctx, "ns"); return err },
		"apply":       func() error { _, err := be.Apply(ctx, "ns", batch); return err },
		"stamp":       func() error { _, err := be.Stamp(ctx, "ns"); return err },
		"namespaces":  func() error { _, err := be.Namespaces(ctx); return err },
		"checkpoints": func() error { _, err := be.Checkpoints(ctx, "ns"); return err },
	}
	for what, op := range ops {
		for _, fault := range []faultproxy.Fault{faultproxy.DropRequest, faultproxy.LoseReply, faultproxy.CutReply} {
			proxy.Arm(fault)
			err := op()
			if err == nil {
				t.Errorf("%s (fault %d): no error through a cut connection", what, fault)
			} else if !runtime.IsTransient(err) {
				t.Errorf("%s (fault %d): error %v is not transient", what, fault, err)
			}
			// The next call gets a new connection.
			if err := op(); err != nil {
				t.Errorf("%s after a cut connection: %v", what, err)
			}
		}
	}
}

// A conditional write whose reply is lost after Redis applied it is
// retried by the Store; the retry must return that write, not apply it
// again (it would conflict with itself, and Update would run fn twice).
func TestLostReplyAppliedOnce(t *testing.T) {
	srv := redistest.Start(t)
	proxy, raw := proxied(t, srv)
	be := openBackend(t, raw, runtime.Config{})
	st := runtime.New(be, "proxied", runtime.WithRetry(runtime.RetryPolicy{Attempts: 5, Initial: time.Millisecond, Max: 10 * time.Millisecond}))
	ctx := context.Background()
	counter := runtime.JSONCodec[int]()
	if err := runtime.Save(ctx, st, "ns", "n", 0, counter); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		calls := 0
		got, err := runtime.Update(ctx, st, "ns", "n", counter, func(n int, _ bool) (int, error) {
			calls++
			if calls == 1 {
				proxy.Arm(faultproxy.LoseReply) // the write that follows reaches Redis; its reply is lost
			}
			return n + 1, nil
		})
		if err != nil {
			t.Fatalf("round %d: update through a lost reply: %v", i, err)
		}
		if got != i || calls != 1 {
			t.Fatalf("round %d: update returned %d after %d calls of fn, want %d after 1", i, got, calls, i)
		}
	}
	if n, _ := runtime.Load(ctx, st, "ns", "n", counter); n != 5 {
		t.Fatalf("counter %d after 5 increments whose replies were lost, want 5", n)
	}
}

func TestAuthErrorIsFinal(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	ctx := context.Background()
	user := srv.Prefix()
	const pw, newPW = "first-s3cret", "second-s3cret"
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pw, "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })

	// A wrong password at Open.
	_, err := runtime.Open(ctx, "redis://"+user+":wrong-s3cret@"+srv.Addr()+"/0")
	if err == nil || runtime.IsTransient(err) || strings.Contains(err.Error(), "wrong-s3cret") {
		t.Errorf("open with a wrong password: %v; want a final error without the password", err)
	}

	// A password changed under a running store: the reconnect fails.
	raw := "redis://" + user + ":" + pw + "@" + srv.Addr() + "/0?prefix=" + user
	var retries countWarnings
	st := openStore(t, raw, runtime.WithLogger(slogOf(&retries)))
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "resetpass", ">"+newPW).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ClientKillByFilter(ctx, "USER", user).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = st.Get(ctx, "ns", "k")
	if err == nil || runtime.IsTransient(err) {
		t.Fatalf("get after the password changed: %v, want a final error", err)
	}
	if !strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), pw) {
		t.Errorf("error %q: want WRONGPASS, without the password", err)
	}
	if n := retries.n.Load(); n != 0 {
		t.Errorf("an auth error was retried %d times", n)
	}
}

func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t)
	raw := sentinel.URL(t)
	st := openStore(t, raw)
	ctx := context.Background()
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`"via sentinel"`)); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Get(ctx, "ns", "k"); err != nil || string(v.Data) != `"via sentinel"` {
		t.Fatalf("get: %s (err %v)", v.Data, err)
	}
	// The write went to the master the sentinel named.
	got := master.Client(t).HGet(ctx, prefixOf(t, raw)+":{ns}:state", "v:k").Val()
	if got != `"via sentinel"` {
		t.Errorf("master holds %q", got)
	}
	if ns, err := st.Namespaces(ctx); err != nil || !cmp.Equal(ns, []string{"ns"}) {
		t.Errorf("namespaces %v (err %v), want [ns]", ns, err)
	}
	// A checkpoint, copied by the script on the master, retention included.
	kept := openStore(t, raw, runtime.WithRetention(runtime.Retention{KeepLast: 1}))
	for _, name := range []string{"a", "b"} {
		if _, err := kept.Checkpoint(ctx, "ns", name); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if list, err := kept.Checkpoints(ctx, "ns"); err != nil || len(list) != 1 || list[0].Name != "b" || list[0].Keys != 1 {
		t.Errorf("checkpoints via sentinel: %+v, %v; want b of 1 key", list, err)
	}
	if cp, err := kept.GetCheckpoint(ctx, "ns", "b"); err != nil || string(cp.Values["k"].Data) != `"via sentinel"` {
		t.Errorf("checkpoint b via sentinel: %+v, %v", cp, err)
	}
}
