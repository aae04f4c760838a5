package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stategen/stategen/runtime"
)

// watchCmd is 'stategen watch [NS]'.
type watchCmd struct {
	Namespace string        `arg:"" name:"NS" optional:"" help:"Namespace (workflow run) to watch (default: every namespace, new ones included)."`
	From      int64         `name:"from" placeholder:"REV" help:"Report what was written to NS after revision REV first, then go on watching."`
	Interval  time.Duration `default:"250ms" placeholder:"D" help:"How often to look for changes on a store that is polled (SQLite, files); Redis and PostgreSQL push them."`
}

func (watchCmd) Help() string {
	return `Prints one line per change of the namespace, or of the whole store, as
it happens, until interrupted (Ctrl-C, SIGTERM: exit status 0). The store
must exist. A line is the time (UTC), the namespace and the change:

  TIME NS rev 4 put branch,plan deleted tmp    a write: keys stored, keys removed
  TIME NS rev 5 put a schema                   ... that changed the schema
  TIME NS rev 6 restored cp1 put a deleted b   a restore, where the store tells
  TIME NS checkpoint created cp1 (rev 5)       a checkpoint created (or replaced)
  TIME NS checkpoint deleted cp1
  TIME NS gap: revisions 7-9 missed (put a)    writes not seen one by one: re-read
  TIME * gap: the feed was interrupted         the same, for the whole store

A gap is how the feed says it did not see some writes one by one (it
was polled after several, the consumer fell behind, the connection to
the server dropped): nothing is invented and nothing is skipped without
one. The keys after a gap are what is known to have changed in it.
Values are never printed: 'stategen dump' shows them.

--json prints one JSON object per line (NDJSON): {"namespace": "...",
"kind": "write"|"checkpoint"|"gap", "revision": 4, "from_revision": 1,
"keys": [...], "deleted": [...], "schema": true, "checkpoint": "...",
"checkpoint_op": "created"|"deleted"|"restored", "time": "..."}, the
fields that do not apply left out.`
}

func (c *watchCmd) Run(e *env) error {
	if c.Namespace != "" {
		if err := checkNames("namespace", c.Namespace); err != nil {
			return err
		}
	} else if c.From != 0 {
		return errors.New("--from needs a namespace: revisions count per namespace")
	}
	if c.From < 0 {
		return fmt.Errorf("--from %d: a revision is not negative", c.From)
	}
	if c.Interval <= 0 {
		return fmt.Errorf("--interval %s: want a positive duration, such as 250ms", c.Interval)
	}
	return e.withReader(func(ctx context.Context, st *runtime.Store) error {
		opts := []runtime.WatchOption{runtime.WatchInterval(c.Interval)}
		if c.From > 0 {
			opts = append(opts, runtime.WatchSince(c.From))
		}
		changes := st.Watch(ctx, c.Namespace, opts...)
		what := c.Namespace
		if what == "" {
			what = "every namespace"
		}
		fmt.Fprintf(e.stderr, "stategen: watching %s of %s (interrupt to stop)\n", what, st.Name())
		for ch, err := range changes {
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if err := printChange(e.stdout, e.JSON, ch); err != nil {
				return err
			}
		}
		return nil
	})
}

// printChange prints one change: a line for people, or a JSON object on a
// line of its own.
func printChange(w io.Writer, asJSON bool, c runtime.Change) error {
	if asJSON {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintln(w, changeText(c))
	return err
}

// changeText is a change as one line for people.
func changeText(c runtime.Change) string {
	ns := c.Namespace
	if ns == "" {
		ns = "*"
	}
	var b strings.Builder
	b.WriteString(c.Time.UTC().Format(time.RFC3339) + " " + ns + " ")
	switch c.Kind {
	case runtime.ChangeCheckpoint:
		fmt.Fprintf(&b, "checkpoint %s %s", c.CheckpointOp, c.Checkpoint)
		if c.CheckpointOp == runtime.CheckpointCreated {
			fmt.Fprintf(&b, " (rev %d)", c.Revision)
		}
		return b.String()
	case runtime.ChangeGap:
		b.WriteString("gap: ")
		switch {
		case c.Namespace == "":
			b.WriteString("the feed was interrupted; re-read every namespace")
		case c.Revision == 0:
			fmt.Fprintf(&b, "revisions after %d missed, namespace gone", c.FromRevision)
		case c.Revision == c.FromRevision+1:
			fmt.Fprintf(&b, "revision %d missed", c.Revision)
		default:
			fmt.Fprintf(&b, "revisions %d-%d missed", c.FromRevision+1, c.Revision)
		}
		if s := keysText(c); s != "" {
			b.WriteString(" (" + s + ")")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "rev %d", c.Revision)
	if c.CheckpointOp == runtime.CheckpointRestored {
		b.WriteString(" restored " + c.Checkpoint)
	}
	if s := keysText(c); s != "" {
		b.WriteString(" " + s)
	}
	return b.String()
}

// keysText is "put a,b deleted c schema", the parts that apply.
func keysText(c runtime.Change) string {
	var parts []string
	if len(c.Keys) > 0 {
		parts = append(parts, "put "+strings.Join(c.Keys, ","))
	}
	if len(c.Deleted) > 0 {
		parts = append(parts, "deleted "+strings.Join(c.Deleted, ","))
	}
	if c.Schema {
		parts = append(parts, "schema")
	}
	return strings.Join(parts, " ")
}
