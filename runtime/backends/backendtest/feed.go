package backendtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stategen/stategen/runtime"
)

// The change feed: Store.Watch reports every write kind and checkpoint
// operation with its revision, new namespaces to a watch of the whole
// store, and a gap, never a silent hole, to a consumer that fell behind.

// feedInterval is the polling interval the suite watches with.
const feedInterval = 10 * time.Millisecond

// feed is a running watch: its changes arrive on a channel.
type feed struct {
	t  testing.TB
	ch chan runtime.Change
}

// watch starts Store.Watch, ranged over by a goroutine until the test ends.
func watch(t testing.TB, st *runtime.Store, ns string, opts ...runtime.WatchOption) *feed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	seq := st.Watch(ctx, ns, append([]runtime.WatchOption{runtime.WatchInterval(feedInterval)}, opts...)...)
	f := &feed{t: t, ch: make(chan runtime.Change, 4096)}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for c, err := range seq {
			if err != nil {
				t.Errorf("watch %q: %v", ns, err)
				continue
			}
			f.ch <- c
		}
	}()
	return f
}

// next returns the next change, failing the test after a while without one.
func (f *feed) next(what string) runtime.Change {
	f.t.Helper()
	select {
	case c := <-f.ch:
		if c.Time.IsZero() {
			f.t.Errorf("%s: change %+v has no time", what, c)
		}
		return c
	case <-time.After(10 * time.Second):
		f.t.Fatalf("%s: no change reported in 10s", what)
		return runtime.Change{}
	}
}

// quiet checks that nothing more is reported for a while.
func (f *feed) quiet(what string) {
	f.t.Helper()
	select {
	case c := <-f.ch:
		f.t.Errorf("%s: unexpected change %+v", what, c)
	case <-time.After(20 * feedInterval):
	}
}

// expect reads the next change and compares it with want (Time aside).
func (f *feed) expect(what string, want runtime.Change) runtime.Change {
	f.t.Helper()
	got := f.next(what)
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(runtime.Change{}, "Time"), cmpopts.EquateEmpty()); d != "" {
		f.t.Errorf("%s: change (-want +got):\n%s", what, d)
	}
	return got
}

