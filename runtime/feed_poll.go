package runtime

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"maps"
	"slices"
	"time"
)

// The polling feed, for backends without a Feeder: each interval, a Stamp
// of every watched namespace; a read (Snapshot and Checkpoints) of those
// whose stamp moved, compared with the view of the last read.
//
// What a comparison can prove: keys whose revision is above the last one
// seen were written since, keys no longer there were removed since. When
// the revision grew by exactly one, that is exactly one write, reported as
// a ChangeWrite; by more, the writes in between cannot be told apart (a key
// written twice, one written and removed), and the change is reported as a
// ChangeGap listing what is known. A namespace whose last key was removed
// no longer exists, and its revision cannot be read: that is a gap to an
// unknown revision (0) listing the keys removed.

// nsView is what the polling feed last saw of a namespace.
type nsView struct {
	stamp   Stamp
	stamped bool
	// exists: the namespace holds keys or a schema; rev is then its
	// revision, and keys the revisions of its keys (nil when unknown, as
	// after WatchSince).
	exists bool
	rev    int64
	// revKnown: rev is the namespace's current revision (false once it
	// stopped existing: its revisions go on, unseen).
	revKnown bool
	keys     map[string]int64
	schema   SchemaRef
	// cps are its checkpoints by name; nil when unknown.
	cps map[string]CheckpointInfo
}

// watchPoll is Watch over the polling feed.
func (s *Store) watchPoll(ctx context.Context, ns string, o watchOptions) iter.Seq2[Change, error] {
	p := &poller{s: s, ns: ns, views: map[string]*nsView{}}
	startErr := p.start(ctx, o)
	return func(yield func(Change, error) bool) {
		if startErr != nil {
			yield(Change{}, startErr)
			return
		}
		t := time.NewTimer(o.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for c, err := range p.poll(ctx) {
				if ctx.Err() != nil {
					return
				}
				if !yield(c, err) {
					return
				}
			}
			t.Reset(o.interval)
		}
	}
}

type poller struct {
	s     *Store
	ns    string // "" for the whole store
	views map[string]*nsView
}

// start reads the starting point: the views of the watched namespaces.
func (p *poller) start(ctx context.Context, o watchOptions) error {
	names := []string{p.ns}
	if p.ns == "" {
		var err error
		if names, err = p.s.Namespaces(ctx); err != nil {
			return err
		}
	}
	for _, n := range names {
		v, err := p.read(ctx, n)
		if err != nil {
			return err
		}
		if o.hasSince && o.since > 0 && (!v.exists || v.rev != o.since) {
			// Report from since on: the keys (and schema) the namespace
			// had then are unknown, and it is read again at the first poll.
			v = &nsView{exists: true, rev: o.since, revKnown: true, cps: v.cps, schema: v.schema}
		}
		p.views[n] = v
	}
	return nil
}

// read reads a namespace's view, its stamp taken first so that a write
// during the read moves the next one.
func (p *poller) read(ctx context.Context, ns string) (*nsView, error) {
	v := &nsView{}
	if p.s.stamper != nil {
		st, err := p.stamp(ctx, ns)
		if err != nil {
			return nil, err
		}
		v.stamp, v.stamped = st, true
	}
	snap, err := p.s.Snapshot(ctx, ns)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, err
	default:
		v.exists, v.rev, v.revKnown, v.schema = true, snap.Revision, true, snap.Schema
		v.keys = make(map[string]int64, len(snap.Values))
		for k, val := range snap.Values {
			v.keys[k] = val.Revision
		}
	}
	cps, err := p.s.Checkpoints(ctx, ns)
	if err != nil {
		return nil, err
	}
	v.cps = make(map[string]CheckpointInfo, len(cps))
	for _, cp := range cps {
		v.cps[cp.Name] = cp
	}
	return v, nil
}

func (p *poller) stamp(ctx context.Context, ns string) (Stamp, error) {
	var st Stamp
	err := p.s.do(ctx, "stamp", ns, "", func() (err error) {
		st, err = p.s.stamper.Stamp(ctx, ns)
		return err
	})
	return st, err
}

