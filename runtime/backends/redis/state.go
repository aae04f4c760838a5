package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
)

// Bookkeeping fields of the state and checkpoint hashes. User keys are stored
// behind the v:, r: and t: prefixes, so none can collide with these.
const (
	fieldRev     = "_rev"
	fieldCreated = "_created"
	fieldSchema  = "_schema"
	fieldName    = "_name"
	// fieldMeta is a checkpoint's labels and lineage, the JSON of a
	// runtime.CheckpointMeta; absent when it has none.
	fieldMeta = "_meta"
)

// Get reads one key with a single HMGET.
func (b *Backend) Get(ctx context.Context, ns, key string) (runtime.Value, error) {
	res, err := b.client.HMGet(ctx, b.stateKey(ns), "v:"+key, "r:"+key, "t:"+key).Result()
	if err != nil {
		return runtime.Value{}, classify(err)
	}
	data, ok := res[0].(string)
	if !ok {
		return runtime.Value{}, runtime.ErrNotFound
	}
	rev, _ := res[1].(string)
	updated, _ := res[2].(string)
	return decodeValue("key "+key, data, rev, updated)
}

// GetWithSchema reads one key and the namespace's schema with a single
// HMGET.
func (b *Backend) GetWithSchema(ctx context.Context, ns, key string) (runtime.Value, runtime.SchemaRef, error) {
	res, err := b.client.HMGet(ctx, b.stateKey(ns), "v:"+key, "r:"+key, "t:"+key, fieldSchema).Result()
	if err != nil {
		return runtime.Value{}, runtime.SchemaRef{}, classify(err)
	}
	var ref runtime.SchemaRef
	if js, ok := res[3].(string); ok {
		if err := json.Unmarshal([]byte(js), &ref); err != nil {
			return runtime.Value{}, ref, runtime.Corrupt("namespace "+ns+" schema", err)
		}
	}
	data, ok := res[0].(string)
	if !ok {
		return runtime.Value{}, ref, runtime.ErrNotFound
	}
	rev, _ := res[1].(string)
	updated, _ := res[2].(string)
	v, err := decodeValue("key "+key, data, rev, updated)
	return v, ref, err
}

// decodeValue checks and decodes one key's stored fields.
func decodeValue(where, data, rev, updated string) (runtime.Value, error) {
	if !json.Valid([]byte(data)) {
		return runtime.Value{}, runtime.Corrupt(where, errors.New("stored value is not valid JSON"))
	}
	r, err := strconv.ParseInt(rev, 10, 64)
	if err != nil {
		return runtime.Value{}, runtime.Corrupt(where, fmt.Errorf("revision %q is not a number", rev))
	}
	v := runtime.Value{Data: json.RawMessage(data), Revision: r}
	if updated != "" {
		t, err := strconv.ParseInt(updated, 10, 64)
		if err != nil {
			return runtime.Value{}, runtime.Corrupt(where, fmt.Errorf("timestamp %q is not a number", updated))
		}
		if t != 0 { // 0: the writer did not know
			v.Updated = time.Unix(0, t)
		}
	}
	return v, nil
}

// hashContent is a state or checkpoint hash, decoded.
type hashContent struct {
	rev     int64
	created time.Time
	schema  runtime.SchemaRef
	name    string
	meta    runtime.CheckpointMeta
	values  map[string]runtime.Value
}

// decodeHash decodes the fields of a state or checkpoint hash; where names it
// in errors about corrupt data.
func decodeHash(where string, fields map[string]string) (*hashContent, error) {
	h := &hashContent{values: map[string]runtime.Value{}}
	for f, data := range fields {
		key, ok := strings.CutPrefix(f, "v:")
		if !ok {
			continue
		}
		v, err := decodeValue(where+" key "+key, data, fields["r:"+key], fields["t:"+key])
		if err != nil {
			return nil, err
		}
		h.values[key] = v
	}
	if s, ok := fields[fieldRev]; ok {
		rev, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, runtime.Corrupt(where, fmt.Errorf("revision %q is not a number", s))
		}
		h.rev = rev
	}
	if s, ok := fields[fieldCreated]; ok {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, runtime.Corrupt(where, fmt.Errorf("creation time %q is not a number", s))
		}
		h.created = time.Unix(0, n)
	}
	if s, ok := fields[fieldSchema]; ok {
		if err := json.Unmarshal([]byte(s), &h.schema); err != nil {
			return nil, runtime.Corrupt(where+" schema", err)
		}
	}
	if s, ok := fields[fieldMeta]; ok {
		if err := json.Unmarshal([]byte(s), &h.meta); err != nil {
			return nil, runtime.Corrupt(where+" meta", err)
		}
	}
	h.name = fields[fieldName]
	return h, nil
}

