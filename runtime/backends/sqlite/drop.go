package sqlite

import (
	"context"

	"github.com/stategen/stategen/runtime"
)

var _ runtime.Dropper = (*Backend)(nil)

// Drop deletes a namespace's rows from every table in one immediate
// transaction. Its revisions start over with the next write.
func (b *Backend) Drop(ctx context.Context, ns string) error {
	tx, err := b.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var live int64
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM entries WHERE ns = ?1 AND key != '' AND value IS NOT NULL) +
		(SELECT COUNT(*) FROM schemas WHERE ns = ?1 AND `+hasSchema+`) +
		(SELECT COUNT(*) FROM checkpoints WHERE ns = ?1)`, ns).Scan(&live); err != nil {
		return classify(err)
	}
	if live == 0 {
		return runtime.ErrNotFound
	}
	for _, table := range []string{"entries", "schemas", "checkpoints", "checkpoint_entries"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE ns = ?`, ns); err != nil {
			return classify(err)
		}
	}
	return classify(tx.Commit())
}
