package runtime

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"
)

// The change feed: Store.Watch streams what is written to one namespace or
// to the whole store.
//
// What a Change promises: every write (Apply, Put, Delete, Restore, a
// schema migration's write-back) raises its namespace's revision by one,
// and the feed reports each revision of a watched namespace either in a
// ChangeWrite event of its own, which says exactly which keys that write
// stored and removed, or inside a ChangeGap event, which says that the
// revisions after FromRevision up to Revision were not seen one by one (the
// consumer fell behind, a subscription dropped, two writes landed between
// two polls) and that whoever cares re-reads the namespace. Nothing is
// reported that did not happen; nothing that happened is left out without
// a gap saying so. The keys a gap lists are what is known to have changed
// in its range (each was written, or removed, at least once), not a
// promise that nothing else did.
//
// Checkpoints are not revisions: a checkpoint created and deleted again
// between two polls of a polling feed is not seen (see Watch).

// ChangeKind is what a Change reports.
type ChangeKind string

// The kinds of change.
const (
	// ChangeWrite is one write: the keys it stored and removed.
	ChangeWrite ChangeKind = "write"
	// ChangeCheckpoint is a checkpoint created (or replaced) or deleted.
	ChangeCheckpoint ChangeKind = "checkpoint"
	// ChangeGap says that the changes after FromRevision up to Revision
	// were not reported one by one: re-read the namespace (every namespace
	// when Namespace is empty).
	ChangeGap ChangeKind = "gap"
)

// CheckpointOp is what happened to a checkpoint.
type CheckpointOp string

// The checkpoint operations a Change reports.
const (
	CheckpointCreated  CheckpointOp = "created"
	CheckpointDeleted  CheckpointOp = "deleted"
	CheckpointRestored CheckpointOp = "restored"
)

// Change is one event of a change feed.
type Change struct {
	// Namespace is the namespace changed; empty only for a gap that
	// concerns the whole store (a feed that lost its subscription).
	Namespace string     `json:"namespace"`
	Kind      ChangeKind `json:"kind"`
	// Revision is the namespace's revision after the change: the write's
	// own revision; for a gap the last revision it covers (0 when unknown:
	// the namespace no longer exists, or the gap concerns the whole
	// store); for a checkpoint created, the revision it copies; for one
	// deleted, the namespace's revision as last seen.
	Revision int64 `json:"revision"`
	// FromRevision, for a gap, is the last revision reported before it
	// (or the one WatchSince gave): revisions after it, up to Revision,
	// were missed. 0 when unknown.
	FromRevision int64 `json:"from_revision,omitempty"`
	// Keys are the keys written (stored), sorted. For a gap, those known
	// to have been written in its range.
	Keys []string `json:"keys,omitempty"`
	// Deleted are the keys removed, sorted (by a Delete, a Replace or a
	// Restore). For a gap, those known to be gone.
	Deleted []string `json:"deleted,omitempty"`
	// Schema reports that the write changed the namespace's recorded
	// schema (a migration, a restore to an older version, the first write
	// of generated code).
	Schema bool `json:"schema,omitempty"`
	// Checkpoint and CheckpointOp name the checkpoint of a ChangeCheckpoint
	// event, and of a ChangeWrite that restored one, where the backend
	// knows it (a native feed; a polling feed reports a restore as the
	// write it is).
	Checkpoint   string       `json:"checkpoint,omitempty"`
	CheckpointOp CheckpointOp `json:"checkpoint_op,omitempty"`
	// Time is when the feed learnt of the change.
	Time time.Time `json:"time"`
}

// Feeder is implemented by backends with a native change feed (a
// publish/subscribe channel the writes publish to). Others get the
// runtime's polling feed, built on Stamper, Snapshot and Checkpoints.
type Feeder interface {
	// Feed subscribes to the changes of namespace ns (of every namespace
	// when ns is empty) and returns once subscribed, so that every change
	// committed after it returns is delivered; an error means no
	// subscription. Until ctx ends it then calls send, from one goroutine
	// and in the order the changes were committed, with each Change (Time
	// may be left zero); send never blocks. A backend that loses its
	// subscription sends the error, subscribes again (backing off) and,
	// once subscribed, sends a ChangeGap for ns (Namespace ns, or empty
	// for the whole store) with zero revisions: what was published
	// meanwhile is lost. A ChangeWrite must carry its revision; the
	// runtime reports the revisions a feed skips as gaps.
	Feed(ctx context.Context, ns string, send func(Change, error)) error
}

// WatchOption configures Store.Watch.
type WatchOption func(*watchOptions)

type watchOptions struct {
	interval time.Duration
	since    int64
	hasSince bool
	buffer   int
}

// DefaultWatchInterval is how often a polling feed looks for changes.
const DefaultWatchInterval = 250 * time.Millisecond

// defaultWatchBuffer is how many changes a native feed holds for a
// consumer that is not reading before it reports the rest as a gap.
const defaultWatchBuffer = 1024

