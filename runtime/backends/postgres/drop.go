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
func (b *Backend) Drop(ctx context.Context, ns string) error {
	if b.readOnly {
		return fmt.Errorf("postgres: %w", runtime.ErrReadOnly)
	}
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var live bool
		err := tx.QueryRow(ctx, b.sql.dropLock, ns).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && !live {
			return runtime.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, b.sql.drop, ns)
		return err
	})
	if errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	return b.fail(err)
}
