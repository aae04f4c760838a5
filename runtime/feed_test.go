package runtime

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestFeedQueue: what a native feed sent reaches the consumer in order; a
// revision the feed skipped, and what did not fit in the queue, become gaps.
func TestFeedQueue(t *testing.T) {
	q := &feedQueue{limit: 3, wake: make(chan struct{}, 1), last: map[string]int64{"a": 1}}
	write := func(ns string, rev int64, keys ...string) Change {
		return Change{Namespace: ns, Kind: ChangeWrite, Revision: rev, Keys: keys}
	}
	gap := func(ns string, from, to int64, keys ...string) Change {
		return Change{Namespace: ns, Kind: ChangeGap, FromRevision: from, Revision: to, Keys: keys}
	}
	q.send(write("a", 2, "x"), nil)
	q.send(write("a", 5, "y"), nil) // 3 and 4 lost on the way: a gap, then 5
	// The queue is full (three items): what follows is folded, per
	// namespace, into gaps reported once the consumer has caught up.
	q.send(write("a", 6, "z"), nil)
	q.send(Change{Namespace: "a", Kind: ChangeCheckpoint, Revision: 6, Checkpoint: "cp", CheckpointOp: CheckpointCreated}, nil)
	q.send(write("b", 1, "k"), nil)
	q.send(write("a", 7, "x"), nil)
	want := []Change{
		write("a", 2, "x"),
		gap("a", 2, 4),
		write("a", 5, "y"),
		gap("a", 5, 7, "x", "z"),
		gap("b", 0, 1, "k"),
	}
	ctx := context.Background()
	var got []Change
	for range want {
		c, err, ok := q.next(ctx)
		if err != nil || !ok {
			t.Fatalf("next: %v, %v", err, ok)
		}
		got = append(got, c)
	}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(Change{}, "Time"), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	// Caught up: queued as usual again, with the revisions the gaps left.
	q.send(write("a", 8, "w"), nil)
	if c, _, _ := q.next(ctx); c.Kind != ChangeWrite || c.Revision != 8 {
		t.Errorf("after the gaps: %+v, want the write of revision 8", c)
	}
	q.send(write("a", 10, "w"), nil)
	if c, _, _ := q.next(ctx); c.Kind != ChangeGap || c.FromRevision != 8 || c.Revision != 9 {
		t.Errorf("a skip after the gaps: %+v, want the gap (8, 9]", c)
	}
}

// TestFeedQueueStart: a write delivered between the subscription and the
// read of the starting revision is covered by WatchSince's gap, not
// reported twice.
func TestFeedQueueStart(t *testing.T) {
	q := &feedQueue{limit: 10, wake: make(chan struct{}, 1), last: map[string]int64{}}
	q.send(Change{Namespace: "a", Kind: ChangeWrite, Revision: 6, Keys: []string{"k"}}, nil)
	q.start("a", 6, true, watchOptions{since: 3, hasSince: true})
	q.send(Change{Namespace: "a", Kind: ChangeWrite, Revision: 7, Keys: []string{"k"}}, nil)
	ctx := context.Background()
	first, _, _ := q.next(ctx)
	second, _, _ := q.next(ctx)
	if first.Kind != ChangeGap || first.FromRevision != 3 || first.Revision != 6 || second.Kind != ChangeWrite || second.Revision != 7 {
		t.Errorf("changes %+v, %+v; want the gap (3, 6] then the write of 7", first, second)
	}
}
