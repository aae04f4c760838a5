package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/stategen/stategen/runtime"
)

var _ runtime.LabelIndex = (*Backend)(nil)

// Labelled reads a page of the namespaces carrying a label from the
// partial index entries_labels (key, value, ns).
func (b *Backend) Labelled(ctx context.Context, key string, value json.RawMessage, after string, limit int) ([]string, string, error) {
	rows, err := b.pool.Query(ctx, b.sql.labelled, key, string(value), after, limit)
	if err != nil {
		return nil, "", b.fail(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, "", b.fail(err)
	}
	next := ""
	if len(out) == limit && limit > 0 {
		next = out[len(out)-1]
	}
	return out, next, nil
}
