package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/stategen/stategen/runtime"
)

// The statements of CopyCheckpoint, prepared on the write pool.
const (
	// sqlRunHead reads what a checkpoint records of a run besides its
	// values: its reserved keys' rows, its schema's row (a NULL key), then
	// one row ('' key) with its revision, the time of its last write and,
	// in the last column, how many keys of the user's it holds.
	sqlRunHead = `SELECT key, value, revision, updated, NULL, NULL FROM entries
			WHERE ns = ?1 AND key LIKE '\_\_%' ESCAPE '\' AND value IS NOT NULL
		UNION ALL SELECT NULL, name, version, 0, info, NULL FROM schemas WHERE ns = ?1 AND ` + hasSchema + `
		UNION ALL SELECT '', NULL, COALESCE(MAX(revision), 0),
			COALESCE(MAX(CASE WHEN key != '' AND value IS NOT NULL THEN updated END), 0), NULL,
			COUNT(CASE WHEN ` + liveUserKey + ` THEN 1 END)
		FROM entries WHERE ns = ?1`
	sqlCheckpointRow = `INSERT OR REPLACE INTO checkpoints (ns, name, created, revision, schema_name, schema_version, keys, schema_info)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	sqlClearCheckpoint = `DELETE FROM checkpoint_entries WHERE ns = ?1 AND name = ?2`
	sqlCopyCheckpoint  = `INSERT INTO checkpoint_entries (ns, name, key, value, revision, updated)
		SELECT ns, ?2, key, value, revision, updated FROM entries WHERE ns = ?1 AND ` + liveUserKey
	// Damage is refused, not copied, as Snapshot would refuse it.
	sqlCheckpointDamage = `SELECT key FROM checkpoint_entries WHERE ns = ?1 AND name = ?2 AND NOT json_valid(value) LIMIT 1`
)

// PutCheckpoint stores a checkpoint, replacing one of the same name.
func (b *Backend) PutCheckpoint(ctx context.Context, ns string, cp *runtime.Checkpoint) error {
	info, err := encodeCheckpointInfo(cp.CheckpointInfo)
	if err != nil {
		return fmt.Errorf("sqlite: encode schema: %w", err)
	}
	tx, err := b.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM checkpoint_entries WHERE ns = ? AND name = ?`, ns, cp.Name); err != nil {
		return classify(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO checkpoints (ns, name, created, revision, schema_name, schema_version, keys, schema_info) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ns, cp.Name, cp.Created.UnixNano(), cp.Revision, cp.Schema.Name, cp.Schema.Version, len(cp.Values), info); err != nil {
		return classify(err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO checkpoint_entries (ns, name, key, value, revision, updated) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return classify(err)
	}
	defer ins.Close()
	for k, v := range cp.Values {
		if _, err := ins.ExecContext(ctx, ns, cp.Name, k, string(v.Data), v.Revision, v.Updated.UnixNano()); err != nil {
			return classify(err)
		}
	}
	return classify(tx.Commit())
}

// cpColumns are the columns of a checkpoints row that scanInfo reads: its
// bookkeeping, then the schema's keys and the checkpoint's meta (NULL from
// a database that predates them). Its values are not read: they are
// checked when the checkpoint is read (GetCheckpoint) and were checked when
// it was written, so that listing costs the same whatever their size.
func (b *Backend) cpColumns() string {
	return `name, created, revision, schema_name, schema_version, keys, ` + b.infoColumn("schema_info")
}

// scanInfo reads a checkpoints row selected with cpColumns. A row that
// cannot be read (bookkeeping of the wrong type or not JSON) gives an error
// wrapping runtime.ErrCorrupt, and the name when it could be read.
func (b *Backend) scanInfo(scan func(...any) error) (runtime.CheckpointInfo, error) {
	var info runtime.CheckpointInfo
	var created, revision, version, keys, schema any
	var schemaKeys sql.NullString
	if err := scan(&info.Name, &created, &revision, &schema, &version, &keys, &schemaKeys); err != nil {
		return info, classify(err)
	}
	where := "checkpoint " + info.Name
	c, ok1 := created.(int64)
	r, ok2 := revision.(int64)
	v, ok3 := version.(int64)
	k, ok4 := keys.(int64)
	name, ok5 := schema.(string)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return info, runtime.Corrupt(where, fmt.Errorf("bookkeeping of the wrong type (created %T, revision %T, schema %T %T, keys %T)", created, revision, schema, version, keys))
	}
	info.Created, info.Revision, info.Keys = time.Unix(0, c), r, int(k)
	info.Schema = runtime.SchemaRef{Name: name, Version: int(v)}
	var err error
	if info.CheckpointMeta, err = decodeMeta(where, &info.Schema, schemaKeys); err != nil {
		return info, err
	}
	return info, nil
}

