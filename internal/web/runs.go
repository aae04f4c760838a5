package web

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stategen/stategen/runtime"
)

// runQuery is what the runs table asks for: the runs that match every
// filter set, sorted by namespace, after a cursor.
type runQuery struct {
	// Match keeps namespaces that contain it (case-insensitive).
	Match string
	// Labels keeps runs that carry every one of them; an empty value asks
	// only for the label to be present.
	Labels map[string]string
	// Schema keeps runs whose schema name is it.
	Schema string
	// After is the cursor: the last namespace of the previous page.
	After string
	// Limit is the page size.
	Limit int
}

// runRow is one row of the runs table.
type runRow struct {
	Namespace   string
	Schema      runtime.SchemaRef
	Revision    int64
	Updated     time.Time // the latest write of a key still there; zero when unknown
	Holder      string    // the lease holder, where known
	Labels      map[string]string
	Checkpoints int
	Err         error // the run could not be read; the other fields but Namespace may be zero
}

// runsPage is one page of the runs table.
type runsPage struct {
	Runs []runRow
	// Next is the cursor of the next page, empty on the last one.
	Next string
}

// listRuns is the runs table's one data source: Store.Runs, which filters
// by schema and label values through the store's indexes, with the
// namespace substring (Match) and label presence (a label asked for with
// no value) applied on top, page after page of it until the table's page
// is full.
func listRuns(ctx context.Context, st *runtime.Store, q runQuery) (runsPage, error) {
	rq := runtime.RunQuery{Schema: q.Schema, After: q.After, Limit: q.Limit}
	for k, v := range q.Labels {
		if v != "" {
			if rq.Labels == nil {
				rq.Labels = map[string]string{}
			}
			rq.Labels[k] = v
		}
	}
	var page runsPage
	match := strings.ToLower(q.Match)
	for {
		p, err := st.Runs(ctx, rq)
		if err != nil {
			return runsPage{}, err
		}
		for _, r := range p.Runs {
			row := rowOf(r)
			if !strings.Contains(strings.ToLower(r.Namespace), match) || !row.matches(q) {
				continue
			}
			if len(page.Runs) == q.Limit {
				page.Next = page.Runs[len(page.Runs)-1].Namespace
				return page, nil
			}
			if err := row.countCheckpoints(ctx, st); err != nil {
				return runsPage{}, err
			}
			page.Runs = append(page.Runs, row)
		}
		if p.Next == "" {
			return page, nil
		}
		rq.After = p.Next
	}
}

// rowOf is the table's row of a run, before its checkpoints are counted.
func rowOf(r runtime.RunInfo) runRow {
	row := runRow{Namespace: r.Namespace, Schema: r.Schema, Revision: r.Revision, Updated: r.Updated, Labels: r.Labels, Err: r.Err}
	if r.Lease != nil {
		row.Holder = r.Lease.Holder
	}
	return row
}

// countCheckpoints fills in the run's checkpoints, and for a run that
// holds only checkpoints the schema of the newest. A listing that fails
// marks the row; only the context ending is an error.
func (row *runRow) countCheckpoints(ctx context.Context, st *runtime.Store) error {
	cps, err := st.Checkpoints(ctx, row.Namespace)
	if err != nil && row.Err == nil {
		row.Err = err
	}
	row.Checkpoints = len(cps)
	if row.Schema.IsZero() && len(cps) > 0 {
		row.Schema = cps[len(cps)-1].Schema
	}
	return ctx.Err()
}

// matches reports whether the row passes q's filters other than Match and
// After.
func (r runRow) matches(q runQuery) bool {
	for k, v := range q.Labels {
		got, ok := r.Labels[k]
		if !ok || v != "" && got != v {
			return false
		}
	}
	return true
}

// Page sizes of the runs table.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// runsView is the data of the runs page.
type runsView struct {
	base
	Q, Label, Schema string
	Limit            int
	Page             runsPage
	// First and NextURL are the links to the first and next pages, with
	// the filters kept; empty when there is none.
	First, NextURL string
	Filtered       bool
}

// parseRunQuery reads the runs page's query string.
func parseRunQuery(v url.Values) (runQuery, error) {
	q := runQuery{Match: strings.TrimSpace(v.Get("q")), Schema: strings.TrimSpace(v.Get("schema")), After: v.Get("after"), Limit: defaultLimit}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, errors.New("limit must be a positive whole number")
		}
		q.Limit = min(n, maxLimit)
	}
	for _, f := range strings.Fields(v.Get("label")) {
		if q.Labels == nil {
			q.Labels = map[string]string{}
		}
		k, val, _ := strings.Cut(f, "=")
		q.Labels[k] = val
	}
	return q, nil
}

func (h *Handler) runsPage(w http.ResponseWriter, r *http.Request) {
	q, err := parseRunQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "Bad query", err.Error())
		return
	}
	page, err := listRuns(r.Context(), h.st, q)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	v := runsView{
		base: h.base("Runs", "/events"),
		Q:    q.Match, Label: r.URL.Query().Get("label"), Schema: q.Schema, Limit: q.Limit,
		Page:     page,
		Filtered: q.Match != "" || q.Schema != "" || len(q.Labels) > 0,
	}
	keep := url.Values{}
	for _, k := range []string{"q", "label", "schema", "limit"} {
		if s := r.URL.Query().Get(k); s != "" {
			keep.Set(k, s)
		}
	}
	if q.After != "" {
		v.First = "/?" + keep.Encode()
	}
	if page.Next != "" {
		next := maps.Clone(keep)
		next.Set("after", page.Next)
		v.NextURL = "/?" + next.Encode()
	}
	h.render(w, r, http.StatusOK, "runs", v)
}
