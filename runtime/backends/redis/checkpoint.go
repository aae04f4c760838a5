package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
)

// PutCheckpoint stores cp, replacing a checkpoint of the same name, in one
// script: the old hash goes, the new one, its index entry and its header
// appear, at once.
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
	meta := ""
	if !cp.CheckpointMeta.IsZero() {
		js, err := json.Marshal(cp.CheckpointMeta)
		if err != nil {
			return fmt.Errorf("redis: encode checkpoint meta: %w", err)
		}
		meta = string(js)
	}
	args := make([]any, 0, 11+6*len(cp.Values))
	args = append(args, cp.Name, cp.Created.UnixNano(), cp.Created.UnixMilli(),
		cp.Revision, schema, b.ttl, b.cpPrefix(ns), b.feedChannel(), ns, meta, len(cp.Values))
	for k, v := range cp.Values {
		args = append(args, "v:"+k, []byte(v.Data), "r:"+k, v.Revision, "t:"+k, updatedField(v))
	}
	keys := []string{b.cpKey(ns, cp.Name), b.indexKey(ns), b.stateKey(ns), b.headersKey(ns)}
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

// headerFields are the bookkeeping fields of a checkpoint hash that a
// listing reads.
var headerFields = []string{fieldRev, fieldCreated, fieldSchema, fieldName, fieldMeta}

// parseHeader splits a checkpoint's entry in the namespace's header hash,
// REV:CREATED:KEYS:SCHEMA\nMETA (see the package doc), into the
// bookkeeping fields of its hash and its number of keys.
func parseHeader(head string) (map[string]string, int, error) {
	rev, rest, ok1 := strings.Cut(head, ":")
	created, rest, ok2 := strings.Cut(rest, ":")
	n, rest, ok3 := strings.Cut(rest, ":")
	schema, meta, ok4 := strings.Cut(rest, "\n")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, 0, errors.New("not REV:CREATED:KEYS:SCHEMA and META")
	}
	keys, err := strconv.Atoi(n)
	if err != nil {
		return nil, 0, fmt.Errorf("key count %q is not a number", n)
	}
	fields := map[string]string{fieldRev: rev, fieldCreated: created}
	if schema != "" {
		fields[fieldSchema] = schema
	}
	if meta != "" {
		fields[fieldMeta] = meta
	}
	return fields, keys, nil
}

// Checkpoints lists a namespace's checkpoints in one round trip: the index
// (names and creation times) and the header hash, read by one script. A
// checkpoint without a header, or whose header does not match its index
// entry (one written by a version before the header hash, or replaced by
// one), is listed from its own hash in a second pipeline. One whose
// bookkeeping is damaged is listed with its name and the error. (Its
// values are read, and checked, by GetCheckpoint only: the listing stays
// cheap.)
func (b *Backend) Checkpoints(ctx context.Context, ns string) ([]runtime.CheckpointInfo, error) {
	res, err := listCheckpointsScript.Run(ctx, b.client, []string{b.indexKey(ns), b.headersKey(ns)}).Slice()
	if err != nil {
		return nil, classify(err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("redis: unexpected reply from the listing script: %v", res)
	}
	index, _ := res[0].([]any)
	pairs, _ := res[1].([]any)
	if len(index) == 0 {
		return nil, nil
	}
	headers := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		name, _ := pairs[i].(string)
		headers[name], _ = pairs[i+1].(string)
	}
	out := make([]runtime.CheckpointInfo, len(index)/2)
	var old []int // entries to read from their hashes
	for i := range out {
		name, _ := index[2*i].(string)
		score, _ := index[2*i+1].(string)
		out[i].Name = name
		head, ok := headers[name]
		if !ok {
			old = append(old, i)
			continue
		}
		fields, keys, err := parseHeader(head)
		if err != nil {
			out[i].Err = runtime.Corrupt("checkpoint "+name+" header", err)
			continue
		}
		if !listInfo(&out[i], fields, keys) {
			continue
		}
		if !out[i].Created.IsZero() && strconv.FormatInt(out[i].Created.UnixMilli(), 10) != score {
			old = append(old, i) // a header older than the checkpoint
		}
	}
	if len(old) > 0 {
		if err := b.oldCheckpoints(ctx, ns, out, old); err != nil {
			return nil, err
		}
	}
	// Drop the entries listed but gone: hashes that expired before their
	// index entry.
	return slices.DeleteFunc(out, func(c runtime.CheckpointInfo) bool { return c.Name == "" }), nil
}

// listInfo fills info, which holds the checkpoint's name, from its
// bookkeeping fields and number of keys; a damaged one fills in Err. It
// reports false when there was nothing to decode.
func listInfo(info *runtime.CheckpointInfo, fields map[string]string, keys int) bool {
	h, err := decodeHash("checkpoint "+info.Name, fields)
	if err != nil {
		// Listed, not hidden: the others are still worth seeing.
		*info = runtime.CheckpointInfo{Name: info.Name, Err: err}
		return false
	}
	*info = runtime.CheckpointInfo{Name: info.Name, Created: h.created, Revision: h.rev, Schema: h.schema, Keys: keys, CheckpointMeta: h.meta}
	return true
}