// GetCheckpoint reads one checkpoint in one read transaction.
func (b *Backend) GetCheckpoint(ctx context.Context, ns, name string) (*runtime.Checkpoint, error) {
	tx, err := b.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, classify(err)
	}
	defer tx.Rollback()
	info, err := b.scanInfo(tx.QueryRowContext(ctx, `SELECT `+b.cpColumns()+` FROM checkpoints WHERE ns = ? AND name = ?`, ns, name).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, runtime.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	cp := &runtime.Checkpoint{CheckpointInfo: info}
	cp.Values, err = readValues(ctx, tx, `SELECT key, value, revision, updated FROM checkpoint_entries WHERE ns = ? AND name = ?`, ns, name)
	if err != nil {
		return nil, err
	}
	return cp, nil
}

// Checkpoints lists a namespace's checkpoints; one that cannot be read is
// listed with its name and the error.
func (b *Backend) Checkpoints(ctx context.Context, ns string) ([]runtime.CheckpointInfo, error) {
	return b.listCheckpoints(ctx, b.read, ns)
}

// listCheckpoints is Checkpoints through q (the read pool, or a write
// transaction).
func (b *Backend) listCheckpoints(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, ns string) ([]runtime.CheckpointInfo, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+b.cpColumns()+` FROM checkpoints WHERE ns = ?`, ns)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []runtime.CheckpointInfo
	for rows.Next() {
		info, err := b.scanInfo(rows.Scan)
		switch {
		case errors.Is(err, runtime.ErrCorrupt):
			out = append(out, runtime.CheckpointInfo{Name: info.Name, Err: err})
		case err != nil:
			return nil, err
		default:
			out = append(out, info)
		}
	}
	return out, classify(rows.Err())
}

// DeleteCheckpoint removes one checkpoint.
func (b *Backend) DeleteCheckpoint(ctx context.Context, ns, name string) error {
	tx, err := b.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deleteCheckpoint(ctx, tx, ns, name); err != nil {
		return err
	}
	return classify(tx.Commit())
}

// beginWrite begins a write transaction; ErrReadOnly on a read-only store.
func (b *Backend) beginWrite(ctx context.Context) (*sql.Tx, error) {
	if b.readOnly {
		return nil, fmt.Errorf("sqlite: %s: %w", b.path, runtime.ErrReadOnly)
	}
	tx, err := b.write.BeginTx(ctx, nil)
	return tx, classify(err)
}

// deleteCheckpoint removes one checkpoint in tx; a missing one is
// runtime.ErrNotFound.
func deleteCheckpoint(ctx context.Context, tx *sql.Tx, ns, name string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM checkpoints WHERE ns = ? AND name = ?`, ns, name)
	if err != nil {
		return classify(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return runtime.ErrNotFound
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM checkpoint_entries WHERE ns = ? AND name = ?`, ns, name)
	return classify(err)
}

