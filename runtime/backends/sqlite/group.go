package sqlite

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/stategen/stategen/runtime"
)

// Group commit. SQLite has one writer at a time and, at synchronous=FULL,
// every commit waits for its fsync: writers that each commit alone are
// bounded by the disk's fsyncs per second, however many there are. So
// concurrent Applies share commits. The writer that finds no commit under
// way leads: it begins a transaction, writes its own batch, then writes
// into the same transaction every batch that queued meanwhile, until none
// is waiting, and commits them all with one fsync. When it is done, the
// first writer that queued after that leads the next commit. A lone writer
// finds nothing queued and commits alone, at the cost of two looks at an
// empty queue; under load, the writers a commit releases queue again
// while the next leader writes, and join its commit.
//
// Each caller returns only after the commit that made its batch durable,
// and each batch keeps its own conditions and atomicity: a batch checks
// its conditions before it writes anything, so one that fails them fails
// alone and the transaction goes on. A write that fails part way leaves
// part of its batch in the transaction: then the transaction is rolled
// back and each of its batches is written again in a transaction of its
// own, so that only the one that fails fails.

// maxShared bounds the batches one commit takes, so that under constant
// load the leader still commits (and returns) in bounded time.
const maxShared = 64

// committer queues batches and hands out the lead.
type committer struct {
	b *Backend

	mu    sync.Mutex
	busy  bool       // a leader is committing
	queue []*pending // waiting for a leader to take them

	shared   atomic.Int64 // commits that carried more than one batch (for tests)
	rewrites atomic.Int64 // shared commits rolled back and written batch by batch (for tests)
}

// pending is one Apply waiting in the queue.
type pending struct {
	ns    string
	batch *runtime.Batch
	rev   int64
	err   error
	lead  bool          // woken to lead the next commit, not with a result
	done  chan struct{} // closed when rev and err are set, or lead
}

// apply writes batch, alone or in a shared commit.
func (c *committer) apply(ctx context.Context, ns string, batch *runtime.Batch) (int64, error) {
	p := &pending{ns: ns, batch: batch}
	c.mu.Lock()
	if c.busy {
		p.done = make(chan struct{})
		c.queue = append(c.queue, p)
		c.mu.Unlock()
		if !c.await(ctx, p) {
			return 0, runtime.NotApplied(ctx.Err())
		}
		if !p.lead {
			return p.rev, p.err
		}
	} else {
		c.busy = true
		c.mu.Unlock()
	}
	for _, q := range c.b.lead(ctx, p, c.take) {
		close(q.done)
	}
	c.handOver()
	return p.rev, p.err
}

// await waits until a leader has written p or made it the next leader. It
// returns false if ctx ended while p was still queued: p has left the
// queue, and nothing of it was written.
func (c *committer) await(ctx context.Context, p *pending) bool {
	select {
	case <-p.done:
		return true
	case <-ctx.Done():
	}
	c.mu.Lock()
	if i := slices.Index(c.queue, p); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
		c.mu.Unlock()
		return false
	}
	c.mu.Unlock()
	<-p.done // taken into a commit, or made the leader, which must lead
	return true
}

// take hands the leader every batch queued so far.
func (c *committer) take() []*pending {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue = nil
	return q
}

// handOver ends a leader's turn: the first writer that queued meanwhile
// leads next, or the committer is idle.
func (c *committer) handOver() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.busy = false
		return
	}
	next := c.queue[0]
	c.queue = slices.Delete(c.queue, 0, 1)
	next.lead = true
	close(next.done)
}

// lead writes first's batch and, in the same transaction, the batches take
// returns while it is open, and commits them together. It returns the
// batches it took, each with its result set. The commit is everyone's, so
// it runs whatever the leader's context does; ctx bounds only the leader's
// own statements.
func (b *Backend) lead(ctx context.Context, first *pending, take func() []*pending) []*pending {
	group := take()
	if len(group) == 0 {
		if rev, ok, err := b.applyOneStatement(ctx, first.ns, first.batch); ok {
			first.rev, first.err = rev, err
			return nil
		}
	}
	shared := context.WithoutCancel(ctx)
	b.upserts.prepare(ctx, b.write, first.batch.Puts)
	for _, p := range group {
		b.upserts.prepare(shared, b.write, p.batch.Puts)
	}
	everyone := func(set func(p *pending)) {
		set(first)
		for _, p := range group {
			set(p)
		}
	}
	tx, err := b.write.BeginTx(shared, nil)
	if err != nil {
		everyone(func(p *pending) { p.err = classify(err) })
		return group
	}
	defer tx.Rollback()
	// whole: no write has failed part way. After the batches taken so
	// far, those that queued while the transaction ran.
	write := func(ctx context.Context, p *pending) (whole bool) {
		var partial bool
		p.rev, partial, p.err = b.applyTx(ctx, tx, p.ns, p.batch)
		return !partial
	}
	whole := write(ctx, first)
	for i := 0; whole; i++ {
		if i == len(group) {
			var more []*pending
			if len(group) < maxShared {
				more = take()
			}
			if len(more) == 0 {
				break
			}
			group = append(group, more...)
		}
		whole = write(shared, group[i])
	}
	if !whole {
		tx.Rollback()
		if len(group) == 0 {
			return nil // the leader's batch, alone, failed as alone
		}
		b.commits.rewrites.Add(1)
		first.rev, first.err = b.applyInTx(ctx, first.ns, first.batch)
		for _, p := range group {
			p.rev, p.err = b.applyInTx(shared, p.ns, p.batch)
		}
		return group
	}
	if len(group) > 0 {
		b.commits.shared.Add(1)
	}
	if err := tx.Commit(); err != nil {
		everyone(func(p *pending) {
			if p.err == nil {
				p.rev, p.err = 0, classify(err)
			}
		})
	}
	return group
}
