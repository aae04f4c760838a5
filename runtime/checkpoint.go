package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Retention says which checkpoints Prune keeps: the KeepLast newest, and
// those younger than MaxAge. A zero field keeps nothing by itself; a
// checkpoint goes only when no set rule keeps it, so Retention{} removes
// nothing.
type Retention struct {
	KeepLast int
	MaxAge   time.Duration
}

// checkpointName makes a name that sorts by creation time.
func checkpointName(t time.Time) string {
	return t.UTC().Format("20060102T150405.000000000Z")
}

// CheckpointOption configures one Checkpoint.
type CheckpointOption func(*CheckpointMeta)

// WithLabels gives the checkpoint labels (string keys and values), which
// listing checkpoints shows. Label keys are names (ValidateName); empty
// values are left out.
func WithLabels(labels map[string]string) CheckpointOption {
	return func(m *CheckpointMeta) {
		for k, v := range labels {
			if v == "" {
				continue
			}
			if m.Labels == nil {
				m.Labels = map[string]string{}
			}
			m.Labels[k] = v
		}
	}
}

// Checkpoint copies the namespace's current state under name, replacing a
// checkpoint of that name. An empty name gets a generated one that sorts by
// time. The checkpoint records the labels opts give and the checkpoint the
// run was last restored or forked from. With a retention policy
// (WithRetention) it also removes the checkpoints the policy does not
// keep, never the one just written: in the same write on a backend that
// copies checkpoints itself (CheckpointCopier), right after it elsewhere.
func (s *Store) Checkpoint(ctx context.Context, ns, name string, opts ...CheckpointOption) (CheckpointInfo, error) {
	now := time.Now()
	if name == "" {
		name = checkpointName(now)
	}
	if err := validateCheckpoint(ns, name); err != nil {
		return CheckpointInfo{}, s.wrap("checkpoint", ns, name, err)
	}
	var meta CheckpointMeta
	for _, o := range opts {
		o(&meta)
	}
	for k, v := range meta.Labels {
		if err := validateLabel(k, v); err != nil {
			return CheckpointInfo{}, s.wrap("checkpoint", ns, name, err)
		}
	}
	if c, ok := s.be.(CheckpointCopier); ok {
		return s.copyCheckpoint(ctx, c, ns, CheckpointInfo{Name: name, Created: now, CheckpointMeta: meta})
	}
	raw, err := s.rawSnapshot(ctx, ns)
	if err != nil {
		return CheckpointInfo{}, err
	}
	snap, err := s.state(raw)
	if err != nil {
		return CheckpointInfo{}, err
	}
	meta.Restored = refOf(raw.Values, keyRestored)
	values := snap.Values
	cp := &Checkpoint{
		CheckpointInfo: CheckpointInfo{Name: name, Created: now, Revision: snap.Revision, Schema: snap.Schema, Keys: len(values), CheckpointMeta: meta},
		Values:         values,
	}
	if err := s.putCheckpoint(ctx, ns, cp); err != nil {
		return CheckpointInfo{}, err
	}
	if r := s.opts.retention; r.KeepLast > 0 || r.MaxAge > 0 {
		if err := s.retain(ctx, ns, name, r); err != nil {
			return cp.CheckpointInfo, err
		}
	}
	return cp.CheckpointInfo, nil
}

// copyCheckpoint is Checkpoint on a backend that copies the run inside the
// store, the retention policy applied in the same write.
func (s *Store) copyCheckpoint(ctx context.Context, c CheckpointCopier, ns string, info CheckpointInfo) (CheckpointInfo, error) {
	if err := s.writable("checkpoint", ns, info.Name); err != nil {
		return CheckpointInfo{}, err
	}
	out := info
	err := s.do(ctx, "checkpoint", ns, info.Name, func() (err error) {
		out, err = c.CopyCheckpoint(ctx, ns, info, s.opts.retention)
		return err
	})
	if err != nil {
		return CheckpointInfo{}, err
	}
	return out, nil
}

// putCheckpoint stores cp as it is.
func (s *Store) putCheckpoint(ctx context.Context, ns string, cp *Checkpoint) error {
	if err := s.writable("checkpoint", ns, cp.Name); err != nil {
		return err
	}
	return s.do(ctx, "checkpoint", ns, cp.Name, func() error { return s.be.PutCheckpoint(ctx, ns, cp) })
}

// GetCheckpoint reads a checkpoint; a missing one is ErrNotFound.
func (s *Store) GetCheckpoint(ctx context.Context, ns, name string) (*Checkpoint, error) {
	if err := validateCheckpoint(ns, name); err != nil {
		return nil, s.wrap("read checkpoint", ns, name, err)
	}
	var cp *Checkpoint
	err := s.do(ctx, "read checkpoint", ns, name, func() (err error) {
		cp, err = s.be.GetCheckpoint(ctx, ns, name)
		return err
	})
	return cp, err
}

// Restore makes the namespace exactly the checkpoint: its keys with their
// values, its schema, and no other key (but the reserved keys, which
// describe the run and stay as they are). It records which checkpoint the
// run was restored from (RunInfo.Restored, and the checkpoints taken
// after). It returns the new revision.
func (s *Store) Restore(ctx context.Context, ns, name string) (int64, error) {
	b, err := s.restoreBatch(ctx, ns, name)
	if err != nil {
		return 0, err
	}
	return s.apply(ctx, "restore", ns, name, b)
}

