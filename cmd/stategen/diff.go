package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/stategen/stategen/internal/redact"
	"github.com/stategen/stategen/internal/statediff"
	"github.com/stategen/stategen/runtime"
)

// diffCmd is 'stategen diff NS FROM [TO]'.
type diffCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run)."`
	From      string `arg:"" name:"FROM" help:"Checkpoint to compare from."`
	To        string `arg:"" name:"TO" optional:"" help:"Checkpoint to compare to (default: the current state)."`
	ExitCode  bool   `help:"Exit with status 1 when there are differences, 0 when there are none, as git diff --exit-code does."`
	secretFlags
}

func (diffCmd) Help() string {
	return `Compares the checkpoint FROM with the checkpoint TO, or with the current
state, and prints one line per difference, sorted by key:

  LINE                      MEANING
  + key: value              a key TO has and FROM has not
  - key: value              a key FROM has and TO has not
  ~ key: $.a.b[2]: 1 → 2    a value changed at that JSON path inside it
  ~ key: $.a.c: added 5     a member or element only TO has
  ~ key: $.a.d: removed 6   a member or element only FROM has
  ~ key: "x" → "y"          a value changed as a whole

Values are compact JSON; secret values print as [redacted] without
--show-secrets. Objects compare by member, not by member order or spacing.
Nothing is printed when the two are the same. With --exit-code the exit
status says whether they differ: 1 when they do, 0 when they do not (and
2 or 1 with a message on stderr for a wrong command line or a failure).

--json prints {"added": {"key": value}, "removed": {"key": value},
"changed": {"key": {"from": value, "to": value, "paths": ["$.a.b[2]", ...]}}},
each object empty ({}) when there is nothing in it; a secret's "from" and
"to" are "[redacted]" and its "paths" ["$"].`
}

// diffJSON is what diff prints with --json.
type diffJSON struct {
	Added   map[string]json.RawMessage `json:"added"`
	Removed map[string]json.RawMessage `json:"removed"`
	Changed map[string]changeJSON      `json:"changed"`
}

type changeJSON struct {
	From  json.RawMessage `json:"from"`
	To    json.RawMessage `json:"to"`
	Paths []string        `json:"paths"`
}

func (c *diffCmd) Run(e *env) error {
	names := []string{"namespace", c.Namespace, "checkpoint", c.From}
	if c.To != "" {
		names = append(names, "checkpoint", c.To)
	}
	if err := checkNames(names...); err != nil {
		return err
	}
	return e.withReader(func(ctx context.Context, st *runtime.Store) error {
		from, err := st.GetCheckpoint(ctx, c.Namespace, c.From)
		if errors.Is(err, runtime.ErrNotFound) {
			return checkpointNotFound(ctx, st, c.Namespace, c.From)
		}
		if err != nil {
			return err
		}
		var (
			to       map[string]runtime.Value
			toSchema runtime.SchemaRef
		)
		if c.To != "" {
			cp, err := st.GetCheckpoint(ctx, c.Namespace, c.To)
			if errors.Is(err, runtime.ErrNotFound) {
				return checkpointNotFound(ctx, st, c.Namespace, c.To)
			}
			if err != nil {
				return err
			}
			to, toSchema = cp.Values, cp.Schema
		} else {
			snap, err := statediff.Current(ctx, st, c.Namespace)
			if err != nil {
				return err
			}
			to, toSchema = snap.Values, snap.Schema
		}
		// Sealed values are compared in the clear when this program's keys
		// open them; otherwise as stored, where any reseal is a change.
		red := redact.New(c.ShowSecrets, from.Schema, toSchema)
		fromValues, err := red.Open(st, c.Namespace, from.Values)
		if err != nil {
			return err
		}
		if to, err = red.Open(st, c.Namespace, to); err != nil {
			return err
		}
		d, err := statediff.Values(fromValues, to)
		if err != nil {
			return err
		}
		if e.JSON {
			err = writeJSON(e.stdout, jsonDiff(d, red))
		} else {
			err = printDiff(e.stdout, d, red)
		}
		if err == nil && c.ExitCode && len(d) > 0 {
			return exitStatus(exitFail)
		}
		return err
	})
}

// jsonDiff is the diff as --json prints it.
func jsonDiff(d statediff.Diff, red *redact.Redactor) diffJSON {
	out := diffJSON{Added: map[string]json.RawMessage{}, Removed: map[string]json.RawMessage{}, Changed: map[string]changeJSON{}}
	for _, k := range d {
		_, hide := red.Hidden(k.Key)
		switch {
		case k.Op == statediff.Added:
			out.Added[k.Key] = red.Value(k.Key, json.RawMessage(compactJSON(k.To)))
		case k.Op == statediff.Removed:
			out.Removed[k.Key] = red.Value(k.Key, json.RawMessage(compactJSON(k.From)))
		case hide:
			out.Changed[k.Key] = changeJSON{From: red.Value(k.Key, nil), To: red.Value(k.Key, nil), Paths: []string{"$"}}
		default:
			c := changeJSON{From: json.RawMessage(compactJSON(k.From)), To: json.RawMessage(compactJSON(k.To)), Paths: []string{}}
			for _, ch := range k.Changes {
				c.Paths = append(c.Paths, ch.Path)
			}
			out.Changed[k.Key] = c
		}
	}
	return out
}

// printDiff prints the diff for people on w, a line per difference.
func printDiff(w io.Writer, d statediff.Diff, red *redact.Redactor) error {
	for _, k := range d {
		placeholder, secret := red.Hidden(k.Key)
		show := func(v json.RawMessage) string {
			if secret {
				return placeholder
			}
			return compactJSON(v)
		}
		switch {
		case k.Op == statediff.Added:
			fmt.Fprintf(w, "+ %s: %s\n", k.Key, show(k.To))
		case k.Op == statediff.Removed:
			fmt.Fprintf(w, "- %s: %s\n", k.Key, show(k.From))
		case secret:
			fmt.Fprintf(w, "~ %s: %s → %s\n", k.Key, placeholder, placeholder)
		default:
			for _, ch := range k.Changes {
				where := ""
				if ch.Path != "$" {
					where = ch.Path + ": "
				}
				var what string
				switch ch.Op {
				case statediff.Added:
					what = "added " + statediff.Encode(ch.To)
				case statediff.Removed:
					what = "removed " + statediff.Encode(ch.From)
				default:
					what = statediff.Encode(ch.From) + " → " + statediff.Encode(ch.To)
				}
				if _, err := fmt.Fprintf(w, "~ %s: %s%s\n", k.Key, where, what); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
