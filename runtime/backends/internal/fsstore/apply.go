package fsstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/stategen/stategen/runtime"
)

// State is what a file backend's parsed namespace tells the shared write
// path about revisions.
type State interface {
	// Revision is the namespace's effective revision.
	Revision() int64
	// Exists says whether the namespace holds a key or a schema.
	Exists() bool
	// KeyRevision is a present key's effective revision.
	KeyRevision(key string) (rev int64, present bool)
	// Schema is the schema the namespace records (zero for none).
	Schema() runtime.SchemaRef
}

// CheckSchema checks a batch's IfSchema against st: the namespace must
// record no schema or one of want's name and version.
func CheckSchema(st State, want *runtime.SchemaRef) error {
	if want == nil {
		return nil
	}
	if have := st.Schema(); (have.Name != "" || have.Version != 0) && !have.SameVersion(*want) {
		return fmt.Errorf("schema: %w: expected %s, found %s", runtime.ErrConflict, *want, have)
	}
	return nil
}

// CheckConds checks a batch's conditions against st; what names the
// namespace in the conflict error ("namespace x", "ADW id x").
func CheckConds(what string, st State, conds []runtime.Cond) error {
	for _, c := range conds {
		have, subject := int64(0), what
		if c.Key != "" {
			subject = "key " + c.Key
			have, _ = st.KeyRevision(c.Key)
		} else if st.Exists() {
			have = st.Revision()
		}
		if have != c.Revision {
			return fmt.Errorf("%s: %w: expected revision %d, found %d", subject, runtime.ErrConflict, c.Revision, have)
		}
	}
	return nil
}

// Apply is the write path both file backends share: it parses the batch,
// refuses failing conditions on a namespace that has no directory without
// creating one, then under the namespace's lock loads the state (load),
// checks the conditions against it and calls write with the values to
// put, by key and in first-seen order. empty is the state of a namespace
// that does not exist.
func Apply[S State](ctx context.Context, d *Dir, ns, lockFile, what string, batch *runtime.Batch, empty S,
	load func() (S, error), write func(st S, puts map[string]*Node, order []string) (int64, error)) (int64, error) {
	puts, order, err := ParseBatch(ns, batch)
	if err != nil {
		return 0, err
	}
	if _, err := d.Stat(ns); IsNotExist(err) {
		if err := CheckConds(what, empty, batch.Conds); err != nil {
			return 0, err
		}
	}
	unlock, err := d.Lock(ctx, lockFile)
	if err != nil {
		return 0, err
	}
	defer unlock()
	st, err := load()
	if err != nil {
		return 0, err
	}
	if err := CheckConds(what, st, batch.Conds); err != nil {
		return 0, err
	}
	if err := CheckSchema(st, batch.IfSchema); err != nil {
		return 0, err
	}
	return write(st, puts, order)
}

// Merge applies a batch to a namespace's document: with Replace it drops
// every key not put (members whose names are not stategen keys stay), then
// deletes, then stores each put as node(value). Keys already in the file
// keep their place; new ones go at the end, sorted, so that the same batch
// always writes the same bytes.
func Merge(doc *Node, batch *runtime.Batch, puts map[string]*Node, order []string, node func(*Node) *Node) {
	if batch.Replace {
		kept := doc.Members[:0]
		for _, m := range doc.Members {
			if _, put := puts[m.Key]; put || !IsKey(m.Key) {
				kept = append(kept, m)
			}
		}
		doc.Members = kept
	}
	for _, k := range batch.Deletes {
		doc.Delete(k)
	}
	var added []string
	for _, k := range order {
		if doc.Get(k) != nil {
			doc.Set(k, node(puts[k]))
		} else {
			added = append(added, k)
		}
	}
	sort.Strings(added)
	for _, k := range added {
		doc.Set(k, node(puts[k]))
	}
}
