package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

// jsonKinds has one value of every JSON kind, including the awkward ones.
var jsonKinds = map[string]string{
	"string":      `"feature/issue-42"`,
	"empty":       `""`,
	"unicode":     `"naïve ☃ 𝄞 <b>&amp;</b>"`,
	"escapes":     `"quote \" backslash \\ newline \n tab \t nul \u0000"`,
	"int":         `42`,
	"negative":    `-7`,
	"bigint":      `12345678901234567890`,
	"float":       `3.25`,
	"exponent":    `1e+100`,
	"true":        `true`,
	"false":       `false`,
	"null":        `null`,
	"array":       `[1, "two", null, [3], {"four": 4}]`,
	"emptyarray":  `[]`,
	"object":      `{"a": {"b": [true, false]}, "z": 0.5}`,
	"emptyobject": `{}`,
}

func testRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	for key, val := range jsonKinds {
		put(t, st, "rt", key, val)
	}
	for key, val := range jsonKinds {
		v, err := st.Get(ctx, "rt", key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		if d := diffJSON(t, val, v.Data); d != "" {
			t.Errorf("get %s: value changed in the round trip (-put +got):\n%s", key, d)
		}
	}
	got := values(t, st, "rt")
	if len(got) != len(jsonKinds) {
		t.Errorf("snapshot has %d keys, want %d", len(got), len(jsonKinds))
	}
	for key, val := range jsonKinds {
		if d := cmp.Diff(decodeJSON(t, []byte(val)), got[key]); d != "" {
			t.Errorf("snapshot %s (-put +got):\n%s", key, d)
		}
	}
	// Overwriting replaces the value.
	put(t, st, "rt", "int", `43`)
	if v, _ := st.Get(ctx, "rt", "int"); string(v.Data) != "43" {
		t.Errorf("after overwrite got %s, want 43", v.Data)
	}
}

func testNotFound(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	checks := map[string]error{}
	_, checks["get in absent namespace"] = st.Get(ctx, "nons", "k")
	_, checks["snapshot of absent namespace"] = st.Snapshot(ctx, "nons")
	_, checks["keys of absent namespace"] = st.Keys(ctx, "nons")
	_, checks["checkpoint of absent namespace"] = st.Checkpoint(ctx, "nons", "cp")
	put(t, st, "ns", "k", `1`)
	_, checks["get absent key"] = st.Get(ctx, "ns", "other")
	_, checks["read absent checkpoint"] = st.GetCheckpoint(ctx, "ns", "nocp")
	_, checks["restore absent checkpoint"] = st.Restore(ctx, "ns", "nocp")
	checks["delete absent checkpoint"] = st.DeleteCheckpoint(ctx, "ns", "nocp")
	for what, err := range checks {
		if !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", what, err)
		}
	}
	// A restore that failed changed nothing.
	if d := cmp.Diff(map[string]any{"k": json.Number("1")}, values(t, st, "ns")); d != "" {
		t.Errorf("state changed by failed calls (-want +got):\n%s", d)
	}
}

func testRevisions(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	r1 := put(t, st, "ns", "a", `1`)
	r2 := put(t, st, "ns", "b", `2`)
	r3, err := st.Delete(ctx, "ns", "b")
	if err != nil {
		t.Fatal(err)
	}
	r4 := put(t, st, "ns", "a", `3`)
	if !(0 < r1 && r1 < r2 && r2 < r3 && r3 < r4) {
		t.Fatalf("revisions do not grow with each write: %d %d %d %d", r1, r2, r3, r4)
	}
	a, err := st.Get(ctx, "ns", "a")
	if err != nil || a.Revision != r4 {
		t.Errorf("key a: revision %d (err %v), want %d (the write that stored it)", a.Revision, err, r4)
	}
	snap, err := st.Snapshot(ctx, "ns")
	if err != nil || snap.Revision != r4 {
		t.Fatalf("snapshot revision %d (err %v), want %d", snap.Revision, err, r4)
	}
	if _, ok := snap.Values["b"]; ok {
		t.Errorf("deleted key b still in snapshot")
	}
}

