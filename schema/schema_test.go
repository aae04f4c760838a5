package schema

import (
	"errors"
	"go/token"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stategen/stategen/runtime"
)

// adwState is the DESIGN's example type.
func adwState() *Type {
	return &Type{
		Name:    "ADWState",
		Version: 2,
		Fields: []Field{
			{GoName: "ADWID", Key: "adw_id", Required: true},
			{GoName: "IssueNumber", Key: "issue_number"},
			{GoName: "BranchName", Key: "branch_name"},
			{GoName: "IssueClass", Key: "issue_class"},
			{GoName: "ModelSet", Key: "model_set", Default: raw(`"base"`)},
			{GoName: "AllADWs", Key: "all_adws"},
			{GoName: "Token", Key: "token", Secret: true},
		},
	}
}

func TestCheckValid(t *testing.T) {
	tests := []struct {
		name string
		typ  *Type
	}{
		{"design example", adwState()},
		{"no fields", &Type{Name: "Empty", Version: 1}},
		{"odd but valid keys", &Type{Name: "T", Version: 1, Fields: []Field{
			{GoName: "A", Key: "a.b-c_D9"},
			{GoName: "B", Key: "-"},
			{GoName: "C", Key: "_x"},
			{GoName: "D", Key: strings.Repeat("k", runtime.MaxNameLen)},
		}}},
		{"default null and secret default", &Type{Name: "T", Version: 1, Fields: []Field{
			{GoName: "A", Key: "a", Default: raw(`null`)},
			{GoName: "B", Key: "b", Secret: true, Default: raw(`{"x":[1]}`)},
		}}},
	}
	for _, tt := range tests {
		if err := tt.typ.Check(); err != nil {
			t.Errorf("%s: Check: %v", tt.name, err)
		}
	}
}

func TestCheckErrors(t *testing.T) {
	pos := func(line int) token.Position {
		return token.Position{Filename: "state.go", Line: line, Column: 2}
	}
	withFields := func(fs ...Field) *Type { return &Type{Name: "T", Version: 1, Fields: fs} }
	tests := []struct {
		name        string
		typ         *Type
		want        []string
		invalidName bool // errors.Is(err, runtime.ErrInvalidName)
	}{
		{"no name", &Type{Version: 1}, []string{"state type has no name"}, false},
		{"name not an identifier", &Type{Name: "pkg.T", Version: 1}, []string{`state type name "pkg.T" is not a Go identifier`}, false},
		{"version 0", &Type{Name: "T"}, []string{"type T: schema version 0 is not valid", "starting at 1"}, false},
		{"version -3", &Type{Name: "T", Version: -3}, []string{"schema version -3 is not valid"}, false},
		{"no Go name", withFields(Field{Key: "a"}), []string{`type T: field 0 (key "a") has no Go name`}, false},

		{"empty key", withFields(Field{GoName: "A"}),
			[]string{"field A: ", "empty key name", "keys are letters, digits, '_', '-' and '.', at most 128 bytes, not starting with '.' or \"__\"", `choose another key with state:"KEY"`}, true},
		{"space in key", withFields(Field{GoName: "IssueNumber", Key: "issue number"}),
			[]string{"field IssueNumber: ", `"issue number"`, "keys are letters, digits"}, true},
		{"brace in key", withFields(Field{GoName: "A", Key: "{a}"}), []string{"field A: ", `"{a}"`}, true},
		{"slash in key", withFields(Field{GoName: "A", Key: "a/b"}), []string{"field A: ", `"a/b"`}, true},
		{"leading dot", withFields(Field{GoName: "A", Key: ".a"}), []string{"field A: ", "starts with '.'"}, true},
		{"reserved", withFields(Field{GoName: "A", Key: "__rev"}), []string{"field A: ", `starts with "__"`}, true},
		{"too long", withFields(Field{GoName: "A", Key: strings.Repeat("k", runtime.MaxNameLen+1)}), []string{"field A: ", "129 bytes"}, true},
		{"non-ASCII from SnakeCase", withFields(Field{GoName: "ÄrgerLevel", Key: SnakeCase("ÄrgerLevel")}), []string{"field ÄrgerLevel: ", `"ärger_level"`}, true},
		{"position", withFields(Field{GoName: "A", Key: "a b", Pos: pos(7)}), []string{"state.go:7:2: field A: "}, true},

		{"duplicate key", withFields(
			Field{GoName: "IssueNumber", Key: "issue_number"},
			Field{GoName: "Issue", Key: "branch"},
			Field{GoName: "IssueNum", Key: "issue_number"},
		), []string{`field IssueNum: key "issue_number" is also the key of field IssueNumber:`, "give one of them another key"}, false},
		{"duplicate key with positions", withFields(
			Field{GoName: "IssueNumber", Key: "issue_number", Pos: pos(3)},
			Field{GoName: "IssueNum", Key: "issue_number", Pos: pos(9)},
		), []string{`state.go:9:2: field IssueNum: key "issue_number" is also the key of field IssueNumber (state.go:3:2)`}, false},

		{"bad default", withFields(Field{GoName: "A", Key: "a", Default: raw(`{"a":`)}), []string{"field A: default `{\"a\":` is not valid JSON"}, false},
		{"required with default", withFields(Field{GoName: "A", Key: "a", Required: true, Default: raw(`1`)}), []string{"field A: required and default= conflict", "choose one"}, false},
	}
	for _, tt := range tests {
		err := tt.typ.Check()
		if err == nil {
			t.Errorf("%s: Check() = nil, want an error", tt.name)
			continue
		}
		msg := err.Error()
		for _, part := range tt.want {
			if !strings.Contains(msg, part) {
				t.Errorf("%s: error %q\ndoes not contain %q", tt.name, msg, part)
			}
		}
		if got := errors.Is(err, runtime.ErrInvalidName); got != tt.invalidName {
			t.Errorf("%s: errors.Is(err, runtime.ErrInvalidName) = %v, want %v", tt.name, got, tt.invalidName)
		}
		if !strings.HasPrefix(msg, "state.go") {
			checkErrorStyle(t, msg)
		}
	}
}

