package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stategen/stategen/internal/statediff"
	"github.com/stategen/stategen/runtime"
)

// checkpointCmd is 'stategen checkpoint NS [NAME]'.
type checkpointCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run) to snapshot."`
	Name      string `arg:"" name:"NAME" optional:"" help:"Checkpoint name (default: one generated from the time, which sorts by creation)."`
}

func (checkpointCmd) Help() string {
	return `Copies the namespace's current state, atomically, under the checkpoint
name (replacing a checkpoint of that name) and prints
"created checkpoint NS/NAME (revision N, K keys)", N being the namespace
revision it copies.

--json prints {"namespace": "...", "checkpoint": "...", "revision": 7, "keys": 5}.`
}

// checkpointCreated is what checkpoint prints with --json.
type checkpointCreated struct {
	Namespace  string `json:"namespace"`
	Checkpoint string `json:"checkpoint"`
	Revision   int64  `json:"revision"`
	Keys       int    `json:"keys"`
}

// checkpointResult is what restore prints with --json.
type checkpointResult struct {
	Namespace  string `json:"namespace"`
	Checkpoint string `json:"checkpoint"`
	Revision   int64  `json:"revision"`
}

func (c *checkpointCmd) Run(e *env) error {
	names := []string{"namespace", c.Namespace}
	if c.Name != "" {
		names = append(names, "checkpoint", c.Name)
	}
	if err := checkNames(names...); err != nil {
		return err
	}
	return e.withStore(func(ctx context.Context, st *runtime.Store) error {
		info, err := st.Checkpoint(ctx, c.Namespace, c.Name)
		if errors.Is(err, runtime.ErrNotFound) {
			if _, serr := statediff.Current(ctx, st, c.Namespace); serr != nil {
				return serr
			}
			// Checkpoints, but no key left to copy.
			return fmt.Errorf("namespace %s holds no keys to checkpoint", c.Namespace)
		}
		if err != nil {
			return err
		}
		if e.JSON {
			return writeJSON(e.stdout, checkpointCreated{Namespace: c.Namespace, Checkpoint: info.Name, Revision: info.Revision, Keys: info.Keys})
		}
		_, err = fmt.Fprintf(e.stdout, "created checkpoint %s/%s (revision %d, %s)\n", c.Namespace, info.Name, info.Revision, plural(info.Keys, "key"))
		return err
	})
}

// checkpointsCmd is 'stategen checkpoints NS'.
type checkpointsCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run)."`
}

func (checkpointsCmd) Help() string {
	return `Prints a table of NAME, CREATED (UTC), REVISION (the namespace revision
it copies), KEYS (how many) and SCHEMA (the schema the state was written
under, - for none), oldest first; the header alone when there is none. A
checkpoint that cannot be read (damaged data) is listed first with CREATED
"unreadable" and - for the rest, and a warning on stderr says what is wrong
with it; the command still succeeds.

--json prints [{"name": "...", "created": "2025-01-02T03:04:05.123Z",
"revision": 7, "keys": 5, "schema": {"name": "ADWState", "version": 2}}, ...],
oldest first, with "schema" null where none is recorded; an unreadable
checkpoint has "created" and "schema" null, "revision" and "keys" 0, and
"error" saying what is wrong.`
}

// checkpointJSON is one checkpoint as checkpoints and prune print it with
// --json.
type checkpointJSON struct {
	Name     string      `json:"name"`
	Created  *time.Time  `json:"created"`
	Revision int64       `json:"revision"`
	Keys     int         `json:"keys"`
	Schema   *schemaName `json:"schema"`
	// Labels and Restored are the checkpoint's labels and the checkpoint
	// the run was last restored or forked from when it was taken.
	Labels   map[string]string      `json:"labels,omitempty"`
	Restored *runtime.CheckpointRef `json:"restored,omitempty"`
	Error    string                 `json:"error,omitempty"`
}

