package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/stategen/stategen/runtime"
)

var _ runtime.Dropper = (*Backend)(nil)

// Drop deletes a namespace from every table in one transaction. Its first
// statement deletes the namespace's row, which every write locks first: a
// write in flight finishes before it, and one that comes after finds no
// row and starts a new namespace once the drop commits. Its revisions
// start over.
// With ifRevision above 0, a namespace whose revision is another is left
// as it is (the transaction rolls back) and the error is ErrConflict.
func (b *Backend) Drop(ctx context.Context, ns string, ifRevision int64) error {
	if b.readOnly {
		return fmt.Errorf("postgres: %w", runtime.ErrReadOnly)
	}
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var live bool
		var rev int64
		err := tx.QueryRow(ctx, b.sql.dropLock, ns).Scan(&live, &rev)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || err == nil && !live:
			return runtime.ErrNotFound
		case err != nil:
			return err
		case ifRevision > 0 && rev != ifRevision:
			return fmt.Errorf("namespace: %w: expected revision %d, found %d", runtime.ErrConflict, ifRevision, rev)
		}
		_, err = tx.Exec(ctx, b.sql.drop, ns)
		return err
	})
	if errors.Is(err, runtime.ErrNotFound) || errors.Is(err, runtime.ErrConflict) {
		return err // decided here, nothing to classify
	}
	return b.fail(err)
}