// WatchInterval sets how often a polling feed (SQLite, files) looks for
// changes; DefaultWatchInterval by default. Each look costs a Stamp per
// namespace watched (a PRAGMA, a stat), and a read of the namespaces that
// changed. Native feeds (Redis, PostgreSQL) ignore it.
func WatchInterval(d time.Duration) WatchOption {
	return func(o *watchOptions) {
		if d > 0 {
			o.interval = d
		}
	}
}

// WatchSince starts the feed of a namespace after revision rev instead of
// at its current revision: what was written after rev is reported first,
// as a gap when it cannot be reported write by write (a store keeps no
// history of writes). Checkpoints are reported from the start of the watch.
// Only for a namespace: Watch of the whole store with it fails.
func WatchSince(rev int64) WatchOption {
	return func(o *watchOptions) { o.since, o.hasSince = rev, true }
}

// WatchBuffer sets how many changes a native feed holds for a consumer
// that falls behind; what comes after is reported as a gap.
func WatchBuffer(n int) WatchOption {
	return func(o *watchOptions) {
		if n > 0 {
			o.buffer = n
		}
	}
}

// Watch streams the changes of namespace ns, or of every namespace when ns
// is empty (namespaces created later included), until ctx ends or the
// range loop stops; the sequence is for one range loop.
//
// Watch takes its starting point when it is called, not when the loop
// starts: every change committed after Watch returns is reported (as
// itself or inside a gap), none before it (unless WatchSince says so).
// Cancel ctx to release a feed that is never ranged over.
//
// Errors are yielded as they happen (a read that failed, a subscription
// lost) and the feed goes on; an invalid ns or option ends it after the
// first. The end of ctx ends it without an error.
//
// Redis and PostgreSQL publish every write and checkpoint as it commits
// (their Feeder); SQLite and the file backends are polled every
// WatchInterval: a cheap Stamp of each watched namespace, and a read of
// those whose stamp moved, compared with the last one. A polling feed sees
// two writes between two polls as a gap, and a checkpoint created and
// deleted between two polls not at all.
func (s *Store) Watch(ctx context.Context, ns string, opts ...WatchOption) iter.Seq2[Change, error] {
	o := watchOptions{interval: DefaultWatchInterval, buffer: defaultWatchBuffer}
	for _, opt := range opts {
		opt(&o)
	}
	fail := func(err error) iter.Seq2[Change, error] {
		return func(yield func(Change, error) bool) { yield(Change{}, err) }
	}
	if ns != "" {
		if err := validate(ns); err != nil {
			return fail(s.wrap("watch", ns, "", err))
		}
	} else if o.hasSince {
		return fail(s.wrap("watch", ns, "", errSinceWholeStore))
	}
	if f, ok := s.be.(Feeder); ok {
		return s.watchNative(ctx, f, ns, o)
	}
	return s.watchPoll(ctx, ns, o)
}

var errSinceWholeStore = fmt.Errorf("%w: a revision to start after (WatchSince) concerns one namespace, not the whole store", ErrUnsupported)

// watchNative is Watch over a backend's own feed: the backend sends into
// a bounded queue; a consumer that lets it fill up gets a gap per
// namespace for what did not fit, once it has read what did.
func (s *Store) watchNative(ctx context.Context, f Feeder, ns string, o watchOptions) iter.Seq2[Change, error] {
	ctx, cancel := context.WithCancel(ctx)
	q := &feedQueue{limit: o.buffer, wake: make(chan struct{}, 1), last: map[string]int64{}}
	// Subscribed first, then the starting point read: a write in between
	// is both delivered and counted in it.
	var startErr error
	if err := f.Feed(ctx, ns, q.send); err != nil {
		startErr = s.wrap("watch", ns, "", err)
	} else if ns != "" {
		if rev, known, err := s.currentRevision(ctx, ns); err != nil {
			startErr = err
		} else {
			q.start(ns, rev, known, o)
		}
	}
	return func(yield func(Change, error) bool) {
		defer cancel()
		if startErr != nil {
			yield(Change{}, startErr)
			return
		}
		for {
			c, err, ok := q.next(ctx)
			if !ok {
				return
			}
			if err != nil {
				err = s.wrap("watch", ns, "", err)
			}
			if !yield(c.userKeys(), err) {
				return
			}
		}
	}
}

// userKeys is c without the reserved keys (a run's lease, labels and
// lineage), which a native feed reports as the write stored them: a feed
// reports state, as Snapshot does. A write of reserved keys only is still
// a revision, reported with no keys.
func (c Change) userKeys() Change {
	drop := func(keys []string) []string {
		if !slices.ContainsFunc(keys, IsReserved) {
			return keys
		}
		return slices.DeleteFunc(slices.Clone(keys), IsReserved)
	}
	c.Keys, c.Deleted = drop(c.Keys), drop(c.Deleted)
	return c
}

