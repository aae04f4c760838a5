package backendtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

// testDrop: Drop deletes state, checkpoints and labels at once: afterwards
// nothing of the run is read or listed, a write conditioned on its old
// revisions fails, and a missing run is ErrNotFound.
func testDrop(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	put(t, st, "keep", "k", `1`)
	rev := put(t, st, "gone", "a", `"x"`)
	put(t, st, "gone", "b", `2`)
	if _, err := st.Checkpoint(ctx, "gone", "cp1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Label(ctx, "gone", map[string]string{"team": "red"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Drop(ctx, "gone"); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if _, err := st.Snapshot(ctx, "gone"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("snapshot after drop: %v, want ErrNotFound", err)
	}
	if _, err := st.Get(ctx, "gone", "a"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("get after drop: %v, want ErrNotFound", err)
	}
	if list, err := st.Checkpoints(ctx, "gone"); err != nil || len(list) != 0 {
		t.Errorf("checkpoints after drop: %v, %v", list, err)
	}
	if names, err := st.Namespaces(ctx); err != nil || !slices.Equal(names, []string{"keep"}) {
		t.Errorf("namespaces after drop: %v, %v; want [keep]", names, err)
	}
	if page, err := st.Runs(ctx, runtime.RunQuery{Labels: map[string]string{"team": "red"}}); err != nil || len(page.Runs) != 0 {
		t.Errorf("runs labelled team=red after drop: %+v, %v", page.Runs, err)
	}
	if _, err := st.Apply(ctx, "gone", &runtime.Batch{Puts: []runtime.KV{{Key: "a", Value: []byte(`"y"`)}}, Conds: []runtime.Cond{{Key: "a", Revision: rev}}}); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("write conditioned on a dropped key's revision: %v, want ErrConflict", err)
	}
	if err := st.Drop(ctx, "gone"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("drop of a missing run: %v, want ErrNotFound", err)
	}
	// The name is free for a new run.
	put(t, st, "gone", "c", `3`)
	if got := values(t, st, "gone"); len(got) != 1 {
		t.Errorf("new run under a dropped name holds %v, want only c", got)
	}
}

// testDropIf: a drop conditioned on a revision the run has left deletes
// nothing and is ErrConflict (GC's guard against dropping a run written
// again after it was found expired); on its current revision it drops.
func testDropIf(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	old := put(t, st, "run", "a", `1`)
	if _, err := st.Checkpoint(ctx, "run", "cp"); err != nil {
		t.Fatal(err)
	}
	cur := put(t, st, "run", "a", `2`)
	before, err := st.Snapshot(ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DropIf(ctx, "run", old); !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("drop at revision %d of a run at %d: %v, want ErrConflict", old, cur, err)
	}
	after, err := st.Snapshot(ctx, "run")
	if err != nil {
		t.Fatalf("snapshot after a refused drop: %v", err)
	}
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("a refused drop changed the run (-before +after):\n%s", d)
	}
	if list, err := st.Checkpoints(ctx, "run"); err != nil || len(list) != 1 {
		t.Errorf("checkpoints after a refused drop: %v, %v; want cp", list, err)
	}
	if err := st.DropIf(ctx, "run", cur); err != nil {
		t.Fatalf("drop at the run's revision: %v", err)
	}
	if _, err := st.Snapshot(ctx, "run"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("snapshot after the drop: %v, want ErrNotFound", err)
	}
	if err := st.DropIf(ctx, "run", cur); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("conditioned drop of a missing run: %v, want ErrNotFound", err)
	}
}

