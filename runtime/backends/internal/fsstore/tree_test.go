package fsstore

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestAppendPython(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"scalars", `[null, true, false, 0, -1.50, 1e+100, 12345678901234567890]`,
			"[\n  null,\n  true,\n  false,\n  0,\n  -1.50,\n  1e+100,\n  12345678901234567890\n]"},
		{"empty containers", `{"a": {}, "b": [], "c": [{}, []]}`,
			"{\n  \"a\": {},\n  \"b\": [],\n  \"c\": [\n    {},\n    []\n  ]\n}"},
		{"member order kept", `{"z": 1, "a": 2, "m": 3}`,
			"{\n  \"z\": 1,\n  \"a\": 2,\n  \"m\": 3\n}"},
		// ensure_ascii: everything outside ' '..'~' escaped, lower-case hex,
		// a surrogate pair above U+FFFF; no HTML escaping.
		{"strings", `"é<&>\u2028😀\u007f\u0001 \"\\\/\b\f\n\r\t"`,
			`"\u00e9<&>\u2028\ud83d\ude00\u007f\u0001 \"\\/\b\f\n\r\t"`},
		{"escaped keys", `{"naïve": "ok"}`, "{\n  \"na\\u00efve\": \"ok\"\n}"},
		{"nesting", `{"a": {"b": {"c": [1]}}}`,
			"{\n  \"a\": {\n    \"b\": {\n      \"c\": [\n        1\n      ]\n    }\n  }\n}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(AppendPython(nil, n)); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestAppendCompact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{ "b" : [ 1 , 2.50 ] , "a" : null }`, `{"b":[1,2.50],"a":null}`},
		{`"\u00e9\ud83d\ude00 <&> \u2028"`, "\"é😀 <&> \u2028\""},
		{`"\"\\\/\b\f\n\r\t\u0000\u007f"`, "\"\\\"\\\\/\\u0008\\u000c\\n\\r\\t\\u0000\x7f\""},
	}
	for _, tc := range tests {
		n, err := Parse([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(AppendCompact(nil, n)); got != tc.want {
			t.Errorf("compact %s: got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	// A repeated key keeps its first place and its last value, as
	// Python's json.load does.
	n, err := Parse([]byte(` {"a": 1, "b": 2, "a": 3} `))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendCompact(nil, n)); got != `{"a":3,"b":2}` {
		t.Errorf("duplicate keys: got %s", got)
	}
	bad := map[string]string{
		"empty":         "",
		"blank":         "  \n",
		"trailing data": `{} {}`,
		"truncated":     `{"a": [1, 2`,
		"truncated key": `{"a`,
		"not JSON":      `{oops}`,
		"NaN":           `[NaN]`,
		"too deep":      strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	}
	for what, in := range bad {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: parsed %q without error", what, in)
		}
	}
	if _, err := ParseObject([]byte(`[1]`)); err == nil {
		t.Error("ParseObject accepted an array")
	}
}

func TestNodeEdits(t *testing.T) {
	n := NewObject()
	n.Set("b", IntNode(1))
	n.Set("a", StringNode("x"))
	n.Set("b", IntNode(2)) // in place
	n.Set("c", IntNode(3))
	n.Delete("a")
	n.Delete("missing")
	if got := string(AppendCompact(nil, n)); got != `{"b":2,"c":3}` {
		t.Errorf("got %s", got)
	}
	if i, err := n.Get("c").Int(); err != nil || i != 3 {
		t.Errorf("Int: %d, %v", i, err)
	}
	for _, in := range []string{`1.5`, `1e3`, `"1"`, `null`} {
		v, _ := Parse([]byte(in))
		if _, err := v.Int(); err == nil {
			t.Errorf("Int accepted %s", in)
		}
	}
	if _, err := n.Get("missing").Int(); err == nil {
		t.Error("Int accepted a missing member")
	}
}

// TestAppendPythonMatchesPython compares the writer with Python's own
// json.dumps(indent=2) on values whose numbers Python writes back as they
// are.
func TestAppendPythonMatchesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH: cannot compare with Python's json.dumps")
	}
	docs := []string{
		`{"adw_id": "a1b2c3d4", "issue_number": "42", "branch_name": null, "all_adws": ["adw_plan", "adw_build"], "model_set": "base"}`,
		`{"text": "naïve ☃ 𝄞 <b>&amp;</b> \u2028 \u0000 \u001f \u007f \u0080 \uffff", "quote": "\" \\ / \b \f \n \r \t"}`,
		`{"nested": {"a": [[], {}, [{"b": [1, -2, 3.25, 1e+100, 1.5e-07, 12345678901234567890]}]], "t": true, "f": false}, "empty": {}}`,
		`[]`, `{}`, `"just a string"`, `[1, [2, [3, [4]]]]`,
	}
	for _, doc := range docs {
		n, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, "-c", "import json, sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read()), indent=2))")
		cmd.Stdin = strings.NewReader(doc)
		cmd.Stderr = os.Stderr
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3: %v", err)
		}
		if got := AppendPython(nil, n); string(got) != string(want) {
			t.Errorf("for %s\ngot\n%s\npython wrote\n%s", doc, got, want)
		}
	}
}
