package runtime

import (
	"context"
	"errors"
	"fmt"
)

// Dropper is implemented by backends that delete a whole namespace (its
// state, reserved keys, schema and checkpoints) in one atomic step: after
// it no reader sees any of it, and no reader ever sees part of it gone. A
// namespace that holds nothing is ErrNotFound. With ifRevision above 0, the
// namespace is deleted only if its revision is still that one, in the same
// atomic step; otherwise nothing is deleted and the error is ErrConflict.
type Dropper interface {
	Drop(ctx context.Context, ns string, ifRevision int64) error
}

// Drop deletes a whole run: its state, its checkpoints and the runtime's
// bookkeeping (lease, labels, lineage, expiry), all at once on every
// backend stategen ships, so that no half-deleted run is ever listed or
// read. A run that holds nothing is ErrNotFound. A later write to ns
// starts a new run, whose revisions start over.
func (s *Store) Drop(ctx context.Context, ns string) error { return s.DropIf(ctx, ns, 0) }

// DropIf is Drop conditioned on the namespace's revision, as a write's
// condition is: ns is deleted only if its revision is still revision (above
// 0; 0 drops whatever it is), else nothing is deleted and the error is
// ErrConflict. GC drops this way, so that a run written again after GC
// found it expired is kept.
func (s *Store) DropIf(ctx context.Context, ns string, revision int64) error {
	if err := validate(ns); err != nil {
		return s.wrap("drop", ns, "", err)
	}
	if revision < 0 {
		return s.wrap("drop", ns, "", fmt.Errorf("%w: revision %d (a revision is positive, or 0 for any)", ErrInvalidValue, revision))
	}
	if err := s.writable("drop", ns, ""); err != nil {
		return err
	}
	d, ok := s.be.(Dropper)
	if !ok {
		return s.dropPiecemeal(ctx, ns, revision)
	}
	err := s.do(ctx, "drop", ns, "", func() error { return d.Drop(ctx, ns, revision) })
	s.ttlRecorded.Delete(ns)
	if s.cache != nil {
		s.cache.wrote(ns, 0, errors.New("dropped"))
	}
	return err
}

// dropPiecemeal drops a namespace on a backend that cannot do it at once:
// the state first (so that the run reads as gone; conditioned on
// ifRevision), then its checkpoints.
func (s *Store) dropPiecemeal(ctx context.Context, ns string, ifRevision int64) error {
	snap, err := s.rawSnapshot(ctx, ns)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if ifRevision > 0 && (snap == nil || snap.Revision != ifRevision) {
		found := int64(0)
		if snap != nil {
			found = snap.Revision
		}
		return s.wrap("drop", ns, "", fmt.Errorf("%w: expected revision %d, found %d", ErrConflict, ifRevision, found))
	}
	list, lerr := s.Checkpoints(ctx, ns)
	if lerr != nil {
		return lerr
	}
	if snap == nil && len(list) == 0 {
		return s.wrap("drop", ns, "", ErrNotFound)
	}
	if snap != nil {
		b := &Batch{Replace: true, Schema: &SchemaRef{}}
		if ifRevision > 0 {
			b.Conds = []Cond{{Revision: ifRevision}}
		}
		for k := range snap.Values {
			if IsReserved(k) {
				b.Deletes = append(b.Deletes, k)
			}
		}
		if _, err := s.applyReserved(ctx, "drop", ns, "", b); err != nil {
			return err
		}
	}
	for _, cp := range list {
		if err := s.DeleteCheckpoint(ctx, ns, cp.Name); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}