// currentRevision is ns's revision, and whether it is known (a namespace
// that does not exist has none to read).
func (s *Store) currentRevision(ctx context.Context, ns string) (int64, bool, error) {
	snap, err := s.Snapshot(ctx, ns)
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return snap.Revision, true, nil
}

// feedQueue holds what a native feed sent until the consumer takes it.
type feedQueue struct {
	mu    sync.Mutex
	limit int
	items []feedItem
	wake  chan struct{}
	// last is the last revision queued per namespace, to see the
	// revisions a feed skipped.
	last map[string]int64
	// lost, once the queue overflowed, holds per namespace the gap to
	// report when the consumer has caught up: until then every change
	// goes into it, so that order is kept.
	lost map[string]*Change
}

type feedItem struct {
	c   Change
	err error
}

// send is the Feeder's callback.
func (q *feedQueue) send(c Change, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		if len(q.items) < q.limit+1 { // errors are few; one over the limit is fine
			q.items = append(q.items, feedItem{err: err})
			q.signal()
		}
		return
	}
	if c.Time.IsZero() {
		c.Time = time.Now()
	}
	if c.Kind == ChangeGap && c.Namespace == "" {
		// The whole store's feed lost its subscription: whatever was
		// lost is in it; what we know of revisions is no longer a base.
		clear(q.last)
	}
	if c.Kind == ChangeGap && c.Namespace != "" && c.Revision == 0 {
		// Lost from the last revision known on, to one unknown.
		if c.FromRevision == 0 {
			c.FromRevision = q.last[c.Namespace]
		}
		delete(q.last, c.Namespace)
	}
	if q.lost != nil || len(q.items) >= q.limit {
		q.loseLocked(c)
		return
	}
	if c.Kind == ChangeWrite {
		if last, ok := q.last[c.Namespace]; ok && c.Revision > last+1 {
			q.items = append(q.items, feedItem{c: Change{Namespace: c.Namespace, Kind: ChangeGap, FromRevision: last, Revision: c.Revision - 1, Time: c.Time}})
		}
	}
	q.noteLocked(c)
	q.items = append(q.items, feedItem{c: c})
	q.signal()
}

// start sets the starting point of a namespace's watch, its revision rev
// when it is known (read once subscribed): the revision the first write
// reported must follow. With WatchSince before it, what came after since
// is a gap, first, which covers the writes of its range already queued.
func (q *feedQueue) start(ns string, rev int64, known bool, o watchOptions) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case o.hasSince && known && rev > o.since:
		kept := []feedItem{{c: Change{Namespace: ns, Kind: ChangeGap, FromRevision: o.since, Revision: rev, Time: time.Now()}}}
		for _, it := range q.items {
			if it.err == nil && it.c.Kind == ChangeWrite && it.c.Revision <= rev {
				continue
			}
			kept = append(kept, it)
		}
		q.items = kept
		q.last[ns] = max(q.last[ns], rev)
		q.signal()
	case o.hasSince:
		q.last[ns] = max(q.last[ns], o.since)
	case known:
		q.last[ns] = max(q.last[ns], rev)
	}
}

// noteLocked records the revision a change leaves its namespace at.
func (q *feedQueue) noteLocked(c Change) {
	if c.Namespace != "" && (c.Kind == ChangeWrite || c.Kind == ChangeGap) && c.Revision > 0 {
		q.last[c.Namespace] = max(q.last[c.Namespace], c.Revision)
	}
}

// loseLocked folds a change that does not fit into its namespace's gap.
func (q *feedQueue) loseLocked(c Change) {
	if q.lost == nil {
		q.lost = map[string]*Change{}
	}
	g := q.lost[c.Namespace]
	if g == nil {
		from := q.last[c.Namespace] // 0, unknown, when absent
		g = &Change{Namespace: c.Namespace, Kind: ChangeGap, FromRevision: from, Revision: from}
		q.lost[c.Namespace] = g
	}
	g.Time = c.Time
	if c.Revision > g.Revision && c.Kind != ChangeCheckpoint {
		g.Revision = c.Revision
	}
	if c.Kind == ChangeWrite {
		g.Keys = mergeSorted(g.Keys, c.Keys)
		g.Deleted = mergeSorted(g.Deleted, c.Deleted)
	}
	q.noteLocked(c)
	q.signal()
}

// mergeSorted is the sorted union of a and b.
func mergeSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func (q *feedQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next waits for the next change; ok is false when ctx ended.
func (q *feedQueue) next(ctx context.Context) (Change, error, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = feedItem{}
			q.items = q.items[1:]
			q.mu.Unlock()
			return it.c, it.err, true
		}
		if q.lost != nil {
			// Caught up: report the gaps, in namespace order, and queue
			// normally again.
			names := make([]string, 0, len(q.lost))
			for n := range q.lost {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				q.items = append(q.items, feedItem{c: *q.lost[n]})
			}
			q.lost = nil
			q.mu.Unlock()
			continue
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return Change{}, nil, false
		case <-q.wake:
		}
	}
}
