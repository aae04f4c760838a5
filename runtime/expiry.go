package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// KeyTTL is the reserved key that records a run's TTL (WithTTL), in
// nanoseconds, so that every tool, without the program's options, knows
// when the run expires: TTL after its last write (RunInfo.Expired).
// Backends that answer a single-key read judge expiry from it.
const KeyTTL = ReservedPrefix + "ttl"

// ttlKV is the put that records ttl with a run.
func ttlKV(ttl time.Duration) KV {
	return KV{Key: KeyTTL, Value: json.RawMessage(strconv.FormatInt(int64(ttl), 10))}
}

// ttlOf decodes the value of KeyTTL; 0 when it is not a duration.
func ttlOf(data []byte) time.Duration {
	var n int64
	if json.Unmarshal(data, &n) != nil || n < 0 {
		return 0
	}
	return time.Duration(n)
}

// GC deletes the runs idle longer than their TTL, each with Drop (state,
// checkpoints, lease, labels at once), and returns them. Each drop is
// conditioned on the revision GC read (DropIf): a run written again
// between the check and the drop is kept, and not returned.
func (s *Store) GC(ctx context.Context) ([]RunInfo, error) { return s.gc(ctx, true) }

// Expired returns the runs idle longer than their TTL: those GC would
// delete, deleting nothing (a dry run).
func (s *Store) Expired(ctx context.Context) ([]RunInfo, error) { return s.gc(ctx, false) }

func (s *Store) gc(ctx context.Context, drop bool) ([]RunInfo, error) {
	names, err := s.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []RunInfo
	for _, ns := range names {
		snap, err := s.rawSnapshot(ctx, ns)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
			continue
		}
		if err != nil {
			return out, err
		}
		r := snap.RunInfo()
		if !r.Expired(now) {
			continue
		}
		if drop {
			// Conditioned on the revision read: a run written since is
			// not expired any more (ErrConflict), one dropped meanwhile
			// is gone (ErrNotFound).
			err := s.DropIf(ctx, ns, snap.Revision)
			switch {
			case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
				continue
			case err != nil:
				return out, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}
