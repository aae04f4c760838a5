package schema

import (
	"encoding/json"
	"fmt"
	"go/token"
	"path/filepath"

	"github.com/stategen/stategen/runtime"
)

// Type is the model of one state type.
type Type struct {
	Name    string  // Go type name, e.g. "ADWState"
	Version int     // schema version, from //stategen:version N, default 1
	Fields  []Field // in declaration order, persisted fields only
}

// Field is one persisted field of a state type.
type Field struct {
	GoName   string          // Go field name, e.g. "IssueNumber"
	Key      string          // storage key, e.g. "issue_number"
	Required bool            // Load fails with runtime.ErrMissing when the key is absent
	Secret   bool            // redacted by the CLI, never printed in errors or logs
	NullZero bool            // the zero value is stored as null, and null loads as it
	Default  json.RawMessage // compact JSON of default=..., nil when none
	Kind     Kind            // the JSON kind of its values, for the lock file's compatibility check
	Pos      token.Position  // where the field is declared, for messages; may be zero
}

// keyRules says what a valid key is, for error messages.
const keyRules = `keys are letters, digits, '_', '-' and '.', at most 128 bytes, not starting with '.' or "__"`

// FieldError is a problem with one field: where it is declared (zero when
// unknown) and what is wrong, the message starting with "field X: ".
// Error prints "file:line:col: message", or the message alone.
type FieldError struct {
	Pos token.Position
	Msg string
	err error // wrapped, for errors.Is
}

func (e *FieldError) Error() string {
	if e.Pos.IsValid() {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Msg
}

func (e *FieldError) Unwrap() error { return e.err }

// Check reports the first reason the type is not a valid schema: an empty
// or non-identifier Name, a Version below 1, a field without a Go name, a
// key that runtime.ValidateName refuses (the error then wraps
// runtime.ErrInvalidName), two fields with the same key, a Default that is
// not valid JSON, or a field both Required and with a Default or NullZero.
//
// Errors about a field are a *FieldError: its position and a message that
// names the field, so that the generator can print them as compilers do.
func (t *Type) Check() error {
	if t.Name == "" {
		return fmt.Errorf("state type has no name")
	}
	if !token.IsIdentifier(t.Name) {
		return fmt.Errorf("state type name %q is not a Go identifier", t.Name)
	}
	if t.Version < 1 {
		return fmt.Errorf("type %s: schema version %d is not valid: versions are positive integers, starting at 1", t.Name, t.Version)
	}
	byKey := make(map[string]*Field, len(t.Fields))
	for i := range t.Fields {
		f := &t.Fields[i]
		if f.GoName == "" {
			return fmt.Errorf("type %s: field %d (key %q) has no Go name", t.Name, i, f.Key)
		}
		if err := runtime.ValidateName("key", f.Key); err != nil {
			return f.errorf(err, "%v; %s: choose another key with state:\"KEY\"", err, keyRules)
		}
		if prev, ok := byKey[f.Key]; ok {
			at := ""
			if prev.Pos.IsValid() {
				// Fields of one struct share a file: name it as the
				// position before the message does, not by its full path.
				p := prev.Pos
				if p.Filename == f.Pos.Filename {
					p.Filename = filepath.Base(p.Filename)
				}
				at = " (" + p.String() + ")"
			}
			return f.errorf(nil, "key %q is also the key of field %s%s: give one of them another key with state:\"KEY\"", f.Key, prev.GoName, at)
		}
		byKey[f.Key] = f
		if f.Default != nil && !json.Valid(f.Default) {
			return f.errorf(nil, "default %s is not valid JSON", quote(string(f.Default)))
		}
		if f.Required && f.Default != nil {
			return f.errorf(nil, "required and default= conflict: a required key is never absent, so its default would never be used: choose one")
		}
		if f.Required && f.NullZero {
			return f.errorf(nil, "required and nullzero conflict: a required key never holds null: choose one")
		}
	}
	return nil
}

// errorf is a FieldError about f wrapping err (which may be nil).
func (f *Field) errorf(err error, format string, args ...any) error {
	return &FieldError{Pos: f.Pos, Msg: "field " + f.GoName + ": " + fmt.Sprintf(format, args...), err: err}
}

// Field returns the field stored under key, and whether there is one.
func (t *Type) Field(key string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}
