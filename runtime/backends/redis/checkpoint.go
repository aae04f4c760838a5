package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
)

// PutCheckpoint stores cp, replacing a checkpoint of the same name, in one
// script: the old hash goes, the new one and its index entry appear, at once.
func (b *Backend) PutCheckpoint(ctx context.Context, ns string, cp *runtime.Checkpoint) error {
	if b.readOnly {
		return fmt.Errorf("redis: %w", runtime.ErrReadOnly)
	}
	schema := ""
	if !cp.Schema.IsZero() {
		js, err := json.Marshal(cp.Schema)
		if err != nil {
			return fmt.Errorf("redis: encode schema: %w", err)
		}
		schema = string(js)
	}
	args := make([]any, 0, 9+6*len(cp.Values))
	args = append(args, cp.Name, strconv.FormatInt(cp.Created.UnixNano(), 10), cp.Created.UnixMilli(),
		cp.Revision, schema, b.ttl, b.cpPrefix(ns), b.feedChannel(), ns)
	if !cp.CheckpointMeta.IsZero() {
		meta, err := json.Marshal(cp.CheckpointMeta)
		if err != nil {
			return fmt.Errorf("redis: encode checkpoint meta: %w", err)
		}
		args = append(args, fieldMeta, string(meta))
	}
	for k, v := range cp.Values {
		args = append(args, "v:"+k, []byte(v.Data), "r:"+k, v.Revision, "t:"+k, updatedField(v))
	}
	keys := []string{b.cpKey(ns, cp.Name), b.indexKey(ns), b.stateKey(ns)}
	return classify(putCheckpointScript.Run(ctx, b.client, keys, args...).Err())
}

// updatedField is a value's t: field; an unknown time is stored as 0 rather
// than as the nanoseconds of year 1, which overflow.
func updatedField(v runtime.Value) int64 {
	if v.Updated.IsZero() {
		return 0
	}
	return v.Updated.UnixNano()
}

// GetCheckpoint reads a checkpoint with one HGETALL.
func (b *Backend) GetCheckpoint(ctx context.Context, ns, name string) (*runtime.Checkpoint, error) {
	fields, err := b.client.HGetAll(ctx, b.cpKey(ns, name)).Result()
	if err != nil {
		return nil, classify(err)
	}
	if len(fields) == 0 {
		return nil, runtime.ErrNotFound
	}
	h, err := decodeHash("checkpoint "+name, fields)
	if err != nil {
		return nil, err
	}
	return &runtime.Checkpoint{
		CheckpointInfo: runtime.CheckpointInfo{Name: name, Created: h.created, Revision: h.rev, Schema: h.schema, Keys: len(h.values), CheckpointMeta: h.meta},
		Values:         h.values,
	}, nil
}

// Checkpoints lists a namespace's checkpoints: the names from the index,
// then each one's bookkeeping fields in one pipeline. One whose bookkeeping
// is damaged is listed with its name and the error. (Its values are read,
// and checked, by GetCheckpoint only: the listing stays cheap.)
func (b *Backend) Checkpoints(ctx context.Context, ns string) ([]runtime.CheckpointInfo, error) {
	names, err := b.client.ZRange(ctx, b.indexKey(ns), 0, -1).Result()
	if err != nil {
		return nil, classify(err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	books := make([]*goredis.SliceCmd, len(names))
	lens := make([]*goredis.IntCmd, len(names))
	_, err = b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, name := range names {
			key := b.cpKey(ns, name)
			books[i] = p.HMGet(ctx, key, fieldRev, fieldCreated, fieldSchema, fieldName, fieldMeta)
			lens[i] = p.HLen(ctx, key)
		}
		return nil
	})
	if err != nil {
		return nil, classify(err)
	}
	out := make([]runtime.CheckpointInfo, 0, len(names))
	for i, name := range names {
		fields := map[string]string{}
		for j, f := range []string{fieldRev, fieldCreated, fieldSchema, fieldName, fieldMeta} {
			if s, ok := books[i].Val()[j].(string); ok {
				fields[f] = s
			}
		}
		if len(fields) == 0 {
			// Listed but gone: deleted between the two reads.
			continue
		}
		h, err := decodeHash("checkpoint "+name, fields)
		if err != nil {
			// Listed, not hidden: the others are still worth seeing.
			out = append(out, runtime.CheckpointInfo{Name: name, Err: err})
			continue
		}
		// Each key takes three fields (v:, r:, t:); the rest is bookkeeping.
		keys := (int(lens[i].Val()) - len(fields)) / 3
		out = append(out, runtime.CheckpointInfo{Name: name, Created: h.created, Revision: h.rev, Schema: h.schema, Keys: keys, CheckpointMeta: h.meta})
	}
	return out, nil
}

// DeleteCheckpoint removes a checkpoint and its index entry in one script.
func (b *Backend) DeleteCheckpoint(ctx context.Context, ns, name string) error {
	if b.readOnly {
		return fmt.Errorf("redis: %w", runtime.ErrReadOnly)
	}
	n, err := deleteCheckpointScript.Run(ctx, b.client, []string{b.cpKey(ns, name), b.indexKey(ns), b.stateKey(ns)}, name, b.feedChannel(), ns).Int64()
	if err != nil {
		return classify(err)
	}
	if n == 0 {
		return runtime.ErrNotFound
	}
	return nil
}
