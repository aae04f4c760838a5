package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stategen/stategen/runtime"
)

// PutCheckpoint stores cp, replacing a checkpoint of the same name, in one
// transaction sent as one pipeline.
func (b *Backend) PutCheckpoint(ctx context.Context, ns string, cp *runtime.Checkpoint) error {
	if b.readOnly {
		return fmt.Errorf("postgres: %w", runtime.ErrReadOnly)
	}
	name, version, info, err := checkpointColumns(cp.CheckpointInfo)
	if err != nil {
		return fmt.Errorf("postgres: encode schema: %w", err)
	}
	data, err := encodeCheckpointData(cp.Values)
	if err != nil {
		return err
	}
	pb := &pgx.Batch{}
	pb.Queue(b.sql.touch, ns, time.Now().UnixNano())
	pb.Queue(b.sql.putCheckpoint, ns, cp.Name, cp.Created.UnixNano(), cp.Revision, name, version, info, len(cp.Values), data)
	pb.Queue(b.sql.dropCheckpointValues, ns, cp.Name)
	pb.Queue(b.sql.notifyCheckpoint, b.feedChannel(), ns, cp.Revision, cp.Name)
	return b.fail(b.pool.SendBatch(ctx, pb).Close())
}

// encodeCheckpointData is the data column of a checkpoint holding values:
// the JSON object {key: [value, revision, updated]}, each value's text as
// given, updated in unix nanoseconds (0: unknown), as CopyCheckpoint's
// statement builds it in the server.
func encodeCheckpointData(values map[string]runtime.Value) (string, error) {
	buf := []byte{'{'}
	for k, v := range values {
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		key, err := json.Marshal(k)
		if err != nil {
			return "", err
		}
		buf = append(append(append(buf, key...), ":["...), v.Data...)
		buf = strconv.AppendInt(append(buf, ','), v.Revision, 10)
		u := int64(0) // an unknown time; the nanoseconds of year 1 overflow
		if !v.Updated.IsZero() {
			u = v.Updated.UnixNano()
		}
		buf = append(strconv.AppendInt(append(buf, ','), u, 10), ']')
	}
	return string(append(buf, '}')), nil
}

// decodeCheckpointData reads a checkpoint's data column into values.
func decodeCheckpointData(where string, data []byte, values map[string]runtime.Value) error {
	var m map[string][]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return runtime.Corrupt(where, fmt.Errorf("its values: %w", err))
	}
	for k, e := range m {
		var rev, updated int64
		if len(e) != 3 || json.Unmarshal(e[1], &rev) != nil || json.Unmarshal(e[2], &updated) != nil {
			return runtime.Corrupt(where, fmt.Errorf("key %q: not [value, revision, updated]", k))
		}
		v := runtime.Value{Data: e[0], Revision: rev}
		if updated != 0 {
			v.Updated = time.Unix(0, updated)
		}
		values[k] = v
	}
	return nil
}

// CopyCheckpoint copies the namespace into a checkpoint in one statement,
// the values going from table to table inside the server, and removes the
// checkpoints keep does not keep in the same statement.
func (b *Backend) CopyCheckpoint(ctx context.Context, ns string, info runtime.CheckpointInfo, keep runtime.Retention) (runtime.CheckpointInfo, error) {
	if b.readOnly {
		return info, fmt.Errorf("postgres: %w", runtime.ErrReadOnly)
	}
	var labels *string
	if len(info.Labels) > 0 {
		js, err := json.Marshal(info.Labels)
		if err != nil {
			return info, err
		}
		s := string(js)
		labels = &s
	}
	var (
		sName, sInfo *string
		sVersion     *int32
		keys         int32
		ignored      any
	)
	err := b.pool.QueryRow(ctx, b.sql.copyCheckpoint, ns, info.Name, info.Created.UnixNano(), labels,
		int32(keep.KeepLast), int64(keep.MaxAge), b.feedChannel()).
		Scan(&info.Revision, &sName, &sVersion, &sInfo, &keys, &ignored, &ignored)
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return info, runtime.ErrNotFound
	case errors.As(err, &pe) && pe.Code == "22P02": // invalid_text_representation: a cast to json
		return info, runtime.Corrupt("namespace "+ns, errors.New("a stored value is not valid JSON"))
	case err != nil:
		return info, b.fail(err)
	}
	where := "checkpoint " + info.Name
	info.Keys = int(keys)
	info.Schema, info.CheckpointMeta, err = checkpointHead(where, sName, sVersion, sInfo)
	return info, err
}