// restoreBatch reads a checkpoint and returns the batch that restores it
// (whose Restore makes the write record the run's lineage).
func (s *Store) restoreBatch(ctx context.Context, ns, name string) (*Batch, error) {
	cp, err := s.GetCheckpoint(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	b := &Batch{Replace: true, Schema: &cp.Schema, Puts: make([]KV, 0, len(cp.Values)+1), Restore: name}
	for k, v := range withoutReserved(cp.Values) {
		b.Puts = append(b.Puts, KV{Key: k, Value: v.Data})
	}
	return b, nil
}

// Checkpoints lists a namespace's checkpoints, oldest first. A checkpoint
// that cannot be read is listed too, with only its Name and its Err (which
// wraps ErrCorrupt), first, since its age is unknown; the others are listed
// as usual.
func (s *Store) Checkpoints(ctx context.Context, ns string) ([]CheckpointInfo, error) {
	if err := validate(ns); err != nil {
		return nil, s.wrap("list checkpoints", ns, "", err)
	}
	var list []CheckpointInfo
	err := s.do(ctx, "list checkpoints", ns, "", func() (err error) {
		list, err = s.be.Checkpoints(ctx, ns)
		return err
	})
	for i := range list {
		if list[i].Err != nil {
			list[i] = CheckpointInfo{Name: list[i].Name, Err: s.wrap("read checkpoint", ns, list[i].Name, list[i].Err)}
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].Created.Equal(list[j].Created) {
			return list[i].Created.Before(list[j].Created)
		}
		return list[i].Name < list[j].Name
	})
	return list, err
}

// DeleteCheckpoint removes a checkpoint; a missing one is ErrNotFound.
func (s *Store) DeleteCheckpoint(ctx context.Context, ns, name string) error {
	if err := validateCheckpoint(ns, name); err != nil {
		return s.wrap("delete checkpoint", ns, name, err)
	}
	if err := s.writable("delete checkpoint", ns, name); err != nil {
		return err
	}
	return s.do(ctx, "delete checkpoint", ns, name, func() error { return s.be.DeleteCheckpoint(ctx, ns, name) })
}

// Prune removes the checkpoints r does not keep and returns them, oldest
// first. A checkpoint that cannot be read is never removed, nor counted by
// KeepLast (its age is unknown): Prune removes the others as r says and
// returns them together with an error wrapping ErrCorrupt that names the
// unreadable ones it kept.
func (s *Store) Prune(ctx context.Context, ns string, r Retention) ([]CheckpointInfo, error) {
	return s.prune(ctx, ns, r, true)
}

// Prunable returns the checkpoints Prune would remove, removing nothing
// (a dry run).
func (s *Store) Prunable(ctx context.Context, ns string, r Retention) ([]CheckpointInfo, error) {
	return s.prune(ctx, ns, r, false)
}

func (s *Store) prune(ctx context.Context, ns string, r Retention, remove bool) ([]CheckpointInfo, error) {
	list, err := s.Checkpoints(ctx, ns)
	if err != nil {
		return nil, err
	}
	var readable []CheckpointInfo
	var unreadable []string
	for _, cp := range list {
		if cp.Err != nil {
			unreadable = append(unreadable, cp.Name)
			continue
		}
		readable = append(readable, cp)
	}
	doomed := r.Doomed(readable, time.Now())
	if remove {
		for i, cp := range doomed {
			if err := s.DeleteCheckpoint(ctx, ns, cp.Name); err != nil {
				return doomed[:i], err
			}
		}
	}
	if len(unreadable) > 0 {
		return doomed, s.wrap("prune", ns, "", fmt.Errorf("%w: kept the checkpoints that cannot be read: %s", ErrCorrupt, strings.Join(unreadable, ", ")))
	}
	return doomed, nil
}

// retain removes the checkpoints r does not keep, never keep itself: the
// retention policy applied after each checkpoint.
func (s *Store) retain(ctx context.Context, ns, keep string, r Retention) error {
	list, err := s.Checkpoints(ctx, ns)
	if err != nil {
		return err
	}
	readable := list[:0]
	for _, cp := range list {
		if cp.Err == nil {
			readable = append(readable, cp)
		}
	}
	for _, cp := range r.Doomed(readable, time.Now()) {
		if cp.Name == keep {
			continue
		}
		if err := s.DeleteCheckpoint(ctx, ns, cp.Name); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// Doomed picks, from a list sorted oldest first (as Store.Checkpoints
// returns it), the checkpoints r does not keep at time now.
func (r Retention) Doomed(list []CheckpointInfo, now time.Time) []CheckpointInfo {
	if r.KeepLast <= 0 && r.MaxAge <= 0 {
		return nil
	}
	var out []CheckpointInfo
	for i, cp := range list {
		kept := r.KeepLast > 0 && i >= len(list)-r.KeepLast ||
			r.MaxAge > 0 && now.Sub(cp.Created) < r.MaxAge
		if !kept {
			out = append(out, cp)
		}
	}
	return out
}

func validateCheckpoint(ns, name string) error {
	if err := ValidateName("namespace", ns); err != nil {
		return err
	}
	return ValidateName("checkpoint", name)
}
