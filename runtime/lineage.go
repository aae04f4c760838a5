package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// The reserved keys of a run's lineage. Each holds a CheckpointRef as JSON.
const (
	// keyParent is the checkpoint a forked run started as.
	keyParent = ReservedPrefix + "parent"
	// keyRestored is the checkpoint the run was last restored (or forked)
	// from; each new checkpoint records it.
	keyRestored = ReservedPrefix + "restored"
)

// Fork starts run newNS as exactly checkpoint name of run ns: its values
// and its schema, and no other key. newNS must not exist (else ErrConflict,
// and nothing is written); it records ns and name as its parent (RunInfo's
// Parent and Restored). Secret values sealed for ns are opened and sealed
// again for newNS, since a sealed value opens only under its own run and
// key: forking a run with sealed secrets needs the keys. It returns
// newNS's revision.
func (s *Store) Fork(ctx context.Context, ns, name, newNS string) (int64, error) {
	if err := validate(newNS); err != nil {
		return 0, s.wrap("fork", newNS, "", err)
	}
	cp, err := s.GetCheckpoint(ctx, ns, name)
	if err != nil {
		return 0, err
	}
	values := withoutReserved(cp.Values)
	if newNS != ns {
		// Open them here; the write seals them again, bound to newNS.
		if values, err = s.unsealAll(ns, values); err != nil {
			return 0, s.wrap("fork", newNS, "", fmt.Errorf("open the sealed values of checkpoint %s of %s: %w", name, ns, err))
		}
	}
	ref, err := json.Marshal(CheckpointRef{Namespace: ns, Checkpoint: name})
	if err != nil {
		return 0, err
	}
	b := &Batch{
		Puts:  make([]KV, 0, len(values)+2),
		Conds: []Cond{{Revision: 0}},
	}
	if !cp.Schema.IsZero() {
		b.Schema = &cp.Schema
	}
	for k, v := range values {
		b.Puts = append(b.Puts, KV{Key: k, Value: v.Data})
	}
	b.Puts = append(b.Puts, KV{Key: keyParent, Value: ref}, KV{Key: keyRestored, Value: ref})
	if ttl := s.opts.keyTTL; ttl > 0 {
		b.Puts = append(b.Puts, ttlKV(ttl))
	}
	rev, err := s.applyReserved(ctx, "fork", newNS, "", b)
	if errors.Is(err, ErrConflict) {
		return 0, s.wrap("fork", newNS, "", fmt.Errorf("%w: run %s exists already", ErrConflict, newNS))
	}
	return rev, err
}

// refOf decodes a reserved key holding a CheckpointRef; nil when absent or
// unreadable (lineage is information, not state: it never fails a read).
func refOf(values map[string]Value, key string) *CheckpointRef {
	v, ok := values[key]
	if !ok {
		return nil
	}
	var ref CheckpointRef
	if json.Unmarshal(v.Data, &ref) != nil || ref.Namespace == "" {
		return nil
	}
	return &ref
}