// GetCheckpoint reads a checkpoint in one statement.
func (b *Backend) GetCheckpoint(ctx context.Context, ns, name string) (*runtime.Checkpoint, error) {
	rows, err := b.pool.Query(ctx, b.sql.getCheckpoint, ns, name)
	if err != nil {
		return nil, b.fail(err)
	}
	defer rows.Close()
	var cp *runtime.Checkpoint
	var (
		created                int64
		sName, sInfo, key      *string
		sVersion               *int32
		keys                   int32
		cpData, data           []byte
		rev, updated           *int64
		where                  = "checkpoint " + name
		cpRevision             int64
		decodeErr, valueErrors error
	)
	for rows.Next() {
		if err := rows.Scan(&created, &cpRevision, &sName, &sVersion, &sInfo, &keys, &cpData, &key, &data, &rev, &updated); err != nil {
			return nil, b.fail(err)
		}
		if cp == nil {
			cp = &runtime.Checkpoint{Values: map[string]runtime.Value{}}
			cp.Name, cp.Created, cp.Revision, cp.Keys = name, time.Unix(0, created), cpRevision, int(keys)
			cp.Schema, cp.CheckpointMeta, decodeErr = checkpointHead(where, sName, sVersion, sInfo)
			if cpData != nil {
				valueErrors = decodeCheckpointData(where, cpData, cp.Values)
			}
		}
		if key == nil || valueErrors != nil {
			continue
		}
		v, err := value(where+" key "+*key, data, *rev, *updated)
		if err != nil {
			valueErrors = err
			continue
		}
		cp.Values[*key] = v
	}
	if err := rows.Err(); err != nil {
		return nil, b.fail(err)
	}
	switch {
	case cp == nil:
		return nil, runtime.ErrNotFound
	case decodeErr != nil:
		return nil, decodeErr
	case valueErrors != nil:
		return nil, valueErrors
	}
	cp.Keys = len(cp.Values)
	return cp, nil
}

// Checkpoints lists a namespace's checkpoints, oldest first, a page at a
// time on the (ns, created, name) index. One whose schema cannot be read is
// listed with its name and the error. (Its values are read, and checked, by
// GetCheckpoint only: the listing stays cheap.)
func (b *Backend) Checkpoints(ctx context.Context, ns string) ([]runtime.CheckpointInfo, error) {
	var out []runtime.CheckpointInfo
	afterCreated, afterName := int64(-1<<63), ""
	for {
		rows, err := b.pool.Query(ctx, b.sql.checkpoints, ns, afterCreated, afterName)
		if err != nil {
			return nil, b.fail(err)
		}
		n := 0
		var (
			name         string
			created, rev int64
			sName, sInfo *string
			sVersion     *int32
			keys         int32
		)
		_, err = pgx.ForEachRow(rows, []any{&name, &created, &rev, &sName, &sVersion, &sInfo, &keys}, func() error {
			n++
			afterCreated, afterName = created, name
			schema, meta, err := checkpointHead("checkpoint "+name, sName, sVersion, sInfo)
			if err != nil {
				// Listed, not hidden: the others are still worth seeing.
				out = append(out, runtime.CheckpointInfo{Name: name, Err: err})
				return nil
			}
			out = append(out, runtime.CheckpointInfo{Name: name, Created: time.Unix(0, created), Revision: rev, Schema: schema, Keys: int(keys), CheckpointMeta: meta})
			return nil
		})
		if err != nil {
			return nil, b.fail(err)
		}
		if n < pageSize {
			return out, nil
		}
	}
}

// DeleteCheckpoint removes a checkpoint and its values in one statement.
func (b *Backend) DeleteCheckpoint(ctx context.Context, ns, name string) error {
	if b.readOnly {
		return fmt.Errorf("postgres: %w", runtime.ErrReadOnly)
	}
	var n int64
	if err := b.pool.QueryRow(ctx, b.sql.deleteCheckpoint, ns, name, b.feedChannel()).Scan(&n); err != nil {
		return b.fail(err)
	}
	if n == 0 {
		return runtime.ErrNotFound
	}
	return nil
}
