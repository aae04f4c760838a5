package sqlite

import (
	"context"
	"encoding/json"

	"github.com/stategen/stategen/runtime"
)

var _ runtime.LabelIndex = (*Backend)(nil)

// Labelled reads a page of the namespaces carrying a label from the
// partial index entries_labels (key, value, ns): a range scan whose cost
// follows the page, not the store.
func (b *Backend) Labelled(ctx context.Context, key string, value json.RawMessage, after string, limit int) ([]string, string, error) {
	rows, err := b.read.QueryContext(ctx, `SELECT ns FROM entries INDEXED BY entries_labels
		WHERE `+labelRows+` AND key = ? AND value = ? AND ns > ? ORDER BY ns LIMIT ?`, key, string(value), after, limit)
	if err != nil {
		return nil, "", classify(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ns string
		if err := rows.Scan(&ns); err != nil {
			return nil, "", classify(err)
		}
		out = append(out, ns)
	}
	if err := rows.Err(); err != nil {
		return nil, "", classify(err)
	}
	next := ""
	if len(out) == limit && limit > 0 {
		next = out[len(out)-1]
	}
	return out, next, nil
}
