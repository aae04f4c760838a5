// Package schemainfo is the column the SQL backends (SQLite, PostgreSQL)
// keep beside a recorded schema's name and version: the rest of its
// runtime.SchemaRef (the keys it declares, the secret ones) and, on a
// checkpoint, the checkpoint's runtime.CheckpointMeta (labels, lineage), as
// one JSON object:
//
//	{"keys": [...], "secret": [...], "labels": {...}, "restored": {...}}
//
// Members that are empty are left out, and a column with none is NULL.
//
// Decoding is memoised by the column's text: a store holds few schemas,
// every whole-struct load reads one, and a listing of checkpoints reads the
// same column once per checkpoint. What Decode returns is the caller's own
// copy, never shared with the memo.
package schemainfo

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/stategen/stategen/runtime"
)

type column struct {
	Keys   []string `json:"keys,omitempty"`
	Secret []string `json:"secret,omitempty"`
	runtime.CheckpointMeta
}

// Encode is the column of a namespace's schema; ok is false (NULL) when
// ref has neither keys nor secret ones.
func Encode(ref runtime.SchemaRef) (col string, ok bool, err error) {
	return EncodeCheckpoint(ref, runtime.CheckpointMeta{})
}

// EncodeCheckpoint is the column of a checkpoint of schema ref and meta;
// ok is false (NULL) when it would hold nothing.
func EncodeCheckpoint(ref runtime.SchemaRef, meta runtime.CheckpointMeta) (col string, ok bool, err error) {
	if len(ref.Keys) == 0 && len(ref.Secret) == 0 && meta.IsZero() {
		return "", false, nil
	}
	js, err := json.Marshal(column{Keys: ref.Keys, Secret: ref.Secret, CheckpointMeta: meta})
	if err != nil {
		return "", false, err
	}
	return string(js), true, nil
}

// Decode sets ref's keys and secret ones from col and returns the meta it
// holds. A column that is not such an object is runtime.ErrCorrupt, where
// naming what it belongs to.
func Decode(where, col string, ref *runtime.SchemaRef) (runtime.CheckpointMeta, error) {
	c, ok := memo.Load(col)
	if !ok {
		var d column
		if err := json.Unmarshal([]byte(col), &d); err != nil {
			return runtime.CheckpointMeta{}, runtime.Corrupt(where+" schema", err)
		}
		if memoSize.Add(1) > maxMemo {
			memo.Clear()
			memoSize.Store(1)
		}
		memo.Store(col, &d)
		c = &d
	}
	d := c.(*column)
	ref.Keys, ref.Secret = slices.Clone(d.Keys), slices.Clone(d.Secret)
	meta := d.CheckpointMeta
	meta.Labels = maps.Clone(meta.Labels)
	if meta.Restored != nil {
		r := *meta.Restored
		meta.Restored = &r
	}
	return meta, nil
}

// memo holds the columns decoded so far, emptied when it holds maxMemo.
var (
	memo     sync.Map // column text → *column
	memoSize atomic.Int64
)

const maxMemo = 1024
