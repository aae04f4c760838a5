package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

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
			snap, err := snapshot(ctx, st, c.Namespace)
			if err != nil {
				return err
			}
			to, toSchema = snap.Values, snap.Schema
		}
		// Sealed values are compared in the clear when this program's keys
		// open them; otherwise as stored, where any reseal is a change.
		red := newRedactor(c.ShowSecrets, from.Schema, toSchema)
		fromValues, err := red.open(st, c.Namespace, from.Values)
		if err != nil {
			return err
		}
		if to, err = red.open(st, c.Namespace, to); err != nil {
			return err
		}
		d, err := diffValues(fromValues, to)
		if err != nil {
			return err
		}
		if e.JSON {
			err = writeJSON(e.stdout, d.json(red))
		} else {
			err = d.print(e, red)
		}
		if err == nil && c.ExitCode && len(d) > 0 {
			return exitStatus(exitFail)
		}
		return err
	})
}

// keyDiff is how one key differs.
type keyDiff struct {
	key      string
	from, to json.RawMessage // nil when absent
	changes  []change        // for a key on both sides
}

// change is one difference inside a value, at a JSON path.
type change struct {
	path     string
	from, to any // decoded; absent when !hasFrom or !hasTo
	hasFrom  bool
	hasTo    bool
}

// stateDiff lists the keys that differ, sorted.
type stateDiff []keyDiff

// diffValues compares two states key by key, and the values of the keys
// on both sides member by member.
func diffValues(from, to map[string]runtime.Value) (stateDiff, error) {
	keys := make([]string, 0, len(from)+len(to))
	for k := range from {
		keys = append(keys, k)
	}
	for k := range to {
		if _, ok := from[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out stateDiff
	for _, k := range keys {
		f, inFrom := from[k]
		t, inTo := to[k]
		switch {
		case !inTo:
			out = append(out, keyDiff{key: k, from: f.Data})
		case !inFrom:
			out = append(out, keyDiff{key: k, to: t.Data})
		case bytes.Equal(f.Data, t.Data):
		default:
			changes, err := diffJSONValues(f.Data, t.Data)
			if err != nil {
				return nil, fmt.Errorf("compare key %s: %w", k, err)
			}
			if len(changes) > 0 {
				out = append(out, keyDiff{key: k, from: f.Data, to: t.Data, changes: changes})
			}
		}
	}
	return out, nil
}

// diffJSONValues decodes two JSON values and lists where they differ.
func diffJSONValues(a, b json.RawMessage) ([]change, error) {
	va, err := decodeJSON(a)
	if err != nil {
		return nil, err
	}
	vb, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	var out []change
	walkDiff("$", va, vb, &out)
	return out, nil
}

// decodeJSON decodes keeping numbers as written, so that no precision is
// lost to float64 and 1 and 1.0 stay apart as stored.
func decodeJSON(data json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, runtime.Corrupt("stored value", err)
	}
	return v, nil
}

// walkDiff appends to out the differences between a and b, found at path.
func walkDiff(path string, a, b any, out *[]change) {
	switch a := a.(type) {
	case map[string]any:
		if b, ok := b.(map[string]any); ok {
			keys := make([]string, 0, len(a)+len(b))
			for k := range a {
				keys = append(keys, k)
			}
			for k := range b {
				if _, ok := a[k]; !ok {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				av, inA := a[k]
				bv, inB := b[k]
				p := path + memberPath(k)
				switch {
				case !inB:
					*out = append(*out, change{path: p, from: av, hasFrom: true})
				case !inA:
					*out = append(*out, change{path: p, to: bv, hasTo: true})
				default:
					walkDiff(p, av, bv, out)
				}
			}
			return
		}
	case []any:
		if b, ok := b.([]any); ok {
			for i := range max(len(a), len(b)) {
				p := path + "[" + strconv.Itoa(i) + "]"
				switch {
				case i >= len(b):
					*out = append(*out, change{path: p, from: a[i], hasFrom: true})
				case i >= len(a):
					*out = append(*out, change{path: p, to: b[i], hasTo: true})
				default:
					walkDiff(p, a[i], b[i], out)
				}
			}
			return
		}
	default:
		if a == b { // scalars: json.Number, string, bool, nil
			return
		}
	}
	*out = append(*out, change{path: path, from: a, to: b, hasFrom: true, hasTo: true})
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// memberPath is the JSON path step to an object member: .name, or
// ["any name"] for one that is not an identifier.
func memberPath(name string) string {
	if identRE.MatchString(name) {
		return "." + name
	}
	return "[" + encodeJSON(name) + "]"
}

// encodeJSON is v as compact JSON, without HTML escaping.
func encodeJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// json is the diff as --json prints it.
func (d stateDiff) json(red *redactor) diffJSON {
	out := diffJSON{Added: map[string]json.RawMessage{}, Removed: map[string]json.RawMessage{}, Changed: map[string]changeJSON{}}
	for _, k := range d {
		_, hide := red.hidden(k.key)
		switch {
		case k.from == nil:
			out.Added[k.key] = red.value(k.key, json.RawMessage(compactJSON(k.to)))
		case k.to == nil:
			out.Removed[k.key] = red.value(k.key, json.RawMessage(compactJSON(k.from)))
		case hide:
			out.Changed[k.key] = changeJSON{From: red.value(k.key, nil), To: red.value(k.key, nil), Paths: []string{"$"}}
		default:
			c := changeJSON{From: json.RawMessage(compactJSON(k.from)), To: json.RawMessage(compactJSON(k.to)), Paths: []string{}}
			for _, ch := range k.changes {
				c.Paths = append(c.Paths, ch.path)
			}
			out.Changed[k.key] = c
		}
	}
	return out
}

// print prints the diff for people, a line per difference.
func (d stateDiff) print(e *env, red *redactor) error {
	for _, k := range d {
		placeholder, secret := red.hidden(k.key)
		show := func(v json.RawMessage) string {
			if secret {
				return placeholder
			}
			return compactJSON(v)
		}
		switch {
		case k.from == nil:
			fmt.Fprintf(e.stdout, "+ %s: %s\n", k.key, show(k.to))
		case k.to == nil:
			fmt.Fprintf(e.stdout, "- %s: %s\n", k.key, show(k.from))
		case secret:
			fmt.Fprintf(e.stdout, "~ %s: %s → %s\n", k.key, placeholder, placeholder)
		default:
			for _, ch := range k.changes {
				where := ""
				if ch.path != "$" {
					where = ch.path + ": "
				}
				var what string
				switch {
				case !ch.hasFrom:
					what = "added " + encodeJSON(ch.to)
				case !ch.hasTo:
					what = "removed " + encodeJSON(ch.from)
				default:
					what = encodeJSON(ch.from) + " → " + encodeJSON(ch.to)
				}
				if _, err := fmt.Fprintf(e.stdout, "~ %s: %s%s\n", k.key, where, what); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