func testFeedWrites(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	apply := func(b *runtime.Batch) int64 {
		t.Helper()
		rev, err := st.Apply(ctx, "ns", b)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	write := func(rev int64, keys, deleted []string) runtime.Change {
		return runtime.Change{Namespace: "ns", Kind: runtime.ChangeWrite, Revision: rev, Keys: keys, Deleted: deleted}
	}
	f := watch(t, st, "ns")

	rev := put(t, st, "ns", "a", `1`)
	f.expect("put into a new namespace", write(rev, []string{"a"}, nil))
	rev = apply(&runtime.Batch{Puts: []runtime.KV{{Key: "c", Value: raw(`3`)}, {Key: "b", Value: raw(`2`)}}, Deletes: []string{"a"}})
	f.expect("batch", write(rev, []string{"b", "c"}, []string{"a"}))
	rev, err := st.Delete(ctx, "ns", "b")
	if err != nil {
		t.Fatal(err)
	}
	f.expect("delete", write(rev, nil, []string{"b"}))
	rev = apply(&runtime.Batch{Replace: true, Puts: []runtime.KV{{Key: "d", Value: raw(`4`)}}})
	f.expect("replace", write(rev, []string{"d"}, []string{"c"}))
	v1 := runtime.SchemaRef{Name: "S", Version: 1, Keys: []string{"d", "e"}}
	rev = apply(&runtime.Batch{Schema: &v1, Puts: []runtime.KV{{Key: "e", Value: raw(`5`)}}})
	w := write(rev, []string{"e"}, nil)
	w.Schema = true
	f.expect("schema recorded", w)
	rev = apply(&runtime.Batch{Schema: &v1, Puts: []runtime.KV{{Key: "e", Value: raw(`6`)}}})
	f.expect("the same schema again", write(rev, []string{"e"}, nil))

	info, err := st.Checkpoint(ctx, "ns", "cp")
	if err != nil {
		t.Fatal(err)
	}
	f.expect("checkpoint", runtime.Change{Namespace: "ns", Kind: runtime.ChangeCheckpoint, Revision: info.Revision, Checkpoint: "cp", CheckpointOp: runtime.CheckpointCreated})
	rev = put(t, st, "ns", "f", `7`)
	f.expect("put after the checkpoint", write(rev, []string{"f"}, nil))
	rev, err = st.Restore(ctx, "ns", "cp")
	if err != nil {
		t.Fatal(err)
	}
	// A restore is the write it is; a backend that knows it restored a
	// checkpoint says which.
	got := f.next("restore")
	if got.CheckpointOp != "" {
		if got.CheckpointOp != runtime.CheckpointRestored || got.Checkpoint != "cp" {
			t.Errorf("restore reported as checkpoint %s %q, want restored cp", got.CheckpointOp, got.Checkpoint)
		}
		got.Checkpoint, got.CheckpointOp = "", ""
	}
	if d := cmp.Diff(write(rev, []string{"d", "e"}, []string{"f"}), got, cmpopts.IgnoreFields(runtime.Change{}, "Time"), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("restore: change (-want +got):\n%s", d)
	}
	if err := st.DeleteCheckpoint(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
	f.expect("checkpoint deleted", runtime.Change{Namespace: "ns", Kind: runtime.ChangeCheckpoint, Revision: rev, Checkpoint: "cp", CheckpointOp: runtime.CheckpointDeleted})

	// Another namespace is not this one's.
	put(t, st, "other", "k", `1`)
	f.quiet("a write to another namespace")
}

func testFeedWholeStore(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	put(t, st, "old", "k", `1`)
	f := watch(t, st, "")
	rev := put(t, st, "fresh", "k", `1`)
	f.expect("a new namespace", runtime.Change{Namespace: "fresh", Kind: runtime.ChangeWrite, Revision: rev, Keys: []string{"k"}})
	rev = put(t, st, "old", "j", `2`)
	f.expect("a namespace there before", runtime.Change{Namespace: "old", Kind: runtime.ChangeWrite, Revision: rev, Keys: []string{"j"}})
	info, err := st.Checkpoint(ctx, "old", "cp")
	if err != nil {
		t.Fatal(err)
	}
	f.expect("a checkpoint", runtime.Change{Namespace: "old", Kind: runtime.ChangeCheckpoint, Revision: info.Revision, Checkpoint: "cp", CheckpointOp: runtime.CheckpointCreated})
	// Its last key deleted, a namespace without a schema is gone: the
	// deletion is reported, as the write it is or as a gap to a revision
	// no read can tell.
	rev, err = st.Delete(ctx, "fresh", "k")
	if err != nil {
		t.Fatal(err)
	}
	got := f.next("a namespace emptied")
	if got.Namespace != "fresh" || !slices.Equal(got.Deleted, []string{"k"}) ||
		!(got.Kind == runtime.ChangeWrite && got.Revision == rev || got.Kind == runtime.ChangeGap && got.Revision == 0 && got.FromRevision == rev-1) {
		t.Errorf("namespace emptied at revision %d: change %+v, want the deletion of k", rev, got)
	}
	f.quiet("nothing else written")
}

func testFeedGap(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	r0 := put(t, st, "ns", "start", `0`)
	// A consumer that does not read while many writes happen: the changes
	// it missed are reported, write by write or inside gaps, with no hole
	// and no overlap between the revisions they cover, and at least one gap.
	ctxWatch, cancel := context.WithCancel(ctx)
	defer cancel()
	seq := st.Watch(ctxWatch, "ns", runtime.WatchInterval(feedInterval), runtime.WatchBuffer(4))
	const n = 40
	var last int64
	written := map[string]bool{}
	for i := range n {
		k := fmt.Sprintf("k%d", i%7)
		last = put(t, st, "ns", k, fmt.Sprint(i))
		written[k] = true
	}
	time.Sleep(10 * feedInterval) // the feed goes on while nobody reads
	cursor, gaps := r0, 0
	seen := map[string]bool{}
	deadline := time.AfterFunc(10*time.Second, cancel)
	defer deadline.Stop()
	for c, err := range seq {
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		switch c.Kind {
		case runtime.ChangeWrite:
			if c.Revision != cursor+1 {
				t.Fatalf("write of revision %d after revision %d, with no gap between: %+v", c.Revision, cursor, c)
			}
		case runtime.ChangeGap:
			gaps++
			if c.FromRevision != cursor || c.Revision <= cursor {
				t.Fatalf("gap (%d, %d] after revision %d: want one that starts where the last change ended: %+v", c.FromRevision, c.Revision, cursor, c)
			}
		default:
			t.Fatalf("unexpected change %+v", c)
		}
		cursor = c.Revision
		for _, k := range c.Keys {
			seen[k] = true
		}
		if cursor == last {
			break
		}
	}
	if cursor != last {
		t.Fatalf("the feed reported up to revision %d, want %d", cursor, last)
	}
	if gaps == 0 {
		t.Errorf("a consumer that fell behind by %d writes was told of no gap", n)
	}
	if d := cmp.Diff(written, seen); d != "" {
		t.Errorf("keys reported written (-written +reported):\n%s", d)
	}

	// WatchSince: what came after a revision is reported first.
	f := watch(t, st, "ns", runtime.WatchSince(r0))
	got := f.next("since")
	if got.Kind != runtime.ChangeGap || got.FromRevision != r0 || got.Revision != last {
		t.Errorf("WatchSince(%d) with the namespace at %d: first change %+v, want a gap (%d, %d]", r0, last, got, r0, last)
	}
	rev := put(t, st, "ns", "after", `1`)
	f.expect("a write after the gap", runtime.Change{Namespace: "ns", Kind: runtime.ChangeWrite, Revision: rev, Keys: []string{"after"}})
	f = watch(t, st, "ns", runtime.WatchSince(rev))
	rev = put(t, st, "ns", "after", `2`)
	f.expect("WatchSince the current revision", runtime.Change{Namespace: "ns", Kind: runtime.ChangeWrite, Revision: rev, Keys: []string{"after"}})

	// Bad input ends the feed with one error.
	var errs []error
	for _, err := range st.Watch(ctx, "", runtime.WatchSince(1)) {
		errs = append(errs, err)
	}
	for _, err := range st.Watch(ctx, "../x") {
		errs = append(errs, err)
	}
	if len(errs) != 2 || errs[0] == nil || errs[1] == nil {
		t.Errorf("WatchSince of the whole store, and a bad name: %v, want two errors", errs)
	}
}

// FeedCut checks a backend's native feed across a cut of its subscription:
// cut (a server killing the subscriber's connection, as a restart or a
// network failure would) must lead to a gap for what may have been
// published meanwhile, and the feed must go on after it.
func FeedCut(t *testing.T, url string, cut func(t testing.TB)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := runtime.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	changes := make(chan runtime.Change, 100)
	errs := make(chan error, 100)
	feed := st.Watch(ctx, "ns") // subscribed from here on
	go func() {
		for c, err := range feed {
			if err != nil {
				errs <- err
				continue
			}
			changes <- c
		}
	}()
	next := func(what string) runtime.Change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing reported", what)
			return runtime.Change{}
		}
	}
	rev, err := st.Put(ctx, "ns", "a", json.RawMessage(`1`))
	if err != nil {
		t.Fatal(err)
	}
	if c := next("a write"); c.Kind != runtime.ChangeWrite || c.Revision != rev {
		t.Fatalf("first change %+v, want the write of revision %d", c, rev)
	}
	cut(t)
	lost, err := st.Put(ctx, "ns", "b", json.RawMessage(`2`))
	if err != nil {
		t.Fatal(err)
	}
	// The write made while the feed was cut is reported, or covered by the gap.
	var sawGap bool
	for !sawGap {
		c := next("after the subscription was cut")
		switch {
		case c.Kind == runtime.ChangeGap && c.Namespace == "ns" && c.FromRevision >= rev:
			sawGap = true
		case c.Kind == runtime.ChangeWrite && c.Revision == lost:
		default:
			t.Fatalf("after the subscription was cut: change %+v, want a gap", c)
		}
	}
	after, err := st.Put(ctx, "ns", "c", json.RawMessage(`3`))
	if err != nil {
		t.Fatal(err)
	}
	for {
		c := next("a write after the gap")
		if c.Kind == runtime.ChangeWrite && c.Revision == after {
			break
		}
		if c.Kind != runtime.ChangeWrite || c.Revision != lost {
			t.Fatalf("after the gap: change %+v, want the write of revision %d", c, after)
		}
	}
	if len(errs) == 0 {
		t.Log("the cut was not reported as an error (go-redis reconnected first)")
	}
}