// oldCheckpoints fills out[i] for each i of which from the checkpoints'
// own hashes, in one pipeline: their bookkeeping fields and field count.
// An entry whose hash is gone gets an empty name.
func (b *Backend) oldCheckpoints(ctx context.Context, ns string, out []runtime.CheckpointInfo, which []int) error {
	books := make([]*goredis.SliceCmd, len(which))
	lens := make([]*goredis.IntCmd, len(which))
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for j, i := range which {
			key := b.cpKey(ns, out[i].Name)
			books[j] = p.HMGet(ctx, key, headerFields...)
			lens[j] = p.HLen(ctx, key)
		}
		return nil
	})
	if err != nil {
		return classify(err)
	}
	for j, i := range which {
		fields := map[string]string{}
		for k, f := range headerFields {
			if s, ok := books[j].Val()[k].(string); ok {
				fields[f] = s
			}
		}
		if len(fields) == 0 {
			out[i].Name = "" // listed but gone
			continue
		}
		// Each key takes three fields (v:, r:, t:); the rest is bookkeeping.
		listInfo(&out[i], fields, (int(lens[j].Val())-len(fields))/3)
	}
	return nil
}

// DeleteCheckpoint removes a checkpoint and its index entry in one script.
func (b *Backend) DeleteCheckpoint(ctx context.Context, ns, name string) error {
	if b.readOnly {
		return fmt.Errorf("redis: %w", runtime.ErrReadOnly)
	}
	n, err := deleteCheckpointScript.Run(ctx, b.client, []string{b.cpKey(ns, name), b.indexKey(ns), b.stateKey(ns), b.headersKey(ns)}, name, b.feedChannel(), ns).Int64()
	if err != nil {
		return classify(err)
	}
	if n == 0 {
		return runtime.ErrNotFound
	}
	return nil
}

// CopyCheckpoint copies the namespace into checkpoint info.Name in one
// script, its values going from hash to hash inside Redis, and removes in
// the same script the checkpoints keep does not keep (see
// copyCheckpointScript).
func (b *Backend) CopyCheckpoint(ctx context.Context, ns string, info runtime.CheckpointInfo, keep runtime.Retention) (runtime.CheckpointInfo, error) {
	if b.readOnly {
		return info, fmt.Errorf("redis: %w", runtime.ErrReadOnly)
	}
	labels := ""
	if len(info.Labels) > 0 {
		js, err := json.Marshal(runtime.CheckpointMeta{Labels: info.Labels})
		if err != nil {
			return info, fmt.Errorf("redis: encode checkpoint meta: %w", err)
		}
		labels = string(js)
	}
	keys := []string{b.stateKey(ns), b.cpKey(ns, info.Name), b.indexKey(ns), b.headersKey(ns)}
	keepLast, cutoff := retentionArgs(info.Created, keep)
	res, err := copyCheckpointScript.Run(ctx, b.client, keys, info.Name, info.Created.UnixNano(), info.Created.UnixMilli(),
		labels, b.ttl, b.cpPrefix(ns), b.feedChannel(), ns, keepLast, cutoff).Slice()
	if err != nil {
		return info, classify(err)
	}
	if len(res) == 1 && res[0] == "notfound" {
		return info, runtime.ErrNotFound
	}
	if len(res) != 6 || res[0] != "ok" {
		return info, fmt.Errorf("redis: unexpected reply from the checkpoint script: %v", res)
	}
	rev, _ := res[1].(int64)
	n, _ := res[2].(int64)
	schema, _ := res[3].(string)
	meta, _ := res[4].(string)
	fields := map[string]string{}
	if schema != "" {
		fields[fieldSchema] = schema
	}
	if meta != "" {
		fields[fieldMeta] = meta
	}
	h, err := decodeHash("checkpoint "+info.Name, fields)
	if err != nil {
		return info, err
	}
	info.Revision, info.Keys, info.Schema, info.CheckpointMeta = rev, int(n), h.schema, h.meta
	return info, nil
}

// retentionArgs are keep as copyCheckpointScript takes it for a checkpoint
// created at now: how many of the newest to keep (0: no such rule), and
// the unix nanoseconds after which a checkpoint is younger than MaxAge
// ("": no such rule). A MaxAge reaching back before the int64 nanoseconds
// begin keeps every checkpoint, and so does the policy.
func retentionArgs(now time.Time, keep runtime.Retention) (int, string) {
	if keep.MaxAge <= 0 {
		return max(keep.KeepLast, 0), ""
	}
	ns := now.UnixNano()
	if ns < math.MinInt64+int64(keep.MaxAge) {
		return 0, ""
	}
	return max(keep.KeepLast, 0), strconv.FormatInt(ns-int64(keep.MaxAge), 10)
}