// Snapshot reads the whole namespace with one HGETALL, which Redis answers
// atomically.
func (b *Backend) Snapshot(ctx context.Context, ns string) (*runtime.Snapshot, error) {
	fields, err := b.client.HGetAll(ctx, b.stateKey(ns)).Result()
	if err != nil {
		return nil, classify(err)
	}
	h, err := decodeHash("namespace "+ns, fields)
	if err != nil {
		return nil, err
	}
	// A namespace whose keys were all deleted keeps its bookkeeping (the
	// revision must not start over) but holds nothing.
	if len(h.values) == 0 && h.schema.IsZero() {
		return nil, runtime.ErrNotFound
	}
	return &runtime.Snapshot{Namespace: ns, Revision: h.rev, Schema: h.schema, Values: h.values}, nil
}

// Stamp returns the namespace's revision and creation time, read with one
// HMGET. The revision changes with every write; the creation time tells a
// namespace that expired (TTL) and was written anew from the old one, whose
// revisions the new one repeats.
func (b *Backend) Stamp(ctx context.Context, ns string) (runtime.Stamp, error) {
	res, err := b.client.HMGet(ctx, b.stateKey(ns), fieldRev, fieldCreated).Result()
	if err != nil {
		return runtime.Stamp{}, classify(err)
	}
	var st runtime.Stamp
	for i, r := range res {
		if s, ok := r.(string); ok {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return runtime.Stamp{}, runtime.Corrupt("namespace "+ns, fmt.Errorf("bookkeeping field %q is not a number", s))
			}
			st[i] = n
		}
	}
	return st, nil
}

// Apply runs the batch as one script: conditions, revision bump and writes in
// one atomic step and one round trip.
func (b *Backend) Apply(ctx context.Context, ns string, batch *runtime.Batch) (int64, error) {
	if b.readOnly {
		return 0, fmt.Errorf("redis: %w", runtime.ErrReadOnly)
	}
	if len(batch.Puts) == 1 && len(batch.Conds) == 0 && len(batch.Deletes) == 0 && !batch.Replace && batch.Schema == nil && b.ttl == "0" &&
		!runtime.IsReserved(batch.Puts[0].Key) {
		kv := batch.Puts[0]
		rev, err := putOneScript.Run(ctx, b.client, []string{b.stateKey(ns)}, strconv.FormatInt(time.Now().UnixNano(), 10), kv.Key, []byte(kv.Value), b.feedChannel(), ns).Int64()
		return rev, classify(err)
	}
	schema := ""
	if s := batch.Schema; s != nil {
		if s.IsZero() {
			schema = "-"
		} else {
			js, err := json.Marshal(s)
			if err != nil {
				return 0, fmt.Errorf("redis: encode schema: %w", err)
			}
			schema = string(js)
		}
	}
	args := make([]any, 0, 17+2*len(batch.Conds)+len(batch.Deletes)+2*len(batch.Puts))
	args = append(args, strconv.FormatInt(time.Now().UnixNano(), 10), b.ttl, b.cpPrefix(ns), flag(batch.Replace), schema,
		batch.ID, flag(batch.Retry), appliedKeep, appliedTTL.Milliseconds(), b.feedChannel(), ns, batch.Restore)
	// The schema condition travels as one more condition, on a "key" that
	// starts with a NUL byte (no key starts with a control character)
	// followed by the schema's name; with byte 1 instead when the batch
	// records that same schema, which spares the script decoding the
	// recorded one when it is the one written (every generated write).
	conds := len(batch.Conds)
	if batch.IfSchema != nil {
		conds++
	}
	args = append(args, conds)
	for _, c := range batch.Conds {
		args = append(args, c.Key, c.Revision)
	}
	if s := batch.IfSchema; s != nil {
		tag := "\x00"
		if w := batch.Schema; w != nil && w.Name == s.Name && w.Version == s.Version {
			tag = "\x01"
		}
		args = append(args, tag+s.Name, s.Version)
	}
	args = append(args, len(batch.Deletes))
	for _, k := range batch.Deletes {
		args = append(args, k)
	}
	args = append(args, len(batch.Puts))
	for _, kv := range batch.Puts {
		args = append(args, kv.Key, []byte(kv.Value))
	}
	labels := labelPuts(batch)
	if err := b.index(ctx, ns, labels); err != nil {
		return 0, err
	}
	res, err := applyScript.Run(ctx, b.client, []string{b.stateKey(ns), b.indexKey(ns), b.appliedKey(ns), b.headersKey(ns)}, args...).Slice()
	if err != nil {
		return 0, classify(err)
	}
	if len(labels) > 0 && len(res) >= 2 && res[0] == "ok" {
		if err := b.index(ctx, ns, labels); err != nil {
			return 0, err
		}
	}
	if len(res) >= 2 && res[0] == "ok" {
		if rev, ok := res[1].(int64); ok {
			return rev, nil
		}
	}
	if len(res) >= 3 && (res[0] == "conflict" || res[0] == "unknown") {
		i, _ := res[1].(int64)
		found, _ := res[2].(int64)
		if s := batch.IfSchema; s != nil && int(i) == len(batch.Conds)+1 {
			return 0, fmt.Errorf("schema: %w: expected %s, found version %d", runtime.ErrConflict, *s, found)
		}
		if i >= 1 && int(i) <= len(batch.Conds) {
			c := batch.Conds[i-1]
			what := "namespace"
			if c.Key != "" {
				what = "key " + c.Key
			}
			if res[0] == "unknown" && len(res) == 4 {
				floor, _ := res[3].(int64)
				return 0, fmt.Errorf("%s: %w: a retry found revision %d where %d was expected, and the IDs of batches applied up to revision %d are no longer remembered, so an earlier attempt of this one may have applied it",
					what, runtime.ErrUnknownOutcome, found, c.Revision, floor)
			}
			return 0, fmt.Errorf("%s: %w: expected revision %d, found %d", what, runtime.ErrConflict, c.Revision, found)
		}
	}
	return 0, fmt.Errorf("redis: unexpected reply from the apply script: %v", res)
}

