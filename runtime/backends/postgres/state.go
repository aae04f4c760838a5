package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/schemainfo"
)

// appliedTTL is how long a namespace remembers a batch ID at least, unless
// appliedKeep newer revisions came since.
const appliedTTL = 10 * time.Minute

// Get reads one key.
func (b *Backend) Get(ctx context.Context, ns, key string) (runtime.Value, error) {
	var data []byte
	var rev, updated int64
	err := b.pool.QueryRow(ctx, b.sql.get, ns, key, time.Now().UnixNano()).Scan(&data, &rev, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return runtime.Value{}, runtime.ErrNotFound
	}
	if err != nil {
		return runtime.Value{}, b.fail(err)
	}
	return value("key "+key, data, rev, updated)
}

// GetWithSchema reads one key and the namespace's schema name and version
// in one statement.
func (b *Backend) GetWithSchema(ctx context.Context, ns, key string) (runtime.Value, runtime.SchemaRef, error) {
	var name *string
	var version *int32
	var data []byte
	var rev, updated *int64
	if err := b.pool.QueryRow(ctx, b.sql.getWithSchema, ns, key, time.Now().UnixNano()).Scan(&name, &version, &data, &rev, &updated); err != nil {
		return runtime.Value{}, runtime.SchemaRef{}, b.fail(err)
	}
	var ref runtime.SchemaRef
	if name != nil {
		ref.Name = *name
		if version != nil {
			ref.Version = int(*version)
		}
	}
	if data == nil {
		return runtime.Value{}, ref, runtime.ErrNotFound
	}
	v, err := value("key "+key, data, *rev, *updated)
	return v, ref, err
}

// value checks and makes one stored value.
func value(where string, data []byte, rev, updated int64) (runtime.Value, error) {
	if !json.Valid(data) {
		return runtime.Value{}, runtime.Corrupt(where, errors.New("stored value is not valid JSON"))
	}
	v := runtime.Value{Data: data, Revision: rev}
	if updated != 0 { // 0: the writer did not know
		v.Updated = time.Unix(0, updated)
	}
	return v, nil
}

// schemaColumns are ref's schema_name, schema_version and schema_info
// columns (package schemainfo); all NULL for the zero SchemaRef.
func schemaColumns(ref runtime.SchemaRef) (name *string, version *int32, info *string, err error) {
	if ref.IsZero() {
		return nil, nil, nil, nil
	}
	return checkpointColumns(runtime.CheckpointInfo{Schema: ref})
}

// checkpointColumns are schemaColumns of a checkpoint, whose schema_info
// also holds its meta.
func checkpointColumns(cp runtime.CheckpointInfo) (name *string, version *int32, info *string, err error) {
	col, ok, err := schemainfo.EncodeCheckpoint(cp.Schema, cp.CheckpointMeta)
	if err != nil {
		return nil, nil, nil, err
	}
	if ok {
		info = &col
	}
	if !cp.Schema.IsZero() {
		v := int32(cp.Schema.Version)
		name, version = &cp.Schema.Name, &v
	}
	return name, version, info, nil
}

// schemaRef is the SchemaRef of stored schema columns.
func schemaRef(where string, name *string, version *int32, info *string) (runtime.SchemaRef, error) {
	ref, _, err := checkpointHead(where, name, version, info)
	return ref, err
}

// checkpointHead is schemaRef of a checkpoint's columns, with the meta its
// schema_info holds.
func checkpointHead(where string, name *string, version *int32, info *string) (ref runtime.SchemaRef, meta runtime.CheckpointMeta, err error) {
	if name != nil {
		ref.Name = *name
	}
	if version != nil {
		ref.Version = int(*version)
	}
	if info != nil {
		meta, err = schemainfo.Decode(where, *info, &ref)
	}
	return ref, meta, err
}

// Snapshot reads the namespace in one statement, hence as of one revision.
func (b *Backend) Snapshot(ctx context.Context, ns string) (*runtime.Snapshot, error) {
	rows, err := b.pool.Query(ctx, b.sql.snapshot, ns)
	if err != nil {
		return nil, b.fail(err)
	}
	defer rows.Close()
	snap := &runtime.Snapshot{Namespace: ns, Values: map[string]runtime.Value{}}
	found := false
	var (
		name, info, key *string
		version         *int32
		data            []byte
		rev, updated    *int64
	)
	for rows.Next() {
		if err := rows.Scan(&snap.Revision, &name, &version, &info, &key, &data, &rev, &updated); err != nil {
			return nil, b.fail(err)
		}
		if !found {
			found = true
			if snap.Schema, err = schemaRef("namespace "+ns, name, version, info); err != nil {
				return nil, err
			}
		}
		if key == nil {
			continue
		}
		v, err := value("key "+*key, data, *rev, *updated)
		if err != nil {
			return nil, err
		}
		snap.Values[*key] = v
	}
	if err := rows.Err(); err != nil {
		return nil, b.fail(err)
	}
	if len(snap.Values) == 0 && snap.Schema.IsZero() {
		return nil, runtime.ErrNotFound
	}
	return snap, nil
}

// Stamp returns the namespace's revision and the creation time of its row,
// with one primary-key lookup; {0, 0} for a namespace never written.
func (b *Backend) Stamp(ctx context.Context, ns string) (runtime.Stamp, error) {
	var st runtime.Stamp
	err := b.pool.QueryRow(ctx, b.sql.stamp, ns).Scan(&st[0], &st[1])
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return runtime.Stamp{}, b.fail(err)
	}
	return st, nil
}