// testDropConcurrent: readers that look at a run's checkpoints and state,
// in both orders, while it is dropped never see it half gone (checkpoints
// gone and state there, or the reverse); writers racing drops leave runs
// that read whole.
func testDropConcurrent(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	st := open(t, url)
	for round := range 6 {
		ns := fmt.Sprintf("run%d", round)
		put(t, st, ns, "a", `1`)
		for i := range 3 {
			if _, err := st.Checkpoint(ctx, ns, fmt.Sprintf("cp%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		var stop atomic.Bool
		var bad atomic.Value
		var wg sync.WaitGroup
		for order := range 2 {
			wg.Go(func() {
				for !stop.Load() {
					cpsFirst := order == 0
					var cps []runtime.CheckpointInfo
					var serr, cerr error
					if cpsFirst {
						cps, cerr = st.Checkpoints(ctx, ns)
						_, serr = st.Snapshot(ctx, ns)
					} else {
						_, serr = st.Snapshot(ctx, ns)
						cps, cerr = st.Checkpoints(ctx, ns)
					}
					if cerr != nil || serr != nil && !errors.Is(serr, runtime.ErrNotFound) {
						bad.Store(fmt.Sprintf("read failed: %v %v", cerr, serr))
						return
					}
					state := serr == nil
					switch {
					case cpsFirst && len(cps) == 0 && state:
						bad.Store("checkpoints gone, then state still there")
					case !cpsFirst && !state && len(cps) > 0:
						bad.Store("state gone, then checkpoints still there")
					case len(cps) != 0 && len(cps) != 3:
						bad.Store(fmt.Sprintf("%d of 3 checkpoints listed", len(cps)))
					}
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		if err := st.Drop(ctx, ns); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if v := bad.Load(); v != nil {
			t.Fatalf("round %d: a reader saw the run half dropped: %v", round, v)
		}
	}

	// Writers and droppers race; whatever is left reads whole.
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range 20 {
				_, err := st.Apply(ctx, "contended", &runtime.Batch{Puts: []runtime.KV{
					{Key: "a", Value: []byte(fmt.Sprint(i))}, {Key: "b", Value: []byte(fmt.Sprint(i))},
				}})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			if err := st.Drop(ctx, "contended"); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("drop: %v", err)
				return
			}
		}
	})
	wg.Wait()
	snap, err := st.Snapshot(ctx, "contended")
	switch {
	case errors.Is(err, runtime.ErrNotFound):
	case err != nil:
		t.Fatalf("after racing writes and drops: %v", err)
	case len(snap.Values) != 2:
		t.Errorf("after racing writes and drops the run holds %v, want a and b", snap.Keys())
	}
}

// testFork: a fork is exactly the checkpoint (values, schema), records its
// lineage, is conditioned on the new run not existing, and opens its
// sealed secrets (sealed again for the new run); checkpoints record the
// checkpoint the run was restored from.
func testFork(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t), runtime.WithKeys(keyring(t, testKey1)))
	s, err := runtime.NewStateStore(st, "parent", tokenSchema())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &tokenState{ID: "one", Token: secretValue(7)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Label(ctx, "parent", map[string]string{"team": "red"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(ctx, "plan", runtime.WithLabels(map[string]string{"phase": "plan"})); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &tokenState{ID: "two", Token: secretValue(8)}); err != nil {
		t.Fatal(err)
	}
	child, err := s.Fork(ctx, "plan", "child")
	if err != nil {
		t.Fatalf("fork: %v", err)
	}
	got, err := child.Load(ctx)
	if err != nil || got.ID != "one" || got.Token != secretValue(7) {
		t.Fatalf("forked run loads %+v, %v; want the checkpoint's state with its secret opened", got, err)
	}
	raw, err := st.Get(ctx, "child", "token")
	if err != nil || !runtime.IsSealed(raw.Data) {
		t.Errorf("forked secret stored as %s (%v), want sealed", raw.Data, err)
	}
	schema, err := st.Schema(ctx, "child")
	if err != nil || !schema.Equal(tokenSchema().Ref()) {
		t.Errorf("forked schema %v (%v), want %v", schema, err, tokenSchema().Ref())
	}
	if keys, _ := st.Keys(ctx, "child"); !slices.Equal(keys, []string{"id", "token"}) {
		t.Errorf("forked keys %v, want [id token]", keys)
	}
	info, err := st.Run(ctx, "child")
	want := runtime.CheckpointRef{Namespace: "parent", Checkpoint: "plan"}
	if err != nil || info.Parent == nil || *info.Parent != want || info.Restored == nil || *info.Restored != want {
		t.Errorf("fork lineage %+v, %v; want parent and restored %v", info, err, want)
	}
	if len(info.Labels) != 0 {
		t.Errorf("fork inherited labels %v", info.Labels)
	}
	if _, err := st.Fork(ctx, "parent", "plan", "child"); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("fork onto an existing run: %v, want ErrConflict", err)
	}
	if _, err := st.Fork(ctx, "parent", "nope", "other"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("fork of a missing checkpoint: %v, want ErrNotFound", err)
	}
	// Checkpoints record their labels and the run's last restore.
	cp, err := child.Checkpoint(ctx, "after-fork")
	if err != nil || cp.Restored == nil || *cp.Restored != want {
		t.Errorf("checkpoint of a forked run: %+v, %v; want restored %v", cp, err, want)
	}
	if err := s.Restore(ctx, "plan"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(ctx, "after-restore"); err != nil {
		t.Fatal(err)
	}
	list, err := s.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]runtime.CheckpointInfo{}
	for _, c := range list {
		byName[c.Name] = c
	}
	if c := byName["plan"]; c.Labels["phase"] != "plan" || c.Restored != nil {
		t.Errorf("listed checkpoint plan: labels %v restored %v; want phase=plan, none", c.Labels, c.Restored)
	}
	if c := byName["after-restore"]; c.Restored == nil || *c.Restored != want {
		t.Errorf("listed checkpoint after-restore: restored %v, want %v", c.Restored, want)
	}
	if r, _ := st.Run(ctx, "parent"); r.Labels["team"] != "red" {
		t.Errorf("restore dropped the run's labels: %v", r.Labels)
	}
}

// testForkWithoutKeys: forking sealed secrets without the keys fails and
// writes nothing.
func testForkWithoutKeys(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	st := open(t, url, runtime.WithKeys(keyring(t, testKey1)))
	s, err := runtime.NewStateStore(st, "parent", tokenSchema())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &tokenState{ID: "one", Token: secretValue(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(ctx, "cp"); err != nil {
		t.Fatal(err)
	}
	bare := open(t, url)
	if _, err := bare.Fork(ctx, "parent", "cp", "child"); !errors.Is(err, runtime.ErrDecrypt) {
		t.Errorf("fork of sealed secrets without keys: %v, want ErrDecrypt", err)
	}
	if _, err := bare.Snapshot(ctx, "child"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("a failed fork wrote: %v", err)
	}
}

// testRuns: labels set and removed, Runs filtered by label, schema and
// time, paged with a cursor that neither repeats nor skips a run while
// other runs are written and created meanwhile.
func testRuns(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	const n = 30
	for i := range n {
		ns := fmt.Sprintf("r%03d", i)
		b := &runtime.Batch{Puts: []runtime.KV{{Key: "i", Value: []byte(fmt.Sprint(i))}}}
		if i%2 == 0 {
			b.Schema = &runtime.SchemaRef{Name: "Even", Version: 1}
		}
		if _, err := st.Apply(ctx, ns, b); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"team": []string{"red", "blue", "green"}[i%3]}
		if i%5 == 0 {
			labels["hot"] = "yes"
		}
		if _, err := st.Label(ctx, ns, labels); err != nil {
			t.Fatal(err)
		}
	}
	want := func(pred func(i int) bool) []string {
		var out []string
		for i := range n {
			if pred(i) {
				out = append(out, fmt.Sprintf("r%03d", i))
			}
		}
		return out
	}
	all := func(q runtime.RunQuery, write func(page int)) []string {
		var out []string
		for page := 0; ; page++ {
			p, err := st.Runs(ctx, q)
			if err != nil {
				t.Fatalf("runs %+v: %v", q, err)
			}
			if q.Limit > 0 && len(p.Runs) > q.Limit {
				t.Fatalf("page of %d runs, limit %d", len(p.Runs), q.Limit)
			}
			for _, r := range p.Runs {
				out = append(out, r.Namespace)
			}
			if write != nil {
				write(page)
			}
			if p.Next == "" {
				return out
			}
			q.After = p.Next
		}
	}
	red := map[string]string{"team": "red"}
	for _, limit := range []int{0, 1, 3, 7, 100} {
		if got, w := all(runtime.RunQuery{Labels: red, Limit: limit}, nil), want(func(i int) bool { return i%3 == 0 }); !slices.Equal(got, w) {
			t.Errorf("team=red, limit %d: %v, want %v", limit, got, w)
		}
	}
	// Writes to listed and unlisted runs, and new runs that do not match,
	// between pages, change nothing in what is listed.
	churn := func(page int) {
		put(t, st, fmt.Sprintf("r%03d", (page*7)%n), "i", `-1`)
		put(t, st, fmt.Sprintf("new%03d", page), "i", `0`)
	}
	if got, w := all(runtime.RunQuery{Labels: map[string]string{"team": "red", "hot": "yes"}, Limit: 2}, churn), want(func(i int) bool { return i%15 == 0 }); !slices.Equal(got, w) {
		t.Errorf("team=red,hot=yes paged while others write: %v, want %v", got, w)
	}
	if got, w := all(runtime.RunQuery{Schema: "Even", Limit: 4}, churn), want(func(i int) bool { return i%2 == 0 }); !slices.Equal(got, w) {
		t.Errorf("schema Even: %v, want %v", got, w)
	}
	// Relabel and remove a label.
	if _, err := st.Label(ctx, "r000", map[string]string{"team": "blue", "hot": ""}); err != nil {
		t.Fatal(err)
	}
	if got, w := all(runtime.RunQuery{Labels: red, Limit: 4}, nil), want(func(i int) bool { return i%3 == 0 && i != 0 }); !slices.Equal(got, w) {
		t.Errorf("team=red after relabelling r000: %v, want %v", got, w)
	}
	r, err := st.Run(ctx, "r000")
	if err != nil || r.Labels["team"] != "blue" || r.Labels["hot"] != "" || r.Schema.Name != "Even" || r.Updated.IsZero() {
		t.Errorf("run r000: %+v, %v", r, err)
	}
	// Since: only the runs written after a moment.
	time.Sleep(20 * time.Millisecond)
	mark := time.Now()
	time.Sleep(20 * time.Millisecond)
	put(t, st, "r029", "i", `29`)
	if got := all(runtime.RunQuery{Since: mark}, nil); !slices.Equal(got, []string{"r029"}) {
		t.Errorf("since a moment ago: %v, want [r029]", got)
	}
	// Labels are the run's, not its state's: checkpoints and Restore
	// leave them, a whole-struct replace keeps them.
	if _, err := st.Checkpoint(ctx, "r003", "cp"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, "r003", &runtime.Batch{Replace: true, Puts: []runtime.KV{{Key: "j", Value: []byte(`1`)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Restore(ctx, "r003", "cp"); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Run(ctx, "r003"); r.Labels["team"] != "red" {
		t.Errorf("labels after replace and restore: %v", r.Labels)
	}
	if keys, _ := st.Keys(ctx, "r003"); !slices.Equal(keys, []string{"i"}) {
		t.Errorf("keys %v: reserved keys show", keys)
	}
	// Bad labels are refused and change nothing.
	if _, err := st.Label(ctx, "r001", map[string]string{"bad key": "x"}); !errors.Is(err, runtime.ErrInvalidName) {
		t.Errorf("label with a bad key: %v", err)
	}
	if _, err := st.Label(ctx, "r001", map[string]string{"k": "line\nbreak"}); !errors.Is(err, runtime.ErrInvalidValue) {
		t.Errorf("label with a control character: %v", err)
	}
}

// testRetention: a Store opened WithRetention prunes on every checkpoint,
// never the one just written.
func testRetention(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t), runtime.WithRetention(runtime.Retention{KeepLast: 2}))
	put(t, st, "ns", "k", `1`)
	for i := range 5 {
		if _, err := st.Checkpoint(ctx, "ns", fmt.Sprintf("cp%d", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	list, err := st.Checkpoints(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"cp3", "cp4"}) {
		t.Errorf("after 5 checkpoints keeping the last 2: %v", names)
	}
	// MaxAge alone, tiny: every older checkpoint goes, the new one stays.
	st2 := open(t, h.NewURL(t), runtime.WithRetention(runtime.Retention{MaxAge: time.Nanosecond}))
	put(t, st2, "ns", "k", `1`)
	for i := range 3 {
		if _, err := st2.Checkpoint(ctx, "ns", fmt.Sprintf("cp%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if list, _ := st2.Checkpoints(ctx, "ns"); len(list) != 1 || list[0].Name != "cp2" {
		t.Errorf("MaxAge 1ns left %v, want only cp2", list)
	}
}

// testExpiry: a run idle longer than its TTL reads as not found, is not
// listed, and GC drops it with its checkpoints and labels (a dry run only
// lists it). Any Store, without the TTL option, knows the run's TTL.
func testExpiry(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	const ttl = 1500 * time.Millisecond
	st := open(t, url, runtime.WithTTL(ttl))
	put(t, st, "idle", "k", `1`)
	put(t, st, "idle", "n", `1`)
	if _, err := st.Checkpoint(ctx, "idle", "cp"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Label(ctx, "idle", map[string]string{"team": "red"}); err != nil {
		t.Fatal(err)
	}
	// Read through st's cache before the run expires: the cache must not
	// answer for it after.
	nKey := &runtime.Key[int]{Name: "n", Codec: runtime.IntCodec}
	cached, err := runtime.NewStateStore(st, "idle", countSchema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cached.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := nKey.Load(ctx, cached); err != nil {
		t.Fatal(err)
	}
	plain := open(t, url)
	if r, err := plain.Run(ctx, "idle"); err != nil || r.TTL != ttl {
		t.Fatalf("run as a Store without the TTL option sees it: %+v, %v; want TTL %v", r, err, ttl)
	}
	deadline := time.Now().Add(ttl + 100*time.Millisecond)
	for time.Now().Before(deadline) {
		put(t, st, "busy", "k", `1`)
		time.Sleep(100 * time.Millisecond)
	}
	put(t, st, "busy", "k", `2`)
	if _, err := plain.Snapshot(ctx, "idle"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("snapshot of an expired run: %v, want ErrNotFound", err)
	}
	// One key read alone, as Get and as generated code reads a field.
	if v, err := plain.Get(ctx, "idle", "k"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("get of a key of an expired run: %s, %v; want ErrNotFound", v.Data, err)
	}
	counter, err := runtime.NewStateStore(plain, "idle", countSchema)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := nKey.Load(ctx, counter); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("field load of an expired run: %d, %v; want ErrNotFound", n, err)
	}
	if v, err := cached.Load(ctx); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("cached load of an expired run: %+v, %v; want ErrNotFound", v, err)
	}
	if n, err := nKey.Load(ctx, cached); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("cached field load of an expired run: %d, %v; want ErrNotFound", n, err)
	}
	if _, err := plain.Checkpoint(ctx, "idle", "late"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("checkpoint of an expired run: %v, want ErrNotFound", err)
	}
	if _, err := plain.GetCheckpoint(ctx, "idle", "late"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("a checkpoint of an expired run was stored: %v", err)
	}
	if _, err := plain.Snapshot(ctx, "busy"); err != nil {
		t.Errorf("snapshot of a run written within its TTL: %v", err)
	}
	if page, err := plain.Runs(ctx, runtime.RunQuery{}); err != nil || len(page.Runs) != 1 || page.Runs[0].Namespace != "busy" {
		t.Errorf("runs: %+v, %v; want only busy", page.Runs, err)
	}
	dry, err := plain.Expired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Redis may have expired it already, natively.
	if len(dry) > 1 || len(dry) == 1 && dry[0].Namespace != "idle" {
		t.Errorf("gc dry run: %+v, want idle", dry)
	}
	gone, err := plain.GC(ctx)
	if err != nil || len(gone) != len(dry) {
		t.Fatalf("gc: %+v, %v", gone, err)
	}
	if list, _ := plain.Checkpoints(ctx, "idle"); len(list) != 0 {
		t.Errorf("gc left checkpoints %v", list)
	}
	if names, _ := plain.Namespaces(ctx); !slices.Equal(names, []string{"busy"}) {
		t.Errorf("namespaces after gc: %v, want [busy]", names)
	}
}
