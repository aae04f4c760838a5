package sqlite

import (
	"context"
	"fmt"

	"github.com/stategen/stategen/runtime"
)

var _ runtime.Dropper = (*Backend)(nil)

// Drop deletes a namespace's rows from every table in one immediate
// transaction, which first checks ifRevision. Its revisions start over
// with the next write.
func (b *Backend) Drop(ctx context.Context, ns string, ifRevision int64) error {
	tx, err := b.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var live, rev int64
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM entries WHERE ns = ?1 AND key != '' AND value IS NOT NULL) +
		(SELECT COUNT(*) FROM schemas WHERE ns = ?1 AND `+hasSchema+`) +
		(SELECT COUNT(*) FROM checkpoints WHERE ns = ?1),
		(SELECT COALESCE(MAX(revision), 0) FROM entries WHERE ns = ?1)`, ns).Scan(&live, &rev); err != nil {
		return classify(err)
	}
	switch {
	case live == 0:
		return runtime.ErrNotFound
	case ifRevision > 0 && rev != ifRevision:
		return fmt.Errorf("namespace: %w: expected revision %d, found %d", runtime.ErrConflict, ifRevision, rev)
	}
	for _, table := range []string{"entries", "schemas", "checkpoints", "checkpoint_entries"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE ns = ?`, ns); err != nil {
			return classify(err)
		}
	}
	return classify(tx.Commit())
}
