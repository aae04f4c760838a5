package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/stategen/stategen/internal/redact"
	"github.com/stategen/stategen/internal/statediff"
	"github.com/stategen/stategen/runtime"
)

// runView is the data of a run's page.
type runView struct {
	base
	Namespace   string
	Schema      runtime.SchemaRef
	Revision    int64
	Updated     time.Time
	Keys        []keyRow
	Raw         string // the state as an indented JSON object, secrets redacted
	Checkpoints []checkpointRow
	Notice      string
}

// keyRow is one row of a run's state table.
type keyRow struct {
	Key      string
	Value    string // compact JSON, or what a hidden value shows as
	Hidden   bool
	Absent   bool // a key of the schema the state does not hold
	Extra    bool // a key the recorded schema does not list
	Revision int64
	Updated  time.Time
}

// checkpointRow is one entry of a run's checkpoint timeline.
type checkpointRow struct {
	runtime.CheckpointInfo
	// Older is the name of the checkpoint before it, empty for the oldest.
	Older string
}

// notices are what the run page says after an action redirected to it
// (?done=...): fixed sentences, so that a link cannot make the page say
// anything else.
var notices = map[string]string{
	"restored": "Restored checkpoint %s.",
	"deleted":  "Deleted checkpoint %s.",
}

func (h *Handler) runPage(w http.ResponseWriter, r *http.Request) {
	ns := r.PathValue("ns")
	if err := runtime.ValidateName("namespace", ns); err != nil {
		h.failErr(w, r, err)
		return
	}
	snap, err := statediff.Current(r.Context(), h.st, ns)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	cps, err := h.st.Checkpoints(r.Context(), ns)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	red := redact.New(h.opts.ShowSecrets, snap.Schema)
	values, err := red.Open(h.st, ns, snap.Values)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	v := runView{
		base:      h.base(ns, "/events?ns="+ns),
		Namespace: ns, Schema: snap.Schema, Revision: snap.Revision,
		Keys: stateRows(snap.Schema, values, red),
	}
	for _, k := range v.Keys {
		if k.Updated.After(v.Updated) {
			v.Updated = k.Updated
		}
	}
	v.Raw = rawJSON(v.Keys)
	for i := len(cps) - 1; i >= 0; i-- {
		row := checkpointRow{CheckpointInfo: cps[i]}
		if i > 0 {
			row.Older = cps[i-1].Name
		}
		v.Checkpoints = append(v.Checkpoints, row)
	}
	if f, ok := notices[r.URL.Query().Get("done")]; ok {
		v.Notice = fmt.Sprintf(f, r.URL.Query().Get("cp"))
	}
	h.render(w, r, http.StatusOK, "run", v)
}

// stateRows are the rows of the state table: the schema's keys in the
// schema's order (those the state lacks marked absent), then the keys the
// schema does not list, sorted. Without a recorded key list, every key
// sorted.
func stateRows(schema runtime.SchemaRef, values map[string]runtime.Value, red *redact.Redactor) []keyRow {
	var rows []keyRow
	add := func(k string, extra bool) {
		v, ok := values[k]
		row := keyRow{Key: k, Absent: !ok, Extra: extra, Revision: v.Revision, Updated: v.Updated}
		if ok {
			if shown, hidden := red.Hidden(k); hidden {
				row.Value, row.Hidden = shown, true
			} else {
				row.Value = compact(v.Data)
			}
		}
		rows = append(rows, row)
	}
	for _, k := range schema.Keys {
		add(k, false)
	}
	var rest []string
	for k := range values {
		if !slices.Contains(schema.Keys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		add(k, len(schema.Keys) > 0)
	}
	return rows
}

// rawJSON is the state table's keys as one indented JSON object, in the
// table's order, hidden values as their placeholder strings; unindented
// when a stored value is not JSON.
func rawJSON(rows []keyRow) string {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for _, row := range rows {
		if row.Absent {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(row.Key)
		b.Write(k)
		b.WriteByte(':')
		if row.Hidden {
			s, _ := json.Marshal(row.Value)
			b.Write(s)
		} else {
			b.WriteString(row.Value)
		}
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return b.String()
	}
	return out.String()
}

// compact is a stored JSON value on one line, or as stored when it is not
// JSON.
func compact(v json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return string(v)
	}
	return b.String()
}
