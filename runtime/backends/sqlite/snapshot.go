package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/stategen/stategen/runtime"
)

// sqlSnapshot reads a namespace in one statement (a statement reads one
// snapshot of the database), as two rows told apart by their first
// column: 0, every entry of the namespace packed into one text (see
// unpackEntries; tombstones and the marker included, since the largest
// revision among them is the namespace's), NULL when it has none; then,
// if it records a schema, 1 with the schema's name, version and info.
//
// The entries come packed, not a row each, because the driver pays for
// every row and every column it returns (a call into SQLite under the
// connection's mutex, then a conversion): packing makes the read of a
// 12-field state about 30% cheaper, a whole-struct load about 15%. info is
// the info column, or NULL on a database made before it. (The packed text
// is bound by SQLite's limit on a value, 1 GB: far past any workflow's
// state, whose values are rows of small JSON.)
func sqlSnapshot(info string) string {
	return `SELECT 0, group_concat(key || char(31) || revision || char(31) || updated || char(31) ||
			coalesce(octet_length(value), -1) || char(31) || coalesce(value, ''), ''), NULL, NULL
		FROM entries WHERE ns = ?1
		UNION ALL SELECT 1, name, version, ` + info + ` FROM schemas WHERE ns = ?1 AND ` + hasSchema
}

// Snapshot reads a namespace with sqlSnapshot.
func (b *Backend) Snapshot(ctx context.Context, ns string) (*runtime.Snapshot, error) {
	rows, err := b.snapshot.QueryContext(ctx, ns)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	snap := &runtime.Snapshot{Namespace: ns}
	var (
		kind    int64
		text    []byte // a copy of the column's: the values unpacked keep slices of it
		version sql.NullInt64
		info    sql.NullString
	)
	for rows.Next() {
		if err := rows.Scan(&kind, &text, &version, &info); err != nil {
			return nil, runtime.Corrupt("namespace "+ns, err)
		}
		if kind == 0 { // always there: an aggregate gives a row even of no entries
			// Four separators an entry (a JSON value holds none unescaped).
			snap.Values = make(map[string]runtime.Value, bytes.Count(text, []byte{unit})/4)
			if err := unpackEntries(ns, text, snap); err != nil {
				return nil, err
			}
			continue
		}
		snap.Schema.Name, snap.Schema.Version = string(text), int(version.Int64)
		if err := decodeInfo("namespace "+ns, &snap.Schema, info); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	if len(snap.Values) == 0 && snap.Schema.IsZero() {
		return nil, runtime.ErrNotFound
	}
	return snap, nil
}

// unit separates the fields of a packed entry.
const unit = 0x1f

// unpackEntries adds the entries packed by sqlSnapshot to snap. Each is
//
//	key US revision US updated US length US value
//
// where US is the byte 0x1f and length the value's length in bytes, -1
// for a tombstone (NULL). The length, not a separator, ends the value, so
// any value reads back as stored; a key or a number holding the separator
// (damage: stategen writes neither) fails to parse, as ErrCorrupt. Each
// value is its own slice of packed, capped at its length, so that
// appending to one cannot write over the next.
func unpackEntries(ns string, packed []byte, snap *runtime.Snapshot) error {
	for len(packed) > 0 {
		var f [4][]byte
		for i := range f {
			j := bytes.IndexByte(packed, unit)
			if j < 0 {
				return runtime.Corrupt("namespace "+ns, errors.New("an entry's bookkeeping is cut short"))
			}
			f[i], packed = packed[:j], packed[j+1:]
		}
		key := string(f[0])
		rev, ok1 := atoi(f[1])
		updated, ok2 := atoi(f[2])
		n, ok3 := atoi(f[3])
		if !ok1 || !ok2 || !ok3 || n < -1 || n > int64(len(packed)) {
			return runtime.Corrupt("namespace "+ns+" key "+key, fmt.Errorf("bookkeeping that is not numbers (revision %q, time %q, length %q)", f[1], f[2], f[3]))
		}
		if rev > snap.Revision {
			snap.Revision = rev
		}
		if n < 0 || key == "" {
			continue // a tombstone, or the marker
		}
		data := packed[:n:n]
		packed = packed[n:]
		if err := checkJSON(key, data); err != nil {
			return err
		}
		snap.Values[key] = runtime.Value{Data: data, Revision: rev, Updated: time.Unix(0, updated)}
	}
	return nil
}

// atoi reads a decimal integer as SQLite writes an INTEGER: an optional
// '-', then digits, within int64.
func atoi(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0') // 19 digits fit in a uint64
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}