func TestTypeField(t *testing.T) {
	typ := adwState()
	got, ok := typ.Field("model_set")
	if !ok {
		t.Fatal(`Field("model_set") not found`)
	}
	if diff := cmp.Diff(Field{GoName: "ModelSet", Key: "model_set", Default: raw(`"base"`)}, got); diff != "" {
		t.Errorf(`Field("model_set") mismatch (-want +got):`+"\n%s", diff)
	}
	for _, key := range []string{"ModelSet", "", "missing", "scratch"} {
		if f, ok := typ.Field(key); ok || !cmp.Equal(Field{}, f) {
			t.Errorf("Field(%q) = %+v, %v; want zero, false", key, f, ok)
		}
	}
}

// TestTagsToType builds the DESIGN example the way the generator will, from
// tags, and checks the result.
func TestTagsToType(t *testing.T) {
	fields := []struct{ goName, tag string }{
		{"ADWID", "adw_id,required"},
		{"IssueNumber", "issue_number"},
		{"BranchName", "branch_name"},
		{"IssueClass", "issue_class"},
		{"ModelSet", `model_set,default="base"`},
		{"AllADWs", "all_adws"},
		{"Token", "token,secret"},
		{"Cache", "-"},
	}
	doc := "// ADWState is the state of one ADW run.\n//\n//stategen:version 2"
	v, found, err := ParseVersion(doc)
	if err != nil || !found {
		t.Fatalf("ParseVersion = %d, %v, %v", v, found, err)
	}
	got := &Type{Name: "ADWState", Version: v}
	for _, f := range fields {
		tag, err := ParseTag(f.tag)
		if err != nil {
			t.Fatalf("field %s: %v", f.goName, err)
		}
		if tag.Skip {
			continue
		}
		key := tag.Key
		if key == "" {
			key = SnakeCase(f.goName)
		}
		if key != SnakeCase(f.goName) {
			t.Errorf("field %s: tag key %q differs from SnakeCase %q", f.goName, key, SnakeCase(f.goName))
		}
		got.Fields = append(got.Fields, Field{GoName: f.goName, Key: key, Required: tag.Required, Secret: tag.Secret, Default: tag.Default})
	}
	if err := got.Check(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(adwState(), got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}
