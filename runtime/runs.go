package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// labelPrefix starts the reserved key of each of a run's labels: label K is
// the key "__label.K", holding V as a JSON string. One key per label lets
// a backend index labels with the keys it stores anyway, and lets the
// ordinary write path keep that index.
const labelPrefix = ReservedPrefix + "label."

// MaxLabelLen is the longest label value accepted, in bytes.
const MaxLabelLen = 256

// LabelKey is the reserved key that holds label k of a run.
func LabelKey(k string) string { return labelPrefix + k }

// validateLabel checks a label: its key is a name, its value printable
// text of at most MaxLabelLen bytes.
func validateLabel(k, v string) error {
	if err := ValidateName("label", k); err != nil {
		return err
	}
	if len(v) > MaxLabelLen {
		return fmt.Errorf("%w: label %s: value is %d bytes, longer than %d", ErrInvalidValue, k, len(v), MaxLabelLen)
	}
	for _, c := range v {
		if c < ' ' || c == 0x7f {
			return fmt.Errorf("%w: label %s: value holds a control character", ErrInvalidValue, k)
		}
	}
	return nil
}

// Label sets labels of run ns; an empty value removes that label. It
// returns the run's new revision. Labels describe the run, not its state:
// checkpoints do not copy them and Restore leaves them, and Runs finds runs
// by them.
func (s *Store) Label(ctx context.Context, ns string, labels map[string]string) (int64, error) {
	b := &Batch{}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		if err := validateLabel(k, v); err != nil {
			return 0, s.wrap("label", ns, "", err)
		}
		if v == "" {
			b.Deletes = append(b.Deletes, LabelKey(k))
			continue
		}
		js, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		b.Puts = append(b.Puts, KV{Key: LabelKey(k), Value: js})
	}
	return s.applyReserved(ctx, "label", ns, "", b)
}

