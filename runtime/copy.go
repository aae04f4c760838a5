package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// PutCheckpoint stores a checkpoint as given (name, creation time, revision,
// schema and values), replacing one of the same name: for tools that copy
// checkpoints between stores. Checkpoint is the way to take one.
func (s *Store) PutCheckpoint(ctx context.Context, ns string, cp *Checkpoint) error {
	if err := validateCheckpoint(ns, cp.Name); err != nil {
		return s.wrap("put checkpoint", ns, cp.Name, err)
	}
	for k, v := range cp.Values {
		if err := ValidateName("key", k); err != nil {
			return s.wrap("put checkpoint", ns, cp.Name, err)
		}
		if !json.Valid(v.Data) {
			return s.wrap("put checkpoint", ns, cp.Name, fmt.Errorf("%w: value of key %q is not valid JSON", ErrInvalidValue, k))
		}
	}
	if err := s.writable("put checkpoint", ns, cp.Name); err != nil {
		return err
	}
	cp.Keys = len(cp.Values)
	return s.do(ctx, "put checkpoint", ns, cp.Name, func() error { return s.be.PutCheckpoint(ctx, ns, cp) })
}

// Digest summarises a namespace so that two stores can be compared: its key
// and checkpoint counts and a hash of its schema, keys, values (compacted,
// so that formatting does not count), what Copy carries of the run besides
// (labels, lineage, TTL) and checkpoints.
type Digest struct {
	Keys        int    `json:"keys"`
	Checkpoints int    `json:"checkpoints"`
	Hash        string `json:"hash"`
}

// hashValues hashes a schema and a set of values.
func hashValues(schema SchemaRef, values map[string]Value) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", schema.Name, schema.Version)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	for _, k := range keys {
		buf.Reset()
		if json.Compact(&buf, values[k].Data) != nil {
			buf.Write(values[k].Data)
		}
		fmt.Fprintf(h, "%s\x00%s\x00", k, buf.Bytes())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkpointHash hashes what Copy copies of a checkpoint: its creation
// time, schema, values, labels and lineage.
func checkpointHash(cp *Checkpoint) string {
	meta, _ := json.Marshal(cp.CheckpointMeta) // maps and strings: no error
	return fmt.Sprintf("%d %s %s", cp.Created.UnixNano(), hashValues(cp.Schema, cp.Values), meta)
}

// Digest summarises namespace ns; a namespace with neither state nor
// checkpoints is ErrNotFound.
func (s *Store) Digest(ctx context.Context, ns string) (Digest, error) {
	var d Digest
	h := sha256.New()
	snap, _, err := copyState(ctx, s, ns)
	switch {
	case err == nil:
		d.Keys = len(withoutReserved(snap.Values))
		fmt.Fprintf(h, "state %s\n", hashValues(snap.Schema, snap.Values))
	case !errors.Is(err, ErrNotFound):
		return d, err
	}
	cps, err := s.Checkpoints(ctx, ns)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return d, err
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].Name < cps[j].Name })
	for _, info := range cps {
		cp, err := s.GetCheckpoint(ctx, ns, info.Name)
		if err != nil {
			return d, err
		}
		fmt.Fprintf(h, "checkpoint %s %s\n", cp.Name, checkpointHash(cp))
	}
	d.Checkpoints = len(cps)
	if snap == nil && d.Checkpoints == 0 {
		return d, s.wrap("digest", ns, "", ErrNotFound)
	}
	d.Hash = hex.EncodeToString(h.Sum(nil))
	return d, nil
}

// CopyResult says what Copy did with one namespace.
type CopyResult struct {
	// State is true when the state was written (false: the destination
	// already held the same, or the source had none).
	State bool
	// Keys is the number of keys in the source's state.
	Keys int
	// Checkpoints counts the checkpoints written; Skipped those the
	// destination already held the same.
	Checkpoints, Skipped int
}

// ErrDestinationDiffers is Copy refusing to overwrite a destination
// namespace or checkpoint that holds different data.
var ErrDestinationDiffers = errors.New("destination holds different data")

// CopyOptions says how Copy treats what the destination already holds.
type CopyOptions struct {
	// Overwrite replaces a destination namespace or checkpoint that holds
	// different data (without it: ErrDestinationDiffers).
	Overwrite bool
	// DryRun writes nothing; the result says what would be written.
	DryRun bool
}

// carried reports whether a reserved key travels with a run's state when
// it is copied: its labels, lineage and TTL do; its lease, which belongs to
// a holder working against the source store, does not.
func carried(key string) bool { return IsReserved(key) && key != LeaseKey }

