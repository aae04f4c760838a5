package web

import (
	"context"
	"iter"
	"slices"
	"time"
)

// pollEvery is how often feed looks for changes.
const pollEvery = 300 * time.Millisecond

// feed yields the changes of namespace ns (of every namespace when ns is
// empty) until ctx ends.
//
// TODO(issue 13): this polls revisions and checkpoint lists until
// Store.Watch lands; it then becomes a loop over Store.Watch.
func (h *Handler) feed(ctx context.Context, ns string) iter.Seq2[event, error] {
	return func(yield func(event, error) bool) {
		last := map[string]string{}
		first := true
		for {
			names := []string{ns}
			if ns == "" {
				var err error
				if names, err = h.st.Namespaces(ctx); err != nil {
					if ctx.Err() != nil || !yield(event{}, err) {
						return
					}
				}
			}
			seen := map[string]string{}
			for _, n := range names {
				mark := ""
				if snap, err := h.st.Snapshot(ctx, n); err == nil {
					mark = time.Unix(0, snap.Revision).String()
				}
				cps, _ := h.st.Checkpoints(ctx, n)
				for _, c := range cps {
					mark += "/" + c.Name
				}
				seen[n] = mark
				if !first && last[n] != mark {
					if !yield(event{Namespace: n}, nil) {
						return
					}
				}
			}
			for n := range last {
				if _, ok := seen[n]; !ok && !first && !slices.Contains(names, n) {
					if !yield(event{Namespace: n}, nil) {
						return
					}
				}
			}
			last, first = seen, false
			select {
			case <-ctx.Done():
				return
			case <-time.After(pollEvery):
			}
		}
	}
}
