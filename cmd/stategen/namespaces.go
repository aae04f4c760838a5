package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stategen/stategen/runtime"
)

// namespacesCmd is 'stategen namespaces [--label K=V]... [--schema S]
// [--since D] [--limit N] [--after CURSOR]'.
type namespacesCmd struct {
	Names  bool     `help:"Print only the runs' names, one per line (with --json, a list of strings)."`
	Label  []string `placeholder:"K=V" help:"Only the runs carrying this label (repeatable: all of them)."`
	Schema string   `placeholder:"S" help:"Only the runs whose state is written under schema S."`
	Since  maxAge   `placeholder:"D" help:"Only the runs written within D: a Go duration (90m, 36h) or days (7d)."`
	Limit  int      `placeholder:"N" help:"At most N runs; the last line names the cursor of the next page."`
	After  string   `placeholder:"CURSOR" help:"Start after this cursor (the namespace a page before ended on)."`
}

func (namespacesCmd) Help() string {
	return `Prints the store's namespaces (runs), sorted, as a table: NAMESPACE,
UPDATED (the last write, UTC), SCHEMA, LEASE (the holder of a current lease,
- if none), LABELS (k=v,...) and FROM (the checkpoint a fork started as,
NS@CHECKPOINT). Every namespace that holds a key, a schema or a checkpoint
is listed; runs idle longer than their TTL are not. With --limit, a last
line "next: CURSOR" says how to get the next page (give --after CURSOR),
absent on the last page. --names prints only the names, one per line.

--json prints {"runs": [{"namespace": "...", "revision": 7, "schema":
{...}, "updated": "...", "lease": {...}, "labels": {...}, "parent":
{"namespace": "...", "checkpoint": "..."}, "restored": {...}, "ttl": N},
...], "next": "CURSOR"}: "ttl" in nanoseconds, fields without a value left
out, "next" only when there is a next page; with --names, ["ns", ...] ([]
for an empty store).`
}

// runJSON is one run as namespaces --json prints it.
type runJSON struct {
	Namespace string                 `json:"namespace"`
	Revision  int64                  `json:"revision"`
	Schema    *schemaName            `json:"schema"`
	Updated   *time.Time             `json:"updated"`
	Lease     *runtime.LeaseInfo     `json:"lease,omitempty"`
	Labels    map[string]string      `json:"labels,omitempty"`
	Parent    *runtime.CheckpointRef `json:"parent,omitempty"`
	Restored  *runtime.CheckpointRef `json:"restored,omitempty"`
	TTL       time.Duration          `json:"ttl,omitempty"`
	Error     string                 `json:"error,omitempty"`
}

type runsJSON struct {
	Runs []runJSON `json:"runs"`
	Next string    `json:"next,omitempty"`
}

func (c *namespacesCmd) query() (runtime.RunQuery, error) {
	q := runtime.RunQuery{Schema: c.Schema, Limit: c.Limit, After: c.After}
	if c.Limit < 0 {
		return q, fmt.Errorf("--limit %d: want a positive number", c.Limit)
	}
	if c.Since > 0 {
		q.Since = time.Now().Add(-time.Duration(c.Since))
	}
	if c.After != "" {
		if err := checkNames("cursor", c.After); err != nil {
			return q, err
		}
	}
	if len(c.Label) > 0 {
		labels, err := parseLabels(c.Label)
		if err != nil {
			return q, err
		}
		for k, v := range labels {
			if v == "" {
				return q, fmt.Errorf("--label %s=: give the value to match", k)
			}
		}
		q.Labels = labels
	}
	return q, nil
}

func (c *namespacesCmd) Run(e *env) error {
	q, err := c.query()
	if err != nil {
		return err
	}
	return e.withReader(func(ctx context.Context, st *runtime.Store) error {
		if c.Names && len(q.Labels) == 0 && q.Schema == "" && q.Since.IsZero() && q.Limit == 0 && q.After == "" {
			names, err := st.Namespaces(ctx)
			if err != nil {
				return err
			}
			return printNames(e, names, "")
		}
		page, err := st.Runs(ctx, q)
		if err != nil {
			return err
		}
		if c.Names {
			names := make([]string, len(page.Runs))
			for i, r := range page.Runs {
				names[i] = r.Namespace
			}
			return printNames(e, names, page.Next)
		}
		if e.JSON {
			out := runsJSON{Runs: make([]runJSON, 0, len(page.Runs)), Next: page.Next}
			for _, r := range page.Runs {
				j := runJSON{Namespace: r.Namespace, Revision: r.Revision, Schema: schemaJSON(r.Schema), Updated: timeJSON(r.Updated),
					Lease: r.Lease, Labels: r.Labels, Parent: r.Parent, Restored: r.Restored, TTL: r.TTL}
				if r.Err != nil {
					j.Error = errorText(r.Err)
				}
				out.Runs = append(out.Runs, j)
			}
			return writeJSON(e.stdout, out)
		}
		tw := newTable(e.stdout)
		fmt.Fprintln(tw, "NAMESPACE\tUPDATED\tSCHEMA\tLEASE\tLABELS\tFROM")
		for _, r := range page.Runs {
			if r.Err != nil {
				fmt.Fprintf(tw, "%s\tunreadable\t-\t-\t-\t-\n", r.Namespace)
				continue
			}
			lease := "-"
			if r.Lease != nil {
				lease = r.Lease.Holder
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Namespace, timeText(r.Updated), schemaText(r.Schema), lease, labelsText(r.Labels), refText(r.Parent))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if page.Next != "" {
			fmt.Fprintf(e.stdout, "next: %s\n", page.Next)
		}
		return nil
	})
}

// printNames prints the names of namespaces --names, and the cursor of the
// next page if any (not with --json, whose list has no room for it).
func printNames(e *env, names []string, next string) error {
	if e.JSON {
		return writeJSON(e.stdout, append([]string{}, names...))
	}
	for _, n := range names {
		fmt.Fprintln(e.stdout, n)
	}
	if next != "" {
		fmt.Fprintf(e.stdout, "next: %s\n", next)
	}
	return nil
}

// parseLabels reads K=V arguments; K= is an empty value.
func parseLabels(args []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("label %q: want KEY=VALUE (KEY= removes the label)", a)
		}
		if err := checkNames("label", k); err != nil {
			return nil, err
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("label %s given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// labelsText is labels as tables print them: k=v,... sorted, - if none.
func labelsText(labels map[string]string) string {
	if len(labels) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

// refText is a checkpoint reference as tables print it, - if none.
func refText(r *runtime.CheckpointRef) string {
	if r == nil {
		return "-"
	}
	return r.String()
}
