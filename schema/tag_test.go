package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestParseTag(t *testing.T) {
	tests := []struct {
		tag  string
		want Tag
	}{
		// Keys.
		{``, Tag{}},
		{`adw_id`, Tag{Key: "adw_id"}},
		{`-`, Tag{Skip: true}},
		{`Odd.Key-1`, Tag{Key: "Odd.Key-1"}}, // characters are Type.Check's business
		{`Required`, Tag{Key: "Required"}},   // options are case-sensitive, so this is a key

		// Every option alone, with and without a key.
		{`adw_id,required`, Tag{Key: "adw_id", Required: true}},
		{`,required`, Tag{Required: true}},
		{`token,secret`, Tag{Key: "token", Secret: true}},
		{`,secret`, Tag{Secret: true}},
		{`issue_number,nullzero`, Tag{Key: "issue_number", NullZero: true}},
		{`model_set,nullzero,default="base"`, Tag{Key: "model_set", NullZero: true, Default: raw(`"base"`)}},
		{`model_set,default="base"`, Tag{Key: "model_set", Default: raw(`"base"`)}},
		{`,default="base"`, Tag{Default: raw(`"base"`)}},

		// Combined, in any order, default= last.
		{`a,required,secret`, Tag{Key: "a", Required: true, Secret: true}},
		{`a,secret,required`, Tag{Key: "a", Required: true, Secret: true}},
		{`a,secret,default=1`, Tag{Key: "a", Secret: true, Default: raw(`1`)}},
		{`,secret,default=[1,2]`, Tag{Secret: true, Default: raw(`[1,2]`)}},

		// Defaults of every JSON kind.
		{`a,default="a, b"`, Tag{Key: "a", Default: raw(`"a, b"`)}},
		{`a,default=""`, Tag{Key: "a", Default: raw(`""`)}},
		{`a,default="say \"hi\", then \u00e9"`, Tag{Key: "a", Default: raw(`"say \"hi\", then \u00e9"`)}},
		{`a,default=0`, Tag{Key: "a", Default: raw(`0`)}},
		{`a,default=-12.5e3`, Tag{Key: "a", Default: raw(`-12.5e3`)}},
		{`a,default=true`, Tag{Key: "a", Default: raw(`true`)}},
		{`a,default=false`, Tag{Key: "a", Default: raw(`false`)}},
		{`a,default=null`, Tag{Key: "a", Default: raw(`null`)}},
		{`tags,default=["a","b"]`, Tag{Key: "tags", Default: raw(`["a","b"]`)}},
		{`a,default=[]`, Tag{Key: "a", Default: raw(`[]`)}},
		{`a,default={}`, Tag{Key: "a", Default: raw(`{}`)}},
		{`a,default={"k":{"q":"x \"y\", z","n":[1,{"m":null}]},"b":true}`,
			Tag{Key: "a", Default: raw(`{"k":{"q":"x \"y\", z","n":[1,{"m":null}]},"b":true}`)}},
		// A default that looks like options inside a JSON string is JSON.
		{`a,default=",required,secret"`, Tag{Key: "a", Default: raw(`",required,secret"`)}},

		// Whitespace in and around the JSON is JSON's own, and compacted.
		{`a,default= "base" `, Tag{Key: "a", Default: raw(`"base"`)}},
		{`a,default=[ 1, 2 ]`, Tag{Key: "a", Default: raw(`[1,2]`)}},
		{"a,default={\n\t\"k\": [1, 2]\n}", Tag{Key: "a", Default: raw(`{"k":[1,2]}`)}},
		{`a,default=" keep  inside "`, Tag{Key: "a", Default: raw(`" keep  inside "`)}},
	}
	for _, tt := range tests {
		got, err := ParseTag(tt.tag)
		if err != nil {
			t.Errorf("ParseTag(%q): %v", tt.tag, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseTag(%q) mismatch (-want +got):\n%s", tt.tag, diff)
		}
	}
}

// TestParseTagFromStructTag goes through a real Go struct tag, escapes and
// all, as the generator will.
func TestParseTagFromStructTag(t *testing.T) {
	type S struct {
		Tags     []string `state:"tags,default=[\"a\",\"b\"]"`
		ModelSet string   `state:"model_set,default=\"base\""`
	}
	st := reflect.TypeFor[S]()
	for i, want := range []Tag{
		{Key: "tags", Default: raw(`["a","b"]`)},
		{Key: "model_set", Default: raw(`"base"`)},
	} {
		got, err := ParseTag(st.Field(i).Tag.Get("state"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("field %s mismatch (-want +got):\n%s", st.Field(i).Name, diff)
		}
	}
}

func TestParseTagErrors(t *testing.T) {
	tests := []struct {
		tag  string
		want []string // parts the message must hold
	}{
		// Unknown options.
		{`a,reqired`, []string{"unknown option `reqired`", `did you mean "required"?`, "required, secret, nullzero and default=JSON"}},
		{`a,Secret`, []string{"unknown option `Secret`", `did you mean "secret"?`}},
		{`a,omitempty`, []string{"unknown option `omitempty`", "known options are required, secret, nullzero and default=JSON"}},
		{`a,defualt=1`, []string{"unknown option `defualt=1`", `did you mean "default=JSON"?`}},
		{`a,required=true`, []string{"option `required=true` takes no value", "write just required"}},
		{`a,secret=yes`, []string{"option `secret=yes` takes no value"}},
		{`a,default`, []string{`option "default" needs a value`, "default=JSON as the last option"}},

		// Duplicates and empty options.
		{`a,required,required`, []string{`option "required" is given twice`, "remove one"}},
		{`a,secret,required,secret`, []string{`option "secret" is given twice`}},
		{`a,,required`, []string{"empty option", "remove it"}},
		{`a,`, []string{"tag `a,` has an empty option"}},
		{`,`, []string{"empty option"}},

		// default= not last, or not JSON.
		{`a,default=1,required`, []string{"default value `1,required` is not valid JSON", "default= must be the last option", "move `required` before default="}},
		{`a,default="x",secret`, []string{"move `secret` before default="}},
		{`a,default=[1,2],secret,required`, []string{"move `secret,required` before default="}},
		{`a,default=1,default=2`, []string{"move `default=2` before default="}},
		{`a,default=`, []string{"default= has no value", `default="base"`}},
		{`a,default= `, []string{"default= has no value"}},
		{`a,default=base`, []string{"default value `base` is not valid JSON", "invalid character 'b'", `a string default needs JSON quotes, e.g. default="base"`, `default=\"...\"`}},
		{`a,default=["a",`, []string{"default value `[\"a\",` is not valid JSON", "unexpected end of JSON input"}},
		{`a,default={"k":1,}`, []string{"is not valid JSON", "invalid character '}'"}},
		{`a,default='x'`, []string{"default value `'x'` is not valid JSON"}},

		// required with default.
		{`a,required,default=1`, []string{"required and default= conflict", "choose one"}},
		{`,required,secret,default="x"`, []string{"required and default= conflict"}},
		// required with nullzero.
		{`a,required,nullzero`, []string{"required and nullzero conflict", "choose one"}},
		{`a,nullzero,nullzero`, []string{`option "nullzero" is given twice`}},
		{`a,nulzero`, []string{"unknown option `nulzero`", `did you mean "nullzero"?`}},
		{`nullzero`, []string{`key "nullzero" is spelled like an option`}},

		// Keys that are not keys.
		{`required`, []string{`key "required" is spelled like an option`, `write state:",required"`}},
		{`secret`, []string{`key "secret" is spelled like an option`, `state:",secret"`}},
		{`secret,required`, []string{`key "secret" is spelled like an option`}},
		{`default="x"`, []string{"key `default=\"x\"` is spelled like an option", `state:",default="x""`}},
		{`default=["a","b"]`, []string{`state:",default=["a","b"]"`}},
		{`-,required`, []string{"`-,required`", `"-" cannot take options`, `state:"-" alone`}},
		{`-,`, []string{`"-" cannot take options`}},

		// Whitespace around keys and options is refused.
		{` adw_id`, []string{`key " adw_id" has spaces around it`, "remove them"}},
		{`adw_id `, []string{`key "adw_id " has spaces around it`}},
		{`adw_id, required`, []string{`option " required" has spaces around it`, "remove them"}},
		{`adw_id,required ,secret`, []string{`option "required " has spaces around it`}},
		{"adw_id,secret\t", []string{`option "secret\t" has spaces around it`}},
		{`adw_id, default=1`, []string{`option " default=1" has spaces around it`}},
		{`adw_id,default =1`, []string{"option `default =1` has spaces around '='", "write default=... with none"}},
		{` - `, []string{`key " - " has spaces around it`}},
	}
	for _, tt := range tests {
		got, err := ParseTag(tt.tag)
		if err == nil {
			t.Errorf("ParseTag(%q) = %+v, want an error", tt.tag, got)
			continue
		}
		msg := err.Error()
		for _, part := range tt.want {
			if !strings.Contains(msg, part) {
				t.Errorf("ParseTag(%q) error %q\ndoes not contain %q", tt.tag, msg, part)
			}
		}
		checkErrorStyle(t, msg)
		if diff := cmp.Diff(Tag{}, got); diff != "" {
			t.Errorf("ParseTag(%q) returned a non-zero Tag with its error (-want +got):\n%s", tt.tag, diff)
		}
	}
}

// checkErrorStyle asserts the error conventions: lower-case start, no
// trailing period.
func checkErrorStyle(t *testing.T, msg string) {
	t.Helper()
	if msg == "" {
		t.Error("empty error message")
		return
	}
	if c := msg[0]; 'A' <= c && c <= 'Z' {
		t.Errorf("error %q starts with a capital", msg)
	}
	if strings.HasSuffix(msg, ".") {
		t.Errorf("error %q ends with a period", msg)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"secret", "secret", 0},
		{"reqired", "required", 1}, {"versoin", "version", 2}, {"kitten", "sitting", 3},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	types := []string{"ADWState", "IssueClass", "Phase", "phaseTimer"}
	for in, want := range map[string]string{"ADWStat": "ADWState", "adwstate": "ADWState", "IssueClas": "IssueClass", "phase": "Phase", "Nothing": ""} {
		got, ok := Closest(in, types)
		if got != want || ok != (want != "") {
			t.Errorf("Closest(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
