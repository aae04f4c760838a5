package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"sync"

	"github.com/stategen/stategen/runtime"
)

// maxRowsPerUpsert bounds the rows of one upsert statement (two
// parameters each, far below SQLite's 32766), and preparedRows the row
// counts whose statements are kept prepared: whole-struct saves put one
// row per field.
const (
	maxRowsPerUpsert = 500
	preparedRows     = 64
)

// upsertMany stores puts, and the namespace's marker row (the empty key,
// which carries the revision even when no key changed), at revision rev:
// one statement for up to maxRowsPerUpsert rows, where a statement per row
// cost a whole-struct save most of its time. Statements of up to
// preparedRows rows, and of maxRowsPerUpsert, stay prepared.
func (b *Backend) upsertMany(ctx context.Context, tx *sql.Tx, ns string, puts []runtime.KV, rev, now int64) error {
	total := len(puts) + 1 // the marker last
	args := make([]any, 0, 3+2*min(total, maxRowsPerUpsert))
	for start := 0; start < total; start += maxRowsPerUpsert {
		n := min(total-start, maxRowsPerUpsert)
		args = append(args[:0], ns, rev, now)
		for i := start; i < start+n; i++ {
			if i < len(puts) {
				args = append(args, puts[i].Key, string(puts[i].Value))
			} else {
				args = append(args, "", nil)
			}
		}
		var err error
		if stmt := b.upserts.lookup(n); stmt != nil {
			_, err = tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, upsertSQL(n), args...)
		}
		if err != nil {
			return classify(err)
		}
	}
	return nil
}

// upsertSQL is the upsert of n rows at one revision and time: the
// namespace, revision and time are bound once (?1, ?2, ?3), then each row
// as two parameters (key, value). Every parameter bound costs the driver a
// call into SQLite and, for text, a copy into C memory.
func upsertSQL(n int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO entries (ns, key, value, revision, updated) SELECT ?1, column1, column2, ?2, ?3 FROM (VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?, ?)")
	}
	// WHERE true: without it SQLite would read ON CONFLICT as a join's.
	q.WriteString(") WHERE true ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated")
	return q.String()
}

// stmtCache keeps the upserts prepared, by row count. Statements are
// prepared on the write pool, whose one connection a transaction holds:
// prepare (before the transaction begins) and look up (within it) are
// apart.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[int]*sql.Stmt
}

// prepare makes sure the upsert that stores puts (and the marker) is
// prepared, if it is of a size kept prepared. A failure only leaves it
// unprepared.
func (c *stmtCache) prepare(ctx context.Context, db *sql.DB, puts []runtime.KV) {
	n := len(puts) + 1
	if n > maxRowsPerUpsert {
		c.prepare(ctx, db, puts[:n-1-maxRowsPerUpsert]) // the last chunk's
		n = maxRowsPerUpsert                            // every other chunk's
	}
	if n > preparedRows && n != maxRowsPerUpsert || c.lookup(n) != nil {
		return
	}
	s, err := db.PrepareContext(ctx, upsertSQL(n))
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stmts == nil {
		c.stmts = map[int]*sql.Stmt{}
	}
	if _, dup := c.stmts[n]; dup {
		s.Close()
		return
	}
	c.stmts[n] = s
}

// lookup returns the prepared upsert of n rows, or nil.
func (c *stmtCache) lookup(n int) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[n]
}
