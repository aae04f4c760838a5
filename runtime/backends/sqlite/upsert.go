package sqlite

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"

	"github.com/stategen/stategen/runtime"
)

// maxRowsPerUpsert bounds the rows of one upsert statement (three
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
// cost a whole-struct save most of its time.
func (b *Backend) upsertMany(ctx context.Context, tx *sql.Tx, ns string, puts []runtime.KV, rev, now int64) error {
	rows := make([]any, 0, 3+2*min(len(puts)+1, maxRowsPerUpsert))
	for start := 0; start <= len(puts); start += maxRowsPerUpsert {
		chunk := puts[start:min(start+maxRowsPerUpsert, len(puts))]
		rows = append(rows[:0], ns, rev, now)
		for _, kv := range chunk {
			rows = append(rows, kv.Key, string(kv.Value))
		}
		n := len(chunk)
		if start+maxRowsPerUpsert > len(puts) { // the last statement carries the marker
			rows = append(rows, "", nil)
			n++
		}
		var err error
		if stmt := b.upserts.lookup(n); stmt != nil {
			_, err = tx.StmtContext(ctx, stmt).ExecContext(ctx, rows...)
		} else {
			_, err = tx.ExecContext(ctx, upsertSQL(n), rows...)
		}
		if err != nil {
			return classify(err)
		}
	}
	return nil
}

// upsertSQL is the upsert of n rows: ?1 the namespace, ?2 the revision, ?3
// the time, then each row's key and value.
func upsertSQL(n int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO entries (ns, key, value, revision, updated) VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?1, ?")
		q.WriteString(strconv.Itoa(4 + 2*i))
		q.WriteString(", ?")
		q.WriteString(strconv.Itoa(5 + 2*i))
		q.WriteString(", ?2, ?3)")
	}
	q.WriteString(" ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated")
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
	if n > preparedRows || c.lookup(n) != nil {
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
