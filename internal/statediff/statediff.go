// Package statediff computes how two states of a namespace differ: key by
// key, and inside the values of keys on both sides member by member, down
// to the JSON path. The CLI's diff and the web view render the same Diff,
// each in its own way; neither computes one of its own.
//
// Values are compared as JSON: objects by member, not by member order or
// spacing; numbers as written (1 and 1.0 differ, big numbers keep every
// digit); null is a value, so a member that is null differs from one that
// is absent. Arrays are compared element by element at the same index.
// Sealed (encrypted) values compare as stored: open them first (package
// redact does) to compare them in the clear.
package statediff

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

// Op is what happened to a key or to a place inside a value.
type Op string

// The operations of a difference.
const (
	// Added: only the newer side has it.
	Added Op = "added"
	// Removed: only the older side has it.
	Removed Op = "removed"
	// Changed: both have it, with different values.
	Changed Op = "changed"
)

// Diff lists the keys that differ between two states, sorted by key; it is
// empty when they are the same.
type Diff []KeyDiff

// KeyDiff is how one key differs.
type KeyDiff struct {
	Key string
	Op  Op
	// From and To are the key's stored values on each side, nil on the
	// side that does not have it.
	From, To json.RawMessage
	// Changes are the places inside the value that differ, in path order,
	// for a key on both sides (Op Changed); there is at least one.
	Changes []Change
}

// Change is one difference inside a value, at a JSON path ("$" for the
// value as a whole, "$.plan.steps[2]", `$["a b"]`).
type Change struct {
	Path string
	Op   Op
	// From and To are the decoded values (as Decode returns them) on each
	// side; From is nil for Added and To for Removed (and either may be a
	// JSON null for Changed: compare with Op, not with nil).
	From, To any
}

// Values compares two states key by key, and the values of the keys on
// both sides member by member. Its error, for a value that is not JSON,
// names the key and wraps runtime.ErrCorrupt.
func Values(from, to map[string]runtime.Value) (Diff, error) {
	var out Diff
	for _, k := range union(from, to) {
		f, inFrom := from[k]
		t, inTo := to[k]
		switch {
		case !inTo:
			out = append(out, KeyDiff{Key: k, Op: Removed, From: f.Data})
		case !inFrom:
			out = append(out, KeyDiff{Key: k, Op: Added, To: t.Data})
		case bytes.Equal(f.Data, t.Data):
		default:
			changes, err := JSON(f.Data, t.Data)
			if err != nil {
				return nil, fmt.Errorf("compare key %s: %w", k, err)
			}
			if len(changes) > 0 {
				out = append(out, KeyDiff{Key: k, Op: Changed, From: f.Data, To: t.Data, Changes: changes})
			}
		}
	}
	return out, nil
}

// JSON decodes two JSON values and lists where they differ, in path order
// (object members sorted by name); nil when they are the same.
func JSON(a, b json.RawMessage) ([]Change, error) {
	va, err := Decode(a)
	if err != nil {
		return nil, err
	}
	vb, err := Decode(b)
	if err != nil {
		return nil, err
	}
	var out []Change
	walk("$", va, vb, &out)
	return out, nil
}

// Decode decodes a stored value keeping numbers as written (json.Number),
// so that no precision is lost to float64 and 1 and 1.0 stay apart. Its
// error wraps runtime.ErrCorrupt.
func Decode(data json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, runtime.Corrupt("stored value", err)
	}
	return v, nil
}

// walk appends to out the differences between a and b, found at path.
func walk(path string, a, b any, out *[]Change) {
	switch a := a.(type) {
	case map[string]any:
		if b, ok := b.(map[string]any); ok {
			for _, k := range union(a, b) {
				av, inA := a[k]
				bv, inB := b[k]
				p := path + MemberPath(k)
				switch {
				case !inB:
					*out = append(*out, Change{Path: p, Op: Removed, From: av})
				case !inA:
					*out = append(*out, Change{Path: p, Op: Added, To: bv})
				default:
					walk(p, av, bv, out)
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
					*out = append(*out, Change{Path: p, Op: Removed, From: a[i]})
				case i >= len(a):
					*out = append(*out, Change{Path: p, Op: Added, To: b[i]})
				default:
					walk(p, a[i], b[i], out)
				}
			}
			return
		}
	default:
		if a == b { // scalars: json.Number, string, bool, nil
			return
		}
	}
	*out = append(*out, Change{Path: path, Op: Changed, From: a, To: b})
}

// union is the names of a and b, sorted.
func union[V any](a, b map[string]V) []string {
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
	return keys
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// MemberPath is the JSON path step to an object member: .name, or
// ["any name"] for one that is not an identifier.
func MemberPath(name string) string {
	if identRE.MatchString(name) {
		return "." + name
	}
	return "[" + Encode(name) + "]"
}

// Encode is a decoded value as compact JSON, without HTML escaping (a
// value shows as stored, "<b>" and all).
func Encode(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// Current is namespace ns's state now, the side of a diff that is no
// checkpoint. A namespace that holds checkpoints but no key (every key was
// deleted) is empty, as listings show it; one that holds nothing at all is
// not found (an error wrapping runtime.ErrNotFound).
func Current(ctx context.Context, st *runtime.Store, ns string) (*runtime.Snapshot, error) {
	snap, err := st.Snapshot(ctx, ns)
	if !errors.Is(err, runtime.ErrNotFound) {
		return snap, err
	}
	cps, cerr := st.Checkpoints(ctx, ns)
	if cerr != nil {
		return nil, cerr
	}
	if len(cps) == 0 {
		return nil, fmt.Errorf("namespace %s %w", ns, runtime.ErrNotFound)
	}
	return &runtime.Snapshot{Namespace: ns, Values: map[string]runtime.Value{}}, nil
}