// RunInfo describes one run (namespace) as Runs lists it.
type RunInfo struct {
	Namespace string    `json:"namespace"`
	Revision  int64     `json:"revision"`
	Schema    SchemaRef `json:"schema"`
	// Updated is the time of the run's last write (zero if unknown).
	Updated time.Time `json:"updated"`
	// Lease is the run's lease while one is held, else nil.
	Lease  *LeaseInfo        `json:"lease,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// Parent is the checkpoint a forked run started as.
	Parent *CheckpointRef `json:"parent,omitempty"`
	// Restored is the checkpoint the run was last restored or forked from.
	Restored *CheckpointRef `json:"restored,omitempty"`
	// TTL is the idle time after which the run expires (0: never).
	TTL time.Duration `json:"ttl,omitempty"`
	// Checkpoints is set when the run holds only checkpoints: no state.
	CheckpointsOnly bool `json:"checkpoints_only,omitempty"`
	// Err is set, and the rest but Namespace left zero, for a run whose
	// state cannot be read; it wraps ErrCorrupt.
	Err error `json:"-"`
}

// Expired reports whether the run has been idle longer than its TTL.
func (r RunInfo) Expired(now time.Time) bool {
	return r.TTL > 0 && !r.Updated.IsZero() && now.Sub(r.Updated) > r.TTL
}

// RunInfo describes the run of a snapshot read with its reserved keys (a
// backend's Snapshot): its last update, TTL, lease, labels and lineage.
// Backends that copy checkpoints themselves (CheckpointCopier) use it to
// judge expiry and lineage as the Store does.
func (snap *Snapshot) RunInfo() RunInfo {
	r := RunInfo{Namespace: snap.Namespace, Revision: snap.Revision, Schema: snap.Schema, Updated: snap.Updated}
	for k, v := range snap.Values {
		if v.Updated.After(r.Updated) {
			r.Updated = v.Updated
		}
		switch {
		case strings.HasPrefix(k, labelPrefix):
			var lv string
			if json.Unmarshal(v.Data, &lv) == nil {
				if r.Labels == nil {
					r.Labels = map[string]string{}
				}
				r.Labels[k[len(labelPrefix):]] = lv
			}
		case k == LeaseKey:
			var l LeaseInfo
			if json.Unmarshal(v.Data, &l) == nil && l.Holder != "" && time.Now().Before(l.Expires) {
				r.Lease = &l
			}
		case k == KeyTTL:
			r.TTL = ttlOf(v.Data)
		}
	}
	r.Parent = refOf(snap.Values, keyParent)
	r.Restored = refOf(snap.Values, keyRestored)
	return r
}

// Run describes run ns. A run that holds nothing, or only checkpoints, is
// ErrNotFound... unless it holds checkpoints, which are listed
// (CheckpointsOnly); a run idle longer than its TTL is ErrNotFound.
func (s *Store) Run(ctx context.Context, ns string) (RunInfo, error) {
	snap, err := s.rawSnapshot(ctx, ns)
	if errors.Is(err, ErrNotFound) {
		list, lerr := s.Checkpoints(ctx, ns)
		if lerr == nil && len(list) > 0 {
			return RunInfo{Namespace: ns, CheckpointsOnly: true}, nil
		}
	}
	if err != nil {
		return RunInfo{}, err
	}
	r := snap.RunInfo()
	if r.Expired(time.Now()) {
		return RunInfo{}, s.wrap("run", ns, "", fmt.Errorf("%w: the run expired (idle longer than its TTL %s)", ErrNotFound, r.TTL))
	}
	return r, nil
}

// RunQuery selects runs for Runs. Zero fields select everything.
type RunQuery struct {
	// Labels the run must all carry, with these values.
	Labels map[string]string
	// Schema is the name of the schema the run's state is written under.
	Schema string
	// Since keeps the runs written at or after it.
	Since time.Time
	// After is the cursor of the page before (RunPage.Next): the page
	// starts after that namespace.
	After string
	// Limit bounds the page (0: no bound).
	Limit int
}

func (q RunQuery) match(r RunInfo) bool {
	if r.Err != nil {
		return len(q.Labels) == 0 && q.Schema == "" && q.Since.IsZero()
	}
	if q.Schema != "" && r.Schema.Name != q.Schema {
		return false
	}
	if !q.Since.IsZero() && r.Updated.Before(q.Since) {
		return false
	}
	for k, v := range q.Labels {
		if r.Labels[k] != v {
			return false
		}
	}
	return true
}

// RunPage is one page of Runs.
type RunPage struct {
	// Runs are in namespace order.
	Runs []RunInfo `json:"runs"`
	// Next is the cursor of the next page (RunQuery.After), "" after the
	// last.
	Next string `json:"next,omitempty"`
}

// LabelIndex is implemented by backends that index runs by label: SQL
// tables, a maintained Redis index. Runs uses it to find the runs of a
// label without reading every run.
type LabelIndex interface {
	// Labelled returns, in order, namespaces after `after` whose reserved
	// key holds exactly value (JSON as the Store wrote it), at most limit
	// of them, and the cursor to continue from ("" when there are no
	// more). It may return fewer than limit with more to come, and
	// namespaces that no longer hold the label: Runs checks each one.
	Labelled(ctx context.Context, key string, value json.RawMessage, after string, limit int) (names []string, next string, err error)
}

// Runs lists the runs q selects, a page at a time in namespace order: with
// q.Limit set, pass the page's Next as q.After for the next page. A run
// written, created or dropped while the pages are read may or may not be
// listed; any other is listed exactly once. Runs idle longer than their
// TTL are not listed. On backends that index labels (SQLite, PostgreSQL,
// Redis) a query with a label reads only the runs that carry it; otherwise
// every run is read.
func (s *Store) Runs(ctx context.Context, q RunQuery) (RunPage, error) {
	for k, v := range q.Labels {
		if err := validateLabel(k, v); err != nil {
			return RunPage{}, s.wrap("list runs", "", "", err)
		}
	}
	if q.After != "" {
		if err := validate(q.After); err != nil {
			return RunPage{}, s.wrap("list runs", "", "", fmt.Errorf("cursor: %w", err))
		}
	}
	next, err := s.runCandidates(ctx, q)
	if err != nil {
		return RunPage{}, err
	}
	var page RunPage
	now := time.Now()
	for {
		names, more, err := next()
		if err != nil {
			return RunPage{}, err
		}
		for _, ns := range names {
			r, err := s.runOf(ctx, ns)
			if errors.Is(err, ErrNotFound) || err == nil && r.Expired(now) || err == nil && !q.match(r) {
				continue
			}
			if err != nil {
				return RunPage{}, err
			}
			if q.Limit > 0 && len(page.Runs) == q.Limit {
				page.Next = page.Runs[len(page.Runs)-1].Namespace
				return page, nil
			}
			page.Runs = append(page.Runs, r)
		}
		if !more {
			return page, nil
		}
	}
}

// runOf reads one run for Runs; a run that cannot be read is listed with
// its error.
func (s *Store) runOf(ctx context.Context, ns string) (RunInfo, error) {
	r, err := s.Run(ctx, ns)
	if errors.Is(err, ErrCorrupt) {
		return RunInfo{Namespace: ns, Err: err}, nil
	}
	return r, err
}

// runCandidates returns a function giving, in order, batches of the
// namespaces that may match q, and whether more may come.
func (s *Store) runCandidates(ctx context.Context, q RunQuery) (func() ([]string, bool, error), error) {
	// A page needs Limit runs and one more to know there is a next page:
	// asking the index for just that many keeps a page's cost that of
	// its runs (more are asked for when some do not match).
	batch := 64
	if q.Limit > 0 {
		batch = q.Limit + 1
	}
	if idx, ok := s.be.(LabelIndex); ok && len(q.Labels) > 0 {
		k := slices.Min(slices.Collect(maps.Keys(q.Labels)))
		value, err := json.Marshal(q.Labels[k])
		if err != nil {
			return nil, err
		}
		after := q.After
		return func() ([]string, bool, error) {
			var names []string
			var next string
			err := s.do(ctx, "list runs", "", "", func() (err error) {
				names, next, err = idx.Labelled(ctx, LabelKey(k), value, after, batch)
				return err
			})
			after = next
			return names, next != "", err
		}, nil
	}
	all, err := s.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	i, _ := slices.BinarySearch(all, q.After)
	if i < len(all) && all[i] == q.After {
		i++
	}
	all = all[i:]
	return func() ([]string, bool, error) {
		n := min(batch, len(all))
		names := all[:n]
		all = all[n:]
		return names, len(all) > 0, nil
	}, nil
}
