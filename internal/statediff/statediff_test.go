package statediff

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

// TestPaths: where two JSON values differ, as JSON paths.
func TestPaths(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		want           []string
	}{
		{"same", `{"a":[1,2]}`, `{"a":[1,2]}`, nil},
		{"member order and spacing", `{"a":1,"b":[true, null]}`, `{ "b": [true,null], "a": 1 }`, nil},
		{"scalar", `"x"`, `"y"`, []string{"$"}},
		{"number as written", `1`, `1.0`, []string{"$"}},
		{"big numbers keep their digits", `12345678901234567890`, `12345678901234567891`, []string{"$"}},
		{"deep", `{"plan":{"steps":["a","b","c"]}}`, `{"plan":{"steps":["a","b","x"]}}`, []string{"$.plan.steps[2]"}},
		{"kind changed", `{"a":{"b":1}}`, `{"a":[1]}`, []string{"$.a"}},
		{"null is a value", `{"a":null}`, `{}`, []string{"$.a"}},
		{"null to zero", `{"a":null}`, `{"a":0}`, []string{"$.a"}},
		{"array grew and shrank", `[1,2]`, `[1]`, []string{"$[1]"}},
		{"array grew", `[]`, `[1,2]`, []string{"$[0]", "$[1]"}},
		{"members sorted", `{"b":1,"a":1}`, `{"b":2,"a":2,"c":0}`, []string{"$.a", "$.b", "$.c"}},
		{"member names", `{"x y":1,"a\"b":1,"1a":1,"_ok":1,"é":1}`, `{}`, []string{`$["1a"]`, "$._ok", `$["a\"b"]`, `$["x y"]`, `$["é"]`}},
		{"html kept", `{"<a>":1}`, `{}`, []string{`$["<a>"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changes, err := JSON(json.RawMessage(tc.from), json.RawMessage(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				got = append(got, c.Path)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("paths %q, want %q", got, tc.want)
			}
		})
	}
}

// TestValues: the keys that differ with their operations and changes, and
// that a value equal but for formatting is no change.
func TestValues(t *testing.T) {
	val := func(s string) runtime.Value { return runtime.Value{Data: json.RawMessage(s)} }
	from := map[string]runtime.Value{
		"gone":  val(`{"a": 1}`),
		"same":  val(`{"a":1,"b":2}`),
		"plan":  val(`{"steps":["plan","build"],"owner":"bob"}`),
		"count": val(`1`),
	}
	to := map[string]runtime.Value{
		"same":  val(`{ "b": 2, "a": 1 }`),
		"plan":  val(`{"steps":["plan","test","ship"]}`),
		"count": val(`null`),
		"new":   val(`["<b>"]`),
	}
	d, err := Values(from, to)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	want := Diff{
		{Key: "count", Op: Changed, From: raw(`1`), To: raw(`null`), Changes: []Change{{Path: "$", Op: Changed, From: json.Number("1"), To: nil}}},
		{Key: "gone", Op: Removed, From: raw(`{"a": 1}`)},
		{Key: "new", Op: Added, To: raw(`["<b>"]`)},
		{Key: "plan", Op: Changed, From: from["plan"].Data, To: to["plan"].Data, Changes: []Change{
			{Path: "$.owner", Op: Removed, From: "bob"},
			{Path: "$.steps[1]", Op: Changed, From: "build", To: "test"},
			{Path: "$.steps[2]", Op: Added, To: "ship"},
		}},
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}
	if d, err := Values(from, from); err != nil || len(d) != 0 {
		t.Errorf("Values of a state with itself = %v, %v; want none", d, err)
	}
}

// TestCorrupt: a stored value that is not JSON is an error naming the key.
func TestCorrupt(t *testing.T) {
	_, err := Values(map[string]runtime.Value{"k": {Data: json.RawMessage(`{`)}}, map[string]runtime.Value{"k": {Data: json.RawMessage(`1`)}})
	if !errors.Is(err, runtime.ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}

// TestEncode: values print as compact JSON, HTML kept.
func TestEncode(t *testing.T) {
	if got := Encode(map[string]any{"a": []any{"<b>", json.Number("1.0")}}); got != `{"a":["<b>",1.0]}` {
		t.Errorf("Encode = %s", got)
	}
}