// flag is a boolean as the scripts take it.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// scanCount is the COUNT hint of each SCAN call: large enough that listing
// takes few round trips, small enough that no call blocks the server long.
const scanCount = 1000

// Namespaces lists the namespaces that hold keys, a schema or checkpoints.
// It SCANs for state hashes and checkpoint indexes (on every master of a
// cluster, since each holds its own slots; a namespace that only holds
// checkpoints, as a copy can make one, has no state hash), then checks in
// one pipeline which of them hold anything.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	// :state and :cps, not the :cp:NAME checkpoint hashes.
	pattern := globEscape(b.prefix) + ":{*}:[sc][tp][as]*"
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		var cursor uint64
		for {
			page, next, err := c.Scan(ctx, cursor, pattern, scanCount).Result()
			if err != nil {
				return err
			}
			mu.Lock()
			keys = append(keys, page...)
			mu.Unlock()
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	var err error
	if cc, ok := b.client.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, b.client)
	}
	if err != nil {
		return nil, classify(err)
	}

	head := b.prefix + ":{"
	var names []string
	for _, k := range keys {
		ns, ok := strings.CutPrefix(k, head)
		if !ok {
			continue
		}
		ns, ok = cutSuffixes(ns, "}:state", "}:cps")
		// Keys of this prefix that stategen did not write (a name it would
		// refuse) are not namespaces of this store.
		if !ok || runtime.ValidateName("namespace", ns) != nil {
			b.logger.Debug("stategen: redis: skipping a key that is no namespace", "key", k)
			continue
		}
		names = append(names, ns)
	}
	slices.Sort(names)
	names = slices.Compact(names) // SCAN may return a key twice

	// A state hash of only _rev and _created holds nothing: its keys were
	// deleted. Such a namespace is listed only if it has checkpoints.
	lens := make([]*goredis.IntCmd, len(names))
	cps := make([]*goredis.IntCmd, len(names))
	if len(names) > 0 {
		_, err = b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, ns := range names {
				lens[i] = p.HLen(ctx, b.stateKey(ns))
				cps[i] = p.ZCard(ctx, b.indexKey(ns))
			}
			return nil
		})
		// A key of another type under a namespace's name (WRONGTYPE) is
		// not stategen's: that command counts as nothing.
		var reply goredis.Error
		if err != nil && !errors.As(err, &reply) {
			return nil, classify(err)
		}
	}
	out := names[:0]
	for i, ns := range names {
		if lens[i].Val() > 2 || cps[i].Val() > 0 {
			out = append(out, ns)
		}
	}
	return out, nil
}

// cutSuffixes is strings.CutSuffix with the first of suffixes s ends with.
func cutSuffixes(s string, suffixes ...string) (string, bool) {
	for _, suffix := range suffixes {
		if before, ok := strings.CutSuffix(s, suffix); ok {
			return before, true
		}
	}
	return s, false
}

// globEscape quotes the characters SCAN's MATCH treats as a pattern.
func globEscape(s string) string {
	var sb strings.Builder
	for _, c := range []byte(s) {
		switch c {
		case '*', '?', '[', ']', '\\':
			sb.WriteByte('\\')
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
