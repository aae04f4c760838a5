package backendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

// badNames could escape a directory, change a Redis hash slot or break a
// pattern if they reached a backend.
var badNames = map[string]string{
	"parent path":   "../x",
	"slash":         "a/b",
	"empty":         "",
	"dot dot":       "..",
	"dot":           ".",
	"NUL":           "a\x00b",
	"hash tag":      "{x}",
	"glob":          "a*",
	"backslash":     `a\b`,
	"space":         "a b",
	"300 bytes":     strings.Repeat("x", 300),
	"reserved":      "__stategen__",
	"absolute path": "/etc/passwd",
}

func testInvalidNames(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	st := open(t, url)
	put(t, st, "good", "k", `1`)
	if _, err := st.Checkpoint(ctx, "good", "cp"); err != nil {
		t.Fatal(err)
	}
	var treeBefore []string
	if h.Dir != nil {
		treeBefore = tree(t, filepath.Dir(h.Dir(url)))
	}
	stateBefore := values(t, st, "good")
	for what, bad := range badNames {
		ops := map[string]error{}
		_, ops["put with bad namespace"] = st.Put(ctx, bad, "k", json.RawMessage(`1`))
		_, ops["put with bad key"] = st.Put(ctx, "good", bad, json.RawMessage(`1`))
		_, ops["get with bad namespace"] = st.Get(ctx, bad, "k")
		_, ops["get with bad key"] = st.Get(ctx, "good", bad)
		_, ops["delete with bad key"] = st.Delete(ctx, "good", bad)
		_, ops["snapshot with bad namespace"] = st.Snapshot(ctx, bad)
		if bad != "" { // an empty checkpoint name asks for a generated one
			_, ops["checkpoint with bad name"] = st.Checkpoint(ctx, "good", bad)
			// An empty condition key means the namespace.
			_, ops["condition with bad key"] = st.Apply(ctx, "good", &runtime.Batch{Conds: []runtime.Cond{{Key: bad, Revision: 1}}})
		}
		_, ops["checkpoint with bad namespace"] = st.Checkpoint(ctx, bad, "cp")
		_, ops["restore with bad name"] = st.Restore(ctx, "good", bad)
		_, ops["list checkpoints with bad namespace"] = st.Checkpoints(ctx, bad)
		ops["delete checkpoint with bad name"] = st.DeleteCheckpoint(ctx, "good", bad)
		for op, err := range ops {
			if !errors.Is(err, runtime.ErrInvalidName) {
				t.Errorf("%s (%s %q): got %v, want ErrInvalidName", op, what, bad, err)
			}
		}
	}
	if ns, _ := st.Namespaces(ctx); !cmp.Equal(ns, []string{"good"}) {
		t.Errorf("refused names created namespaces: %v", ns)
	}
	if d := cmp.Diff(stateBefore, values(t, st, "good")); d != "" {
		t.Errorf("refused names changed state:\n%s", d)
	}
	if h.Dir != nil {
		if d := cmp.Diff(treeBefore, tree(t, filepath.Dir(h.Dir(url)))); d != "" {
			t.Errorf("refused names changed files around the store (-before +after):\n%s", d)
		}
	}
}

// tree lists every path below dir.
func tree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testCorrupt(t *testing.T, h Harness) {
	if h.Corrupt == nil {
		t.Skip("the harness cannot corrupt stored data")
	}
	ctx := context.Background()
	url := h.NewURL(t)
	st := open(t, url)
	put(t, st, "ns", "good", `"fine"`)
	put(t, st, "ns", "bad", `{"will": "break"}`)
	if _, err := st.Checkpoint(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
	raw := h.Corrupt(t, url, "ns", "bad")
	damaged := raw()

	reads := map[string]error{}
	_, reads["get of the damaged key"] = st.Get(ctx, "ns", "bad")
	_, reads["snapshot"] = st.Snapshot(ctx, "ns")
	_, reads["checkpoint"] = st.Checkpoint(ctx, "ns", "cp2")
	_, reads["typed load"] = runtime.Load(ctx, st, "ns", "bad", runtime.JSONCodec[map[string]string]())
	for what, err := range reads {
		if !errors.Is(err, runtime.ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", what, err)
		}
	}
	if list, err := st.Checkpoints(ctx, "ns"); err != nil || len(list) != 1 || list[0].Name != "cp" {
		t.Errorf("a checkpoint of damaged data was stored: %+v, %v", list, err)
	}
	// Writes elsewhere either succeed (per-value storage) or refuse with
	// ErrCorrupt (one file per namespace); neither rewrites the damage.
	if _, err := st.Put(ctx, "ns", "good", json.RawMessage(`"still"`)); err != nil && !errors.Is(err, runtime.ErrCorrupt) {
		t.Errorf("write beside corrupt data: got %v, want success or ErrCorrupt", err)
	}
	if after := raw(); !bytes.Equal(damaged, after) {
		t.Errorf("damaged data was rewritten:\nbefore %q\nafter  %q", damaged, after)
	}
}