func checkpointsJSON(list []runtime.CheckpointInfo) []checkpointJSON {
	out := make([]checkpointJSON, 0, len(list))
	for _, cp := range list {
		j := checkpointJSON{Name: cp.Name, Created: timeJSON(cp.Created), Revision: cp.Revision, Keys: cp.Keys, Schema: schemaJSON(cp.Schema),
			Labels: cp.Labels, Restored: cp.Restored}
		if cp.Err != nil {
			j.Error = errorText(cp.Err)
		}
		out = append(out, j)
	}
	return out
}

// printCheckpoints prints list as a table, under a header.
func printCheckpoints(w io.Writer, list []runtime.CheckpointInfo) error {
	tw := newTable(w)
	// The lineage columns appear when some checkpoint has lineage or labels.
	meta := slices.ContainsFunc(list, func(cp runtime.CheckpointInfo) bool { return !cp.CheckpointMeta.IsZero() })
	head, more := "NAME\tCREATED\tREVISION\tKEYS\tSCHEMA", ""
	if meta {
		head, more = head+"\tFROM\tLABELS", "\t-\t-"
	}
	fmt.Fprintln(tw, head)
	for _, cp := range list {
		if cp.Err != nil {
			fmt.Fprintf(tw, "%s\tunreadable\t-\t-\t-%s\n", cp.Name, more)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s", cp.Name, timeText(cp.Created), cp.Revision, cp.Keys, schemaText(cp.Schema))
		if meta {
			fmt.Fprintf(tw, "\t%s\t%s", refText(cp.Restored), labelsText(cp.Labels))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// warnUnreadable prints a warning on w for each checkpoint of list that
// cannot be read, with the reason.
func warnUnreadable(w io.Writer, ns string, list []runtime.CheckpointInfo) {
	for _, cp := range list {
		if cp.Err != nil {
			fmt.Fprintf(w, "stategen: warning: checkpoint %s/%s cannot be read: %s\n", ns, cp.Name, errorText(cp.Err))
		}
	}
}

// errorText is a runtime error's message without the "stategen: " that
// the CLI's own lines begin with.
func errorText(err error) string { return strings.TrimPrefix(err.Error(), "stategen: ") }

func (c *checkpointsCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace); err != nil {
		return err
	}
	return e.withReader(func(ctx context.Context, st *runtime.Store) error {
		list, err := st.Checkpoints(ctx, c.Namespace)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			// None, or no such namespace?
			if _, err := statediff.Current(ctx, st, c.Namespace); err != nil {
				return err
			}
		}
		warnUnreadable(e.stderr, c.Namespace, list)
		if e.JSON {
			return writeJSON(e.stdout, checkpointsJSON(list))
		}
		return printCheckpoints(e.stdout, list)
	})
}

// restoreCmd is 'stategen restore NS NAME'.
type restoreCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run) to restore."`
	Name      string `arg:"" name:"NAME" help:"Checkpoint to restore."`
}

func (restoreCmd) Help() string {
	return `Makes the namespace exactly the checkpoint, atomically: its keys with their
values, its schema, and no other key. Prints
"restored NS to checkpoint NAME (revision N)" with the namespace's new
revision (revisions only grow). A missing checkpoint fails with exit status
1 and changes nothing.

--json prints {"namespace": "...", "checkpoint": "...", "revision": 9}.`
}

func (c *restoreCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace, "checkpoint", c.Name); err != nil {
		return err
	}
	return e.withStore(func(ctx context.Context, st *runtime.Store) error {
		rev, err := st.Restore(ctx, c.Namespace, c.Name)
		if errors.Is(err, runtime.ErrNotFound) {
			return checkpointNotFound(ctx, st, c.Namespace, c.Name)
		}
		if err != nil {
			return err
		}
		if e.JSON {
			return writeJSON(e.stdout, checkpointResult{Namespace: c.Namespace, Checkpoint: c.Name, Revision: rev})
		}
		_, err = fmt.Fprintf(e.stdout, "restored %s to checkpoint %s (revision %d)\n", c.Namespace, c.Name, rev)
		return err
	})
}
