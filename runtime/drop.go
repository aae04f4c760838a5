package runtime

import (
	"context"
	"errors"
)

// Dropper is implemented by backends that delete a whole namespace (its
// state, reserved keys, schema and checkpoints) in one atomic step: after
// it no reader sees any of it, and no reader ever sees part of it gone. A
// namespace that holds nothing is ErrNotFound.
type Dropper interface {
	Drop(ctx context.Context, ns string) error
}

// Drop deletes a whole run: its state, its checkpoints and the runtime's
// bookkeeping (lease, labels, lineage, expiry), all at once on every
// backend stategen ships, so that no half-deleted run is ever listed or
// read. A run that holds nothing is ErrNotFound. A later write to ns
// starts a new run, whose revisions start over.
func (s *Store) Drop(ctx context.Context, ns string) error {
	if err := validate(ns); err != nil {
		return s.wrap("drop", ns, "", err)
	}
	if err := s.writable("drop", ns, ""); err != nil {
		return err
	}
	d, ok := s.be.(Dropper)
	if !ok {
		return s.dropPiecemeal(ctx, ns)
	}
	err := s.do(ctx, "drop", ns, "", func() error { return d.Drop(ctx, ns) })
	s.ttlRecorded.Delete(ns)
	if s.cache != nil {
		s.cache.wrote(ns, 0, errors.New("dropped"))
	}
	return err
}

// dropPiecemeal drops a namespace on a backend that cannot do it at once:
// the state first (so that the run reads as gone), then its checkpoints.
func (s *Store) dropPiecemeal(ctx context.Context, ns string) error {
	snap, err := s.Snapshot(ctx, ns)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
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
