package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stategen/stategen/internal/redact"
	"github.com/stategen/stategen/internal/statediff"
	"github.com/stategen/stategen/runtime"
)

// diffView is the data of the diff page.
type diffView struct {
	base
	Namespace string
	From, To  string // checkpoint names; To empty is the current state
	// Checkpoints are the run's checkpoints, newest first, to choose from.
	Checkpoints []runtime.CheckpointInfo
	Rows        []diffRow
	Keys        int // how many keys differ
	SwapURL     string
}

// diffRow is one line of a diff: a key added or removed, or one place
// inside a value that changed.
type diffRow struct {
	Op       statediff.Op
	Key      string
	Path     string // "$" for the value as a whole
	From, To string // compact JSON, or a placeholder; empty on the side that lacks it
}

// Sign is the row's mark, as the CLI prints it: + added, - removed, ~ changed.
func (d diffRow) Sign() string {
	switch d.Op {
	case statediff.Added:
		return "+"
	case statediff.Removed:
		return "−"
	}
	return "~"
}

func (h *Handler) diffPage(w http.ResponseWriter, r *http.Request) {
	ns := r.PathValue("ns")
	from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
	if err := runtime.ValidateName("namespace", ns); err != nil {
		h.failErr(w, r, err)
		return
	}
	cps, err := h.st.Checkpoints(r.Context(), ns)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	if from == "" && len(cps) > 0 {
		from = cps[len(cps)-1].Name
	}
	v := diffView{
		base:      h.base("Diff of "+ns, "/events?ns="+ns),
		Namespace: ns, From: from, To: to,
	}
	for i := len(cps) - 1; i >= 0; i-- {
		if cps[i].Err == nil {
			v.Checkpoints = append(v.Checkpoints, cps[i])
		}
	}
	if from == "" {
		h.fail(w, r, http.StatusNotFound, "Nothing to compare", fmt.Sprintf("Run %s has no checkpoint to compare with.", ns))
		return
	}
	if to != "" {
		swap := url.Values{"from": {to}, "to": {from}}
		v.SwapURL = runURL(ns) + "/diff?" + swap.Encode()
		v.Title = fmt.Sprintf("Diff of %s: %s → %s", ns, from, to)
	} else {
		v.Title = fmt.Sprintf("Diff of %s: %s → now", ns, from)
	}
	d, red, err := h.diff(r.Context(), ns, from, to)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	v.Keys = len(d)
	v.Rows = diffRows(d, red)
	h.render(w, r, http.StatusOK, "diff", v)
}

// diff compares checkpoint from with checkpoint to, or with the current
// state when to is empty, with sealed values opened where the store's keys
// open them. It returns the redactor that knows which keys to hide.
func (h *Handler) diff(ctx context.Context, ns, from, to string) (statediff.Diff, *redact.Redactor, error) {
	a, err := h.st.GetCheckpoint(ctx, ns, from)
	if err != nil {
		return nil, nil, err
	}
	var b *runtime.Snapshot
	if to != "" {
		cp, err := h.st.GetCheckpoint(ctx, ns, to)
		if err != nil {
			return nil, nil, err
		}
		b = &runtime.Snapshot{Namespace: ns, Revision: cp.Revision, Schema: cp.Schema, Values: cp.Values}
	} else {
		b, err = h.st.Snapshot(ctx, ns)
		if errors.Is(err, runtime.ErrNotFound) {
			b, err = &runtime.Snapshot{Namespace: ns}, nil
		}
		if err != nil {
			return nil, nil, err
		}
	}
	red := redact.New(h.opts.ShowSecrets, a.Schema, b.Schema)
	av, err := red.Open(h.st, ns, a.Values)
	if err != nil {
		return nil, nil, err
	}
	bv, err := red.Open(h.st, ns, b.Values)
	if err != nil {
		return nil, nil, err
	}
	d, err := statediff.Values(av, bv)
	return d, red, err
}

// diffRows renders d as rows: one per key added or removed, one per place
// that changed inside a key on both sides, and one for a hidden key that
// changed (as a whole: where inside it is not shown either).
func diffRows(d statediff.Diff, red *redact.Redactor) []diffRow {
	var rows []diffRow
	for _, k := range d {
		shown, hidden := red.Hidden(k.Key)
		show := func(v []byte) string {
			if v == nil {
				return ""
			}
			if hidden {
				return shown
			}
			return compact(v)
		}
		if k.Op != statediff.Changed || hidden {
			rows = append(rows, diffRow{Op: k.Op, Key: k.Key, Path: "$", From: show(k.From), To: show(k.To)})
			continue
		}
		for _, c := range k.Changes {
			row := diffRow{Op: c.Op, Key: k.Key, Path: c.Path}
			if c.Op != statediff.Added {
				row.From = statediff.Encode(c.From)
			}
			if c.Op != statediff.Removed {
				row.To = statediff.Encode(c.To)
			}
			rows = append(rows, row)
		}
	}
	return rows
}