// poll looks at every watched namespace once and yields what changed.
func (p *poller) poll(ctx context.Context) iter.Seq2[Change, error] {
	return func(yield func(Change, error) bool) {
		names := []string{p.ns}
		if p.ns == "" {
			listed, err := p.s.Namespaces(ctx)
			if err != nil {
				yield(Change{}, err)
				return
			}
			// Those listed, and those seen before that are not any more.
			names = slices.Sorted(maps.Keys(p.views))
			for _, n := range listed {
				if _, ok := p.views[n]; !ok {
					names = append(names, n)
				}
			}
			slices.Sort(names)
		}
		for _, n := range names {
			old := p.views[n]
			if old == nil {
				// New to the whole store's watch: it did not exist when
				// last looked at, with no checkpoint.
				old = &nsView{revKnown: true, keys: map[string]int64{}, cps: map[string]CheckpointInfo{}}
			}
			if old.stamped && p.s.stamper != nil {
				st, err := p.stamp(ctx, n)
				if err != nil {
					if !yield(Change{}, err) {
						return
					}
					continue
				}
				if st == old.stamp {
					continue
				}
			}
			cur, err := p.read(ctx, n)
			if err != nil {
				if !yield(Change{}, err) {
					return
				}
				continue
			}
			changes := compareViews(n, old, cur, time.Now())
			if !cur.exists && len(cur.cps) == 0 && p.ns == "" {
				delete(p.views, n) // gone from the store: new again if it comes back
			} else {
				p.views[n] = cur
			}
			for _, c := range changes {
				if !yield(c, nil) {
					return
				}
			}
		}
	}
}

// compareViews lists the changes from old to cur, and completes cur with
// what old knew that cur cannot (the revision of a namespace gone).
func compareViews(ns string, old, cur *nsView, now time.Time) []Change {
	var out []Change
	if w, ok := compareWrites(ns, old, cur, now); ok {
		out = append(out, w)
	}
	if !cur.exists {
		cur.rev = old.rev // the last one known
	}
	if old.cps != nil {
		for _, name := range slices.Sorted(maps.Keys(old.cps)) {
			if _, ok := cur.cps[name]; !ok {
				out = append(out, Change{Namespace: ns, Kind: ChangeCheckpoint, Revision: cur.rev, Checkpoint: name, CheckpointOp: CheckpointDeleted, Time: now})
			}
		}
		var created []CheckpointInfo
		for name, cp := range cur.cps {
			if was, ok := old.cps[name]; !ok || !was.Created.Equal(cp.Created) || was.Revision != cp.Revision {
				created = append(created, cp)
			}
		}
		slices.SortFunc(created, func(a, b CheckpointInfo) int {
			return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Name, b.Name))
		})
		for _, cp := range created {
			out = append(out, Change{Namespace: ns, Kind: ChangeCheckpoint, Revision: cp.Revision, Checkpoint: cp.Name, CheckpointOp: CheckpointCreated, Time: now})
		}
	}
	return out
}

// compareWrites is the write (or the gap) that took a namespace from old
// to cur, if any.
func compareWrites(ns string, old, cur *nsView, now time.Time) (Change, bool) {
	c := Change{Namespace: ns, Kind: ChangeWrite, Revision: cur.rev, Time: now}
	switch {
	case !old.exists && !cur.exists:
		return c, false
	case old.exists && !cur.exists:
		// Emptied: every key removed, at a revision no read can tell.
		c.Kind, c.FromRevision, c.Revision = ChangeGap, old.rev, 0
		c.Deleted = slices.Sorted(maps.Keys(old.keys))
		c.Schema = !old.schema.IsZero()
		return c, true
	case cur.rev == old.rev && old.exists:
		return c, false
	}
	// Keys above the last revision seen were written since (all of them
	// when the namespace did not exist, or its revisions started again
	// lower than before: its files replaced).
	restarted := cur.rev < old.rev
	since := old.rev
	if !old.exists || restarted {
		since = 0
	}
	for k, r := range cur.keys {
		if r > since {
			c.Keys = append(c.Keys, k)
		}
	}
	slices.Sort(c.Keys)
	for k := range old.keys {
		if _, ok := cur.keys[k]; !ok {
			c.Deleted = append(c.Deleted, k)
		}
	}
	slices.Sort(c.Deleted)
	c.Schema = !old.schema.Equal(cur.schema)
	// Exactly one write: one revision more than a namespace whose keys
	// were known, or the first revision of all (revisions only grow, so a
	// namespace at 1 was never written before).
	exact := old.exists && old.revKnown && old.keys != nil && cur.rev == old.rev+1 ||
		!old.exists && cur.rev == 1
	if !exact {
		c.Kind, c.FromRevision = ChangeGap, old.rev
		if restarted {
			c.FromRevision = 0
		}
	}
	return c, true
}
