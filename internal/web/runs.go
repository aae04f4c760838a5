package web

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
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
	// Schema keeps runs whose schema name is it (case-insensitive).
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

// listRuns is the runs table's one data source. It reads each namespace
// (its snapshot and its checkpoint list) until it has a page; runs do not
// carry lease holders or labels here, so a label filter matches nothing.
// When the store can list runs itself with their leases and labels
// (Store.Runs), this becomes a call to it with Match applied on top.
func listRuns(ctx context.Context, st *runtime.Store, q runQuery) (runsPage, error) {
	names, err := st.Namespaces(ctx)
	if err != nil {
		return runsPage{}, err
	}
	slices.Sort(names)
	var page runsPage
	match := strings.ToLower(q.Match)
	for _, ns := range names {
		if ns <= q.After && q.After != "" || !strings.Contains(strings.ToLower(ns), match) {
			continue
		}
		row, err := readRun(ctx, st, ns)
		if err != nil {
			return runsPage{}, err
		}
		if !row.matches(q) {
			continue
		}
		if len(page.Runs) == q.Limit {
			page.Next = page.Runs[len(page.Runs)-1].Namespace
			break
		}
		page.Runs = append(page.Runs, row)
	}
	return page, nil
}

// readRun reads one run's row. A run that cannot be read is a row with
// Err; only the context ending is an error.
func readRun(ctx context.Context, st *runtime.Store, ns string) (runRow, error) {
	row := runRow{Namespace: ns}
	snap, err := st.Snapshot(ctx, ns)
	switch {
	case err == nil:
		row.Schema, row.Revision = snap.Schema, snap.Revision
		for _, v := range snap.Values {
			if v.Updated.After(row.Updated) {
				row.Updated = v.Updated
			}
		}
	case errors.Is(err, runtime.ErrNotFound): // only checkpoints left
	default:
		row.Err = err
	}
	cps, err := st.Checkpoints(ctx, ns)
	if err != nil && row.Err == nil {
		row.Err = err
	}
	row.Checkpoints = len(cps)
	if row.Schema.IsZero() && len(cps) > 0 {
		row.Schema = cps[len(cps)-1].Schema
	}
	return row, ctx.Err()
}

// matches reports whether the row passes q's filters other than Match and
// After.
func (r runRow) matches(q runQuery) bool {
	if q.Schema != "" && !strings.EqualFold(r.Schema.Name, q.Schema) {
		return false
	}
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
