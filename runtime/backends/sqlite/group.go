package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	"github.com/stategen/stategen/runtime"
)

// Group commit. SQLite has one writer at a time and, at synchronous=FULL,
// every commit waits for its fsync: writers that each commit alone are
// bounded by the disk's fsyncs per second, however many there are. So
// concurrent Applies share commits: the first writer to find no commit
// under way leads, and runs alone (a lone writer pays nothing for this);
// writers that arrive while a commit is under way queue, and when it ends
// the first of them leads all that queued, in one transaction and one
// fsync. Each batch runs in a savepoint of its own, so that one failing
// its conditions is rolled back alone and keeps its atomicity, and each
// caller returns only after the commit that made its batch durable.

// committer queues batches and hands out the lead.
type committer struct {
	b *Backend

	mu    sync.Mutex
	busy  bool       // a leader is committing
	queue []*pending // waiting for the next commit

	shared atomic.Int64 // commits that carried more than one batch (for tests)
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
	c.mu.Lock()
	if !c.busy {
		c.busy = true
		c.mu.Unlock()
		rev, err := c.b.applyAlone(ctx, ns, batch)
		c.handOver()
		return rev, err
	}
	p := &pending{ns: ns, batch: batch, done: make(chan struct{})}
	c.queue = append(c.queue, p)
	c.mu.Unlock()
	select {
	case <-p.done:
	case <-ctx.Done():
		c.mu.Lock()
		for i, q := range c.queue {
			if q == p && !p.lead { // not taken yet: nothing was written
				c.queue = append(c.queue[:i], c.queue[i+1:]...)
				c.mu.Unlock()
				return 0, runtime.NotApplied(ctx.Err())
			}
		}
		c.mu.Unlock()
		<-p.done // taken, or made the leader, which must lead
	}
	if !p.lead {
		return p.rev, p.err
	}
	// Lead everything that queued, this batch included: the commit is
	// everyone's, so it runs whatever the leader's context does.
	c.mu.Lock()
	group := c.queue
	c.queue = nil
	c.mu.Unlock()
	c.b.applyGroup(context.WithoutCancel(ctx), group)
	for _, q := range group {
		if q != p {
			close(q.done)
		}
	}
	c.handOver()
	return p.rev, p.err
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
	next.lead = true
	close(next.done)
}

// applyGroup writes the batches in one transaction, each in a savepoint,
// and sets each one's result. A batch that fails is rolled back to its
// savepoint and the others go on; if the commit fails, every batch that
// had succeeded fails with it (none of them was written).
func (b *Backend) applyGroup(ctx context.Context, group []*pending) {
	if len(group) == 1 {
		p := group[0]
		p.rev, p.err = b.applyAlone(ctx, p.ns, p.batch)
		return
	}
	b.commits.shared.Add(1)
	fail := func(err error) {
		for _, p := range group {
			if p.err == nil {
				p.rev, p.err = 0, err
			}
		}
	}
	for _, p := range group {
		b.upserts.prepare(ctx, b.write, p.batch.Puts)
	}
	tx, err := b.write.BeginTx(ctx, nil)
	if err != nil {
		fail(classify(err))
		return
	}
	defer tx.Rollback()
	for _, p := range group {
		if p.err = savepoint(ctx, tx, b.sp.begin); p.err != nil {
			fail(p.err)
			return
		}
		p.rev, p.err = b.applyTx(ctx, tx, p.ns, p.batch)
		if p.err != nil {
			if err := savepoint(ctx, tx, b.sp.undo); err != nil {
				fail(err)
				return
			}
		}
		if err := savepoint(ctx, tx, b.sp.release); err != nil {
			fail(err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(classify(err))
	}
}

// savepoint runs one of the prepared savepoint statements (b.sp) in tx.
func savepoint(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt) error {
	_, err := tx.StmtContext(ctx, stmt).ExecContext(ctx)
	return classify(err)
}