func testBatchAllOrNothing(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	rev, err := st.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{
		{Key: "a", Value: json.RawMessage(`1`)},
		{Key: "b", Value: json.RawMessage(`"two"`)},
		{Key: "c", Value: json.RawMessage(`[3]`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if v, err := st.Get(ctx, "ns", k); err != nil || v.Revision != rev {
			t.Errorf("key %s: revision %d, err %v; want all keys of one batch at revision %d", k, v.Revision, err, rev)
		}
	}
	before := values(t, st, "ns")

	bad := map[string]*runtime.Batch{
		"a failed condition": {
			Puts:    []runtime.KV{{Key: "a", Value: json.RawMessage(`100`)}, {Key: "d", Value: json.RawMessage(`4`)}},
			Deletes: []string{"b"},
			Conds:   []runtime.Cond{{Key: "c", Revision: rev + 1}},
		},
		"an invalid JSON value": {
			Puts:    []runtime.KV{{Key: "a", Value: json.RawMessage(`100`)}, {Key: "d", Value: json.RawMessage(`{oops`)}},
			Deletes: []string{"b"},
		},
		"an invalid key": {
			Puts:    []runtime.KV{{Key: "a", Value: json.RawMessage(`100`)}, {Key: "../d", Value: json.RawMessage(`4`)}},
			Deletes: []string{"b"},
		},
	}
	wantErr := map[string]error{
		"a failed condition":    runtime.ErrConflict,
		"an invalid JSON value": runtime.ErrInvalidValue,
		"an invalid key":        runtime.ErrInvalidName,
	}
	for what, b := range bad {
		if _, err := st.Apply(ctx, "ns", b); !errors.Is(err, wantErr[what]) {
			t.Errorf("batch with %s: got %v, want %v", what, err, wantErr[what])
		}
		if d := cmp.Diff(before, values(t, st, "ns")); d != "" {
			t.Errorf("batch with %s changed state (-before +after):\n%s", what, d)
		}
	}
	if snap, _ := st.Snapshot(ctx, "ns"); snap.Revision != rev {
		t.Errorf("failed batches moved the revision from %d to %d", rev, snap.Revision)
	}
}

func testCompareAndSet(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	cond := func(key string, rev int64, val string) error {
		_, err := st.Apply(ctx, "ns", &runtime.Batch{
			Puts:  []runtime.KV{{Key: key, Value: json.RawMessage(val)}},
			Conds: []runtime.Cond{{Key: key, Revision: rev}},
		})
		return err
	}
	// Create-if-absent.
	if err := cond("k", 0, `1`); err != nil {
		t.Fatalf("create with revision 0 on an absent key: %v", err)
	}
	if err := cond("k", 0, `2`); !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("create with revision 0 on an existing key: got %v, want ErrConflict", err)
	}
	v, _ := st.Get(ctx, "ns", "k")
	if err := cond("k", v.Revision+1, `3`); !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("stale revision: got %v, want ErrConflict", err)
	}
	if err := cond("k", v.Revision, `4`); err != nil {
		t.Fatalf("current revision: %v", err)
	}
	if got, _ := st.Get(ctx, "ns", "k"); string(got.Data) != "4" {
		t.Fatalf("value %s, want 4", got.Data)
	}
	// A key condition only concerns that key: writing another key does not
	// make it conflict.
	k, _ := st.Get(ctx, "ns", "k")
	put(t, st, "ns", "other", `0`)
	if err := cond("k", k.Revision, `5`); err != nil {
		t.Fatalf("key condition after a write to another key: %v", err)
	}
	// A namespace condition concerns every write.
	snap, _ := st.Snapshot(ctx, "ns")
	put(t, st, "ns", "other", `1`)
	_, err := st.Apply(ctx, "ns", &runtime.Batch{
		Puts:  []runtime.KV{{Key: "k", Value: json.RawMessage(`6`)}},
		Conds: []runtime.Cond{{Revision: snap.Revision}},
	})
	if !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("namespace condition after another write: got %v, want ErrConflict", err)
	}
	// Namespace revision 0: the namespace must not exist yet.
	if _, err := st.Apply(ctx, "fresh", &runtime.Batch{Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(`1`)}}, Conds: []runtime.Cond{{}}}); err != nil {
		t.Fatalf("create namespace with condition revision 0: %v", err)
	}
	if _, err := st.Apply(ctx, "fresh", &runtime.Batch{Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(`2`)}}, Conds: []runtime.Cond{{}}}); !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("namespace condition revision 0 on an existing namespace: got %v, want ErrConflict", err)
	}
	// A namespace whose last key was deleted does not exist any more, but
	// its revisions go on growing.
	last, err := st.Delete(ctx, "fresh", "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Snapshot(ctx, "fresh"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("snapshot of an emptied namespace: got %v, want ErrNotFound", err)
	}
	rev, err := st.UpdateNamespace(ctx, "fresh", func(snap *runtime.Snapshot) (*runtime.Batch, error) {
		if snap != nil {
			return nil, fmt.Errorf("update of an emptied namespace got a snapshot: %+v", snap)
		}
		return &runtime.Batch{Puts: []runtime.KV{{Key: "b", Value: json.RawMessage(`1`)}}}, nil
	})
	if err != nil {
		t.Fatalf("update of an emptied namespace: %v", err)
	}
	if rev <= last {
		t.Fatalf("revision went from %d to %d after the namespace was emptied: it must only grow", last, rev)
	}
}

