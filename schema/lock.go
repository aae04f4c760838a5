package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Kind is the JSON kind of a field's stored values.
type Kind string

// The kinds. KindAny is a type that writes its own JSON (a marshaler, a
// json.RawMessage): its kind is not known, and changes to it are not
// checked.
const (
	KindString  Kind = "string"
	KindNumber  Kind = "number"
	KindBoolean Kind = "boolean"
	KindArray   Kind = "array"
	KindObject  Kind = "object"
	KindAny     Kind = "any"
)

// Lock is the content of a type's lock file, <lowercased type>_state.lock.json:
// the fields of every schema version the generator has seen, so that a
// later change that stored state could not be read under is caught at
// generation. It is committed beside the generated code, like go.sum.
type Lock struct {
	Type     string        `json:"type"`
	Versions []LockVersion `json:"versions"`
}

// LockVersion is one version's fields.
type LockVersion struct {
	Version int         `json:"version"`
	Fields  []LockField `json:"fields"`
}

// LockField is what the lock keeps of a field: what decides whether stored
// state can still be read.
type LockField struct {
	Key      string `json:"key"`
	Field    string `json:"field"`
	Kind     Kind   `json:"kind"`
	Required bool   `json:"required,omitempty"`
}

// ParseLock reads a lock file.
func ParseLock(data []byte) (*Lock, error) {
	var l Lock
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&l); err != nil {
		return nil, fmt.Errorf("lock file does not parse: %v (restore it from version control, or delete it to start a new one)", err)
	}
	return &l, nil
}

// Marshal writes the lock file: indented, versions in order, a final
// newline, the same bytes for the same lock.
func (l *Lock) Marshal() []byte {
	slices.SortFunc(l.Versions, func(a, b LockVersion) int { return a.Version - b.Version })
	b, _ := json.MarshalIndent(l, "", "  ")
	return append(b, '\n')
}

func lockFields(t *Type) []LockField {
	out := make([]LockField, len(t.Fields))
	for i, f := range t.Fields {
		out[i] = LockField{Key: f.Key, Field: f.GoName, Kind: f.Kind, Required: f.Required}
	}
	return out
}

// Apply checks t against the lock and returns the lock updated with t's
// fields. t may change compatibly within its version (a new optional
// field, a new default, another order) or bump its version; a change that
// stored state of t's version could not be read under (a key removed or
// renamed, a kind changed, a field made required) without a bump is an
// error that says what changed and how to bump. A nil lock starts one.
func (l *Lock) Apply(t *Type) (*Lock, error) {
	next := &Lock{Type: t.Name}
	if l != nil {
		if l.Type != t.Name {
			return nil, fmt.Errorf("the lock file is for type %s, not %s", l.Type, t.Name)
		}
		next.Versions = slices.Clone(l.Versions)
	}
	latest := 0
	for _, v := range next.Versions {
		latest = max(latest, v.Version)
	}
	if t.Version < latest {
		return nil, fmt.Errorf("%s is version %d but its lock file has seen version %d: versions only go up (stored state may already be at version %d)", t.Name, t.Version, latest, latest)
	}
	fields := lockFields(t)
	i := slices.IndexFunc(next.Versions, func(v LockVersion) bool { return v.Version == t.Version })
	if i < 0 {
		next.Versions = append(next.Versions, LockVersion{Version: t.Version, Fields: fields})
		return next, nil
	}
	if problems := breaking(next.Versions[i].Fields, fields); len(problems) > 0 {
		return nil, fmt.Errorf("%s changed in a way stored version %d state cannot be read under:\n%s\nbump to //stategen:version %d and add func migrate%sV%d(m *runtime.Migration) error that converts stored state",
			t.Name, t.Version, strings.Join(problems, "\n"), t.Version+1, t.Name, t.Version)
	}
	next.Versions[i].Fields = fields
	return next, nil
}

// breaking lists the changes from old to new fields that stored state
// could not be read under.
func breaking(old, new []LockField) []string {
	byKey := map[string]LockField{}
	byField := map[string]LockField{}
	for _, f := range new {
		byKey[f.Key] = f
		byField[f.Field] = f
	}
	var out []string
	for _, o := range old {
		n, ok := byKey[o.Key]
		switch {
		case !ok:
			if r, renamed := byField[o.Field]; renamed {
				out = append(out, fmt.Sprintf("key %q of field %s was renamed to %q", o.Key, o.Field, r.Key))
			} else {
				out = append(out, fmt.Sprintf("key %q (field %s) was removed", o.Key, o.Field))
			}
		case o.Kind != n.Kind && o.Kind != KindAny && n.Kind != KindAny:
			out = append(out, fmt.Sprintf("key %q changed its JSON kind from %s to %s", o.Key, o.Kind, n.Kind))
		case n.Required && !o.Required:
			out = append(out, fmt.Sprintf("key %q became required", o.Key))
		}
	}
	for _, n := range new {
		if _, existed := keyIn(old, n.Key); !existed && n.Required {
			out = append(out, fmt.Sprintf("new key %q is required, and stored state does not have it", n.Key))
		}
	}
	return out
}

func keyIn(fields []LockField, key string) (LockField, bool) {
	for _, f := range fields {
		if f.Key == key {
			return f, true
		}
	}
	return LockField{}, false
}