// copyState is the state of namespace ns that Copy compares and writes:
// the user's keys and the reserved ones that are carried. A run that
// expired or holds only reserved keys is ErrNotFound; raw is what is
// stored all the same (nil if nothing).
func copyState(ctx context.Context, s *Store, ns string) (state, raw *Snapshot, err error) {
	if raw, err = s.rawSnapshot(ctx, ns); err != nil {
		return nil, nil, err
	}
	if _, err := s.state(raw); err != nil {
		return nil, raw, err
	}
	c := *raw
	c.Values = make(map[string]Value, len(raw.Values))
	for k, v := range raw.Values {
		if !IsReserved(k) || carried(k) {
			c.Values[k] = v
		}
	}
	return &c, raw, nil
}

// Copy copies namespace ns from src to dst: its state, with its schema,
// labels, lineage and TTL, in one atomic write, then each checkpoint with
// its creation time, revision, schema, labels and lineage. What the
// destination already holds the same is left alone, so running Copy again
// changes nothing and an interrupted copy can simply be run again. A run's
// lease is not copied, and its TTL counts from the copy's write. A
// destination opened WithTTL records its own TTL on a run it has not
// written before, as on every write.
func Copy(ctx context.Context, src, dst *Store, ns string, o CopyOptions) (CopyResult, error) {
	var res CopyResult
	snap, _, err := copyState(ctx, src, ns)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return res, err
	}
	if snap != nil {
		res.Keys = len(withoutReserved(snap.Values))
		have, stored, err := copyState(ctx, dst, ns)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return res, err
		}
		if have == nil && !o.DryRun {
			if err := dropExpired(ctx, dst, stored); err != nil {
				return res, err
			}
		}
		same := have != nil && hashValues(have.Schema, have.Values) == hashValues(snap.Schema, snap.Values)
		if have != nil && !same && !o.Overwrite {
			return res, dst.wrap("copy", ns, "", fmt.Errorf("%w: the namespace exists with other state", ErrDestinationDiffers))
		}
		if !same {
			res.State = true
			if !o.DryRun {
				if err := copyWrite(ctx, dst, ns, snap, have); err != nil {
					return res, err
				}
			}
		}
	}
	cps, err := src.Checkpoints(ctx, ns)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return res, err
	}
	for _, info := range cps {
		cp, err := src.GetCheckpoint(ctx, ns, info.Name)
		if err != nil {
			return res, err
		}
		have, err := dst.GetCheckpoint(ctx, ns, info.Name)
		switch {
		case err == nil && checkpointHash(have) == checkpointHash(cp):
			res.Skipped++
			continue
		case err == nil && !o.Overwrite:
			return res, dst.wrap("copy", ns, info.Name, fmt.Errorf("%w: checkpoint %s exists with other content", ErrDestinationDiffers, info.Name))
		case err != nil && !errors.Is(err, ErrNotFound):
			return res, err
		}
		res.Checkpoints++
		if !o.DryRun {
			if err := dst.PutCheckpoint(ctx, ns, cp); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// dropExpired drops the run stored (nil: none) if it has expired and is
// not collected yet: it reads as absent, and a copy writes a new run in
// its place, which its leftovers would make conflict. The drop is
// conditioned on the revision read, so a run written since is kept (and
// the copy's write, conditioned on the run being absent, conflicts).
func dropExpired(ctx context.Context, s *Store, stored *Snapshot) error {
	if stored == nil {
		return nil
	}
	if expires := runExpiry(stored); expires.IsZero() || !time.Now().After(expires) {
		return nil
	}
	if err := s.DropIf(ctx, stored.Namespace, stored.Revision); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
		return err
	}
	return nil
}

// copyWrite makes dst's namespace ns hold snap, in one write conditioned on
// have (what was looked at, nil: nothing), so that a writer racing the
// copy is not overwritten unseen. Carried reserved keys that dst holds
// and snap does not (a label since removed) are deleted.
func copyWrite(ctx context.Context, dst *Store, ns string, snap, have *Snapshot) error {
	b := &Batch{Replace: true, Schema: &snap.Schema, Conds: []Cond{{}}}
	if have != nil {
		b.Conds[0].Revision = have.Revision
		for k := range have.Values {
			if _, ok := snap.Values[k]; !ok && IsReserved(k) {
				b.Deletes = append(b.Deletes, k)
			}
		}
		sort.Strings(b.Deletes)
	}
	for _, k := range snap.Keys() {
		b.Puts = append(b.Puts, KV{Key: k, Value: snap.Values[k].Data})
	}
	_, err := dst.applyReserved(ctx, "copy", ns, "", b)
	return err
}
