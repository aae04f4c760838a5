package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stategen/stategen/internal/redact"
	"github.com/stategen/stategen/internal/statediff"
	"github.com/stategen/stategen/runtime"
)

// TestDiffText: the lines diff prints for a statediff.Diff, text and
// --json, with a secret redacted.
func TestDiffText(t *testing.T) {
	val := func(s string) runtime.Value { return runtime.Value{Data: json.RawMessage(s)} }
	from := map[string]runtime.Value{
		"gone":  val(`{"a": 1}`),
		"same":  val(`{"a":1,"b":2}`),
		"plan":  val(`{"steps":["plan","build"],"n":1,"owner":"bob"}`),
		"count": val(`1`),
		"token": val(`"old"`),
	}
	to := map[string]runtime.Value{
		"same":  val(`{ "b": 2, "a": 1 }`),
		"plan":  val(`{"steps":["plan","test","ship"],"n":1,"x":{"y":null}}`),
		"count": val(`2`),
		"token": val(`"new"`),
		"new":   val(`["<b>"]`),
	}
	d, err := statediff.Values(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	red := redact.New(false, runtime.SchemaRef{Secret: []string{"token"}})
	if err := printDiff(&out, d, red); err != nil {
		t.Fatal(err)
	}
	const want = `~ count: 1 → 2
- gone: {"a":1}
+ new: ["<b>"]
~ plan: $.owner: removed "bob"
~ plan: $.steps[1]: "build" → "test"
~ plan: $.steps[2]: added "ship"
~ plan: $.x: added {"y":null}
~ token: [redacted] → [redacted]
`
	if out.String() != want {
		t.Errorf("diff printed:\n%s\nwant:\n%s", out.String(), want)
	}

	j := jsonDiff(d, red)
	if len(j.Added) != 1 || len(j.Removed) != 1 || len(j.Changed) != 3 {
		t.Errorf("--json diff = %+v, want 1 added, 1 removed, 3 changed (same is not)", j)
	}
	if got := string(j.Changed["token"].From); got != `"[redacted]"` {
		t.Errorf("secret from = %s, want \"[redacted]\"", got)
	}
}

// TestDiffExitCode: with --exit-code, diff exits 1 when the two differ (its
// output as without it, nothing on stderr) and 0 when they do not.
func TestDiffExitCode(t *testing.T) {
	store := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	cli := func(args ...string) result { return runCLI(t, append([]string{"--store", store}, args...)...) }
	cli("save", "ns", "k", "1")
	cli("checkpoint", "ns", "cp")
	if r := cli("diff", "--exit-code", "ns", "cp"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("no difference: %+v, want exit 0 and no output", r)
	}
	cli("save", "ns", "k", "2")
	if r := cli("diff", "--exit-code", "ns", "cp"); r.code != 1 || r.stdout != "~ k: 1 → 2\n" || r.stderr != "" {
		t.Errorf("a difference: %+v, want exit 1 and the diff", r)
	}
	if r := cli("--json", "diff", "--exit-code", "ns", "cp"); r.code != 1 || !strings.Contains(r.stdout, `"changed"`) {
		t.Errorf("--json with a difference: %+v, want exit 1", r)
	}
	if r := cli("diff", "ns", "cp"); r.code != 0 {
		t.Errorf("a difference without --exit-code: exit %d, want 0", r.code)
	}
	if r := cli("diff", "--exit-code", "ns", "nope"); r.code != 1 || r.stderr == "" {
		t.Errorf("a missing checkpoint: %+v, want exit 1 with a message", r)
	}
}