// CopyCheckpoint copies the namespace into a checkpoint in one write
// transaction, its values going from table to table inside SQLite: the
// run's head read (its reserved keys, schema, revision, last write), the
// checkpoint's row written, its values copied (INSERT … SELECT) and
// checked, and the checkpoints keep does not keep removed.
func (b *Backend) CopyCheckpoint(ctx context.Context, ns string, info runtime.CheckpointInfo, keep runtime.Retention) (runtime.CheckpointInfo, error) {
	tx, err := b.beginWrite(ctx)
	if err != nil {
		return info, err
	}
	defer tx.Rollback()
	head, keys, err := b.runHead(ctx, tx, ns)
	if err != nil {
		return info, err
	}
	run := head.RunInfo()
	if keys == 0 && head.Schema.IsZero() || run.Expired(info.Created) {
		return info, runtime.ErrNotFound
	}
	info.Revision, info.Schema, info.Keys, info.Restored = head.Revision, head.Schema, keys, run.Restored
	schemaInfo, err := encodeCheckpointInfo(info)
	if err != nil {
		return info, fmt.Errorf("sqlite: encode schema: %w", err)
	}
	if _, err := tx.StmtContext(ctx, b.cp.row).ExecContext(ctx, ns, info.Name, info.Created.UnixNano(), info.Revision,
		info.Schema.Name, info.Schema.Version, keys, schemaInfo); err != nil {
		return info, classify(err)
	}
	for _, stmt := range []*sql.Stmt{b.cp.clear, b.cp.copy} {
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, ns, info.Name); err != nil {
			return info, classify(err)
		}
	}
	var bad string
	switch err := tx.StmtContext(ctx, b.cp.damage).QueryRowContext(ctx, ns, info.Name).Scan(&bad); {
	case err == nil:
		return info, runtime.Corrupt("key "+bad, errors.New("stored value is not valid JSON"))
	case !errors.Is(err, sql.ErrNoRows):
		return info, classify(err)
	}
	if err := b.retain(ctx, tx, ns, info, keep); err != nil {
		return info, err
	}
	return info, classify(tx.Commit())
}

// runHead reads, in tx, a run's reserved keys, schema, revision and last
// write (as Snapshot, without the user's values) and how many keys of the
// user's it holds.
func (b *Backend) runHead(ctx context.Context, tx *sql.Tx, ns string) (*runtime.Snapshot, int, error) {
	rows, err := tx.StmtContext(ctx, b.cp.head).QueryContext(ctx, ns)
	if err != nil {
		return nil, 0, classify(err)
	}
	defer rows.Close()
	head := &runtime.Snapshot{Namespace: ns, Values: map[string]runtime.Value{}}
	keys := 0
	for rows.Next() {
		var key, info sql.NullString
		var data []byte
		var rev, updated int64
		var n sql.NullInt64
		if err := rows.Scan(&key, &data, &rev, &updated, &info, &n); err != nil {
			return nil, 0, runtime.Corrupt("namespace "+ns, err)
		}
		switch {
		case !key.Valid: // the schema's row
			head.Schema.Name, head.Schema.Version = string(data), int(rev)
			if err := decodeInfo("namespace "+ns, &head.Schema, info); err != nil {
				return nil, 0, err
			}
		case key.String == "": // the aggregates
			head.Revision, keys = rev, int(n.Int64)
			if updated != 0 {
				head.Updated = time.Unix(0, updated)
			}
		default:
			if err := checkJSON(key.String, data); err != nil {
				return nil, 0, err
			}
			head.Values[key.String] = runtime.Value{Data: data, Revision: rev, Updated: time.Unix(0, updated)}
		}
	}
	return head, keys, classify(rows.Err())
}

// retain removes, in tx, the checkpoints of ns that keep does not keep,
// never the one just written (cp), which counts as the newest. A
// checkpoint whose bookkeeping cannot be read is kept, as Prune keeps it.
func (b *Backend) retain(ctx context.Context, tx *sql.Tx, ns string, cp runtime.CheckpointInfo, keep runtime.Retention) error {
	if keep == (runtime.Retention{}) {
		return nil
	}
	list, err := b.listCheckpoints(ctx, tx, ns)
	if err != nil {
		return err
	}
	readable := list[:0]
	for _, c := range list {
		if c.Err == nil && c.Name != cp.Name {
			readable = append(readable, c)
		}
	}
	sort.Slice(readable, func(i, j int) bool {
		if !readable[i].Created.Equal(readable[j].Created) {
			return readable[i].Created.Before(readable[j].Created)
		}
		return readable[i].Name < readable[j].Name
	})
	for _, c := range keep.Doomed(append(readable, cp), cp.Created) {
		if c.Name == cp.Name {
			continue
		}
		if err := deleteCheckpoint(ctx, tx, ns, c.Name); err != nil {
			return err
		}
	}
	return nil
}
