package filestore

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// python formats a compact value as Python's json.dump(indent=2) would.
func python(t testing.TB, v string) string {
	t.Helper()
	out, err := checkValue([]byte(v))
	if err != nil {
		t.Fatalf("%s: %v", v, err)
	}
	return string(appendPython(nil, out, 0))
}

func TestAppendPython(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"scalars", `[null, true, false, 0, -1.50, 1e+100, 12345678901234567890]`,
			"[\n  null,\n  true,\n  false,\n  0,\n  -1.50,\n  1e+100,\n  12345678901234567890\n]"},
		{"empty containers", `{"a": {}, "b": [ ], "c": [{}, []]}`,
			"{\n  \"a\": {},\n  \"b\": [],\n  \"c\": [\n    {},\n    []\n  ]\n}"},
		{"member order kept", `{"z": 1, "a": 2, "m": 3}`,
			"{\n  \"z\": 1,\n  \"a\": 2,\n  \"m\": 3\n}"},
		// ensure_ascii: everything outside ' '..'~' escaped, lower-case hex,
		// a surrogate pair above U+FFFF; no HTML escaping.
		{"strings", `"é<&>\u2028😀\u007f\u0001 \"\\\/\b\f\n\r\t\u0041\u00E9"`,
			`"\u00e9<&>\u2028\ud83d\ude00\u007f\u0001 \"\\/\b\f\n\r\tA\u00e9"`},
		{"lone surrogate as written", `"x\ud800y\uDC00"`, `"x\ud800y\udc00"`},
		{"escaped keys", `{"naïve": "ok"}`, "{\n  \"na\\u00efve\": \"ok\"\n}"},
		{"nesting", `{"a": {"b": {"c": [1]}}}`,
			"{\n  \"a\": {\n    \"b\": {\n      \"c\": [\n        1\n      ]\n    }\n  }\n}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := python(t, tc.in); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestAppendCompact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{ "b" : [ 1 , 2.50 ] , "a" : null }`, `{"b":[1,2.50],"a":null}`},
		{`"\u00e9\ud83d\ude00 <&> \u2028"`, "\"é😀 <&> \u2028\""},
		{`"\"\\\/\b\f\n\r\t\u0000\u007f"`, "\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0000\x7f\""},
		// A lone surrogate cannot be UTF-8: it stays as written.
		{`"x\ud800y\udc00z\ud83d"`, `"x\ud800y\udc00z\ud83d"`},
		{`"\ud83d\u0041"`, `"\ud83dA"`},
	}
	for _, tc := range tests {
		v, err := checkValue([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(v); got != tc.want {
			t.Errorf("compact %s: got %s, want %s", tc.in, got, tc.want)
		}
		var a, b any
		if json.Unmarshal([]byte(tc.in), &a) != nil || json.Unmarshal(v, &b) != nil || !jsonEq(a, b) {
			t.Errorf("compact %s: %s means something else", tc.in, v)
		}
	}
}

// decodeNumbers decodes JSON keeping numbers as written.
func decodeNumbers(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func jsonEq(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestParseObject(t *testing.T) {
	// A repeated key keeps its first place and its last value, as
	// Python's json.load does; every member keeps its bytes.
	o, err := parseObject([]byte(` {"a": 1, "b" : [ 2 ], "a": 3.0, "x\ud800": "\u00e9"} `))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.members) != 3 || o.members[0].key != "a" || string(o.members[0].value) != "3.0" ||
		string(o.members[1].value) != "[ 2 ]" || string(o.members[2].rawKey) != `"x\ud800"` || o.members[2].key != "x\uFFFD" {
		t.Errorf("members %+v", o.members)
	}
	if got := string(o.appendPython(nil)); got != "{\n  \"a\": 3.0,\n  \"b\": [ 2 ],\n  \"x\\ud800\": \"\\u00e9\"\n}" {
		t.Errorf("written back as\n%s", got)
	}
	o.set("b", []byte(`[2,3]`))
	o.set("c", []byte(`{"d":null}`))
	o.remove(func(k string) bool { return k == "a" })
	if got := string(o.appendPython(nil)); got != "{\n  \"b\": [\n    2,\n    3\n  ],\n  \"x\\ud800\": \"\\u00e9\",\n  \"c\": {\n    \"d\": null\n  }\n}" {
		t.Errorf("after edits\n%s", got)
	}
	if o, err := parseObject([]byte("{}")); err != nil || string(o.appendPython(nil)) != "{}" {
		t.Errorf("empty object: %v", err)
	}
	deep := strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1)
	if _, err := parseObject([]byte(`{"k":` + deep + `}`)); err != nil {
		t.Errorf("MaxDepth levels: %v", err)
	}
	bad := map[string]string{
		"empty":          "",
		"blank":          "  \n",
		"not an object":  `[1]`,
		"trailing data":  `{} {}`,
		"truncated":      `{"a": [1, 2`,
		"truncated key":  `{"a`,
		"no colon":       `{"a" 1}`,
		"not JSON":       `{oops}`,
		"NaN":            `{"a": NaN}`,
		"bad number":     `{"a": 01}`,
		"bad escape":     `{"a": "\x"}`,
		"short unicode":  `{"a": "\u12"}`,
		"control":        "{\"a\": \"\x01\"}",
		"trailing comma": `{"a": [1,]}`,
		"too deep":       `{"k":[` + deep + `]}`,
	}
	for what, in := range bad {
		if _, err := parseObject([]byte(in)); err == nil {
			t.Errorf("%s: parsed %q without error", what, in)
		}
	}
}

// TestCheckValueDepth: a value the files could not read back is refused.
func TestCheckValueDepth(t *testing.T) {
	ok := strings.Repeat("[", maxValueDepth) + strings.Repeat("]", maxValueDepth)
	if _, err := checkValue([]byte(ok)); err != nil {
		t.Errorf("%d levels: %v", maxValueDepth, err)
	}
	if _, err := checkValue([]byte("[" + ok + "]")); err == nil {
		t.Errorf("%d levels accepted", maxValueDepth+1)
	}
	if _, err := checkValue([]byte(`[1] [2]`)); err == nil {
		t.Error("two values accepted")
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
		`{"text": "naïve ☃ 𝄞 <b>&amp;</b> \u2028 \u0000 \u001f \u007f \u0080 \uffff \ud800", "quote": "\" \\ / \b \f \n \r \t"}`,
		`{"nested": {"a": [[], {}, [{"b": [1, -2, 3.25, 1e+100, 1.5e-07, 12345678901234567890]}]], "t": true, "f": false}, "empty": {}}`,
		`[]`, `{}`, `"just a string"`, `[1, [2, [3, [4]]]]`,
	}
	for _, doc := range docs {
		cmd := exec.Command(py, "-c", "import json, sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read()), indent=2))")
		cmd.Stdin = strings.NewReader(doc)
		cmd.Stderr = os.Stderr
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3: %v", err)
		}
		if got := python(t, doc); got != string(want) {
			t.Errorf("for %s\ngot\n%s\npython wrote\n%s", doc, got, want)
		}
	}
}

func FuzzValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\ud800"]}`, `"é"`, `null`, `[[],{}]`, `{"a":{"b":"\u0041"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := checkValue(in)
		if (err == nil) != (json.Valid(in) && depth(in) <= maxValueDepth) {
			t.Fatalf("checkValue(%q): %v, json.Valid %v", in, err, json.Valid(in))
		}
		if err != nil {
			return
		}
		a, errA := decodeNumbers(in)
		b, errB := decodeNumbers(v)
		c, errC := decodeNumbers(appendPython(nil, v, 0))
		if errA != nil || errB != nil || errC != nil {
			t.Fatalf("%q: compact %q or Python form is not JSON", in, v)
		}
		if !jsonEq(a, b) || !jsonEq(a, c) {
			t.Fatalf("%q: compact %q or Python form means something else", in, v)
		}
		if again, err := checkValue(v); err != nil || string(again) != string(v) {
			t.Fatalf("compact form %q is not stable: %q, %v", v, again, err)
		}
	})
}