// Apply performs a batch in one transaction and one round trip (see Writes
// in the package doc).
func (b *Backend) Apply(ctx context.Context, ns string, batch *runtime.Batch) (int64, error) {
	if b.readOnly {
		return 0, fmt.Errorf("postgres: %w", runtime.ErrReadOnly)
	}
	now := time.Now().UnixNano()
	if len(batch.Puts) == 1 && len(batch.Deletes) == 0 && len(batch.Conds) == 0 && !batch.Replace &&
		batch.Schema == nil && batch.IfSchema == nil && batch.ID == "" {
		kv := batch.Puts[0]
		var rev int64
		if err := b.pool.QueryRow(ctx, b.sql.putOne, ns, now, kv.Key, string(kv.Value), b.feedChannel()).Scan(&rev); err != nil {
			return 0, b.fail(err)
		}
		return rev, nil
	}

	// Puts of one key keep the last value; a key both deleted and put is
	// put. (Empty slices, not nil: a NULL array matches no key, nor does
	// its negation.)
	putKeys, putValues := make([]string, 0, len(batch.Puts)), make([]string, 0, len(batch.Puts))
	at := map[string]int{}
	for _, kv := range batch.Puts {
		if i, dup := at[kv.Key]; dup {
			putValues[i] = string(kv.Value)
			continue
		}
		at[kv.Key] = len(putKeys)
		putKeys = append(putKeys, kv.Key)
		putValues = append(putValues, string(kv.Value))
	}
	dels := make([]string, 0, len(batch.Deletes))
	for _, k := range batch.Deletes {
		if _, put := at[k]; !put {
			dels = append(dels, k)
		}
	}
	condKeys := make([]string, len(batch.Conds))
	condRevs := make([]int64, len(batch.Conds))
	newest := int64(0)
	for i, c := range batch.Conds {
		condKeys[i], condRevs[i] = c.Key, c.Revision
		newest = max(newest, c.Revision)
	}
	var ifName string
	var ifVersion int32
	if s := batch.IfSchema; s != nil {
		ifName, ifVersion = s.Name, int32(s.Version)
	}
	schemaOp := 0
	var sName *string
	var sVersion *int32
	var sInfo *string
	if s := batch.Schema; s != nil {
		schemaOp = 2
		if !s.IsZero() {
			schemaOp = 1
			var err error
			if sName, sVersion, sInfo, err = schemaColumns(*s); err != nil {
				return 0, fmt.Errorf("postgres: encode schema: %w", err)
			}
		}
	}

	pb := &pgx.Batch{}
	pb.Queue(b.sql.lock, ns, now)
	pb.Queue(b.sql.apply, ns, now, batch.ID, condKeys, condRevs, batch.IfSchema != nil, ifName, ifVersion,
		schemaOp, sName, sVersion, sInfo, batch.Replace, dels, putKeys, putValues, now-appliedTTL.Nanoseconds(),
		b.feedChannel(), batch.Restore)
	br := b.pool.SendBatch(ctx, pb)
	var (
		rev, prior, failed, found *int64
		cur                       int64
		idsFrom                   *int64
		schemaVersion             *int32
	)
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&rev, &prior, &failed, &found, &cur, &idsFrom, &schemaVersion)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, b.fail(err)
	}
	switch {
	case prior != nil:
		// This batch was applied before: its reply was lost.
		return *prior, nil
	case rev != nil:
		return *rev, nil
	case failed != nil:
		c := batch.Conds[*failed-1]
		what := "namespace"
		if c.Key != "" {
			what = "key " + c.Key
		}
		if batch.Retry {
			// The conflict may be the lost attempt's own doing unless
			// every ID applied since the conditions' revisions is known.
			floor := cur
			if idsFrom != nil {
				floor = *idsFrom
			}
			if floor > newest {
				return 0, fmt.Errorf("%s: %w: a retry found revision %d where %d was expected, and the IDs of batches applied up to revision %d are no longer remembered, so an earlier attempt of this one may have applied it",
					what, runtime.ErrUnknownOutcome, *found, c.Revision, floor)
			}
		}
		return 0, fmt.Errorf("%s: %w: expected revision %d, found %d", what, runtime.ErrConflict, c.Revision, *found)
	case batch.IfSchema != nil:
		have := int64(-1)
		if schemaVersion != nil {
			have = int64(*schemaVersion)
		}
		return 0, fmt.Errorf("schema: %w: expected %s, found version %d", runtime.ErrConflict, *batch.IfSchema, have)
	}
	return 0, errors.New("postgres: the batch was neither applied nor refused")
}

// Namespaces lists the namespaces that hold a key, a schema or checkpoints,
// a page at a time.
func (b *Backend) Namespaces(ctx context.Context) ([]string, error) {
	var out []string
	after := ""
	for {
		rows, err := b.pool.Query(ctx, b.sql.namespaces, after)
		if err != nil {
			return nil, b.fail(err)
		}
		page, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, b.fail(err)
		}
		for _, ns := range page {
			// Rows stategen did not write (a name it would refuse) are not
			// namespaces of this store.
			if runtime.ValidateName("namespace", ns) != nil {
				b.logger.Debug("stategen: postgres: skipping a row that is no namespace", "ns", ns)
				continue
			}
			out = append(out, ns)
		}
		if len(page) < pageSize {
			return out, nil
		}
		after = page[len(page)-1]
	}
}

// fail classifies err and scrubs the password from it.
func (b *Backend) fail(err error) error { return b.scrub(b.classify(err)) }