func testReplace(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	put(t, st, "ns", "a", `1`)
	put(t, st, "ns", "b", `2`)
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Replace: true, Puts: []runtime.KV{{Key: "c", Value: json.RawMessage(`3`)}, {Key: "a", Value: json.RawMessage(`10`)}}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": json.Number("10"), "c": json.Number("3")}
	if d := cmp.Diff(want, values(t, st, "ns")); d != "" {
		t.Errorf("replace (-want +got):\n%s", d)
	}
}

func testListing(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	if ns, err := st.Namespaces(ctx); err != nil || len(ns) != 0 {
		t.Fatalf("new store lists namespaces %v (err %v), want none", ns, err)
	}
	for _, ns := range []string{"zeta", "alpha", "a1b2c3d4", "m.n-o_p"} {
		put(t, st, ns, "k", `1`)
	}
	for _, k := range []string{"z", "b", "a_c", "a"} {
		put(t, st, "alpha", k, `true`)
	}
	ns, err := st.Namespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a1b2c3d4", "alpha", "m.n-o_p", "zeta"}, ns); d != "" {
		t.Errorf("namespaces (-want +got):\n%s", d)
	}
	// A namespace whose keys were all deleted is gone from the list, unless
	// it keeps checkpoints.
	put(t, st, "emptied", "k", `1`)
	put(t, st, "kept", "k", `1`)
	if _, err := st.Checkpoint(ctx, "kept", "cp"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"emptied", "kept"} {
		if _, err := st.Delete(ctx, n, "k"); err != nil {
			t.Fatal(err)
		}
	}
	ns, err = st.Namespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a1b2c3d4", "alpha", "kept", "m.n-o_p", "zeta"}, ns); d != "" {
		t.Errorf("namespaces after deleting every key (-want +got):\n%s", d)
	}
	keys, err := st.Keys(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a", "a_c", "b", "k", "z"}, keys); d != "" {
		t.Errorf("keys (-want +got):\n%s", d)
	}
}

func testSchema(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	put(t, st, "ns", "a", `1`)
	if s, err := st.Schema(ctx, "ns"); err != nil || !s.IsZero() {
		t.Fatalf("schema of unversioned state: %v (err %v), want none", s, err)
	}
	v2 := runtime.SchemaRef{Name: "ADWState", Version: 2}
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "b", Value: json.RawMessage(`2`)}}, Schema: &v2}); err != nil {
		t.Fatal(err)
	}
	if s, err := st.Schema(ctx, "ns"); err != nil || !s.Equal(v2) {
		t.Fatalf("schema %v (err %v), want %v", s, err, v2)
	}
	// Writes without a schema keep the recorded one.
	put(t, st, "ns", "c", `3`)
	if s, _ := st.Schema(ctx, "ns"); !s.Equal(v2) {
		t.Fatalf("schema after a plain write: %v, want %v", s, v2)
	}
}
