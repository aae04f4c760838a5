package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

// testSchemaWhole: a schema's keys and secret keys are kept with the state
// and with its checkpoints, and come back whole from every read, so that a
// tool without the program's types knows what to redact.
func testSchemaWhole(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	ref := runtime.SchemaRef{Name: "ADWState", Version: 3, Keys: []string{"adw_id", "token", "plan"}, Secret: []string{"token"}}
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Schema: &ref, Puts: []runtime.KV{{Key: "token", Value: json.RawMessage(`"s3cr3t"`)}}}); err != nil {
		t.Fatal(err)
	}
	snap, err := st.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ref, snap.Schema); d != "" {
		t.Errorf("snapshot schema (-written +read):\n%s", d)
	}
	info, err := st.Checkpoint(ctx, "ns", "cp")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ref, info.Schema); d != "" {
		t.Errorf("checkpoint info schema (-written +returned):\n%s", d)
	}
	list, err := st.Checkpoints(ctx, "ns")
	if err != nil || len(list) != 1 {
		t.Fatalf("checkpoints %v, %v", list, err)
	}
	if d := cmp.Diff(ref, list[0].Schema); d != "" {
		t.Errorf("listed checkpoint schema (-written +listed):\n%s", d)
	}
	cp, err := st.GetCheckpoint(ctx, "ns", "cp")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ref, cp.Schema); d != "" {
		t.Errorf("checkpoint schema (-written +read):\n%s", d)
	}
	// A write with a schema of other keys replaces the record whole.
	other := runtime.SchemaRef{Name: "ADWState", Version: 3, Keys: []string{"adw_id"}}
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Schema: &other, Puts: []runtime.KV{{Key: "adw_id", Value: json.RawMessage(`"x"`)}}}); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Schema(ctx, "ns"); !s.Equal(other) {
		t.Errorf("schema after a write of another: %+v, want %+v", s, other)
	}
	if _, err := st.Restore(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Schema(ctx, "ns"); !s.Equal(ref) {
		t.Errorf("restored schema %+v, want %+v", s, ref)
	}
}

// testIfSchema: a batch conditioned on a schema applies when the
// namespace records none or that name and version, and is a conflict that
// changes nothing otherwise.
func testIfSchema(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	v1 := runtime.SchemaRef{Name: "S", Version: 1}
	v2 := runtime.SchemaRef{Name: "S", Version: 2, Keys: []string{"a"}}
	write := func(ns string, cond *runtime.SchemaRef, value string) error {
		_, err := st.Apply(ctx, ns, &runtime.Batch{IfSchema: cond, Schema: cond, Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(value)}}})
		return err
	}
	// No namespace, then a namespace without a schema: both pass.
	if err := write("fresh", &v2, `1`); err != nil {
		t.Fatalf("conditioned write to a new namespace: %v", err)
	}
	put(t, st, "plain", "a", `0`)
	if err := write("plain", &v2, `1`); err != nil {
		t.Fatalf("conditioned write to a namespace without a schema: %v", err)
	}
	// The same name and version pass, whatever the keys recorded.
	if err := write("fresh", &runtime.SchemaRef{Name: "S", Version: 2}, `2`); err != nil {
		t.Fatalf("conditioned write under the recorded version: %v", err)
	}
	// Another version, or another name, is a conflict that writes nothing.
	if _, err := st.Apply(ctx, "old", &runtime.Batch{Schema: &v1, Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(`0`)}}}); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Snapshot(ctx, "old")
	for _, cond := range []runtime.SchemaRef{v2, {Name: "T", Version: 1}} {
		err := write("old", &cond, `9`)
		if !errors.Is(err, runtime.ErrConflict) || !strings.Contains(err.Error(), "schema") {
			t.Errorf("write conditioned on %v to %v state: %v, want ErrConflict about the schema", cond, v1, err)
		}
	}
	after, _ := st.Snapshot(ctx, "old")
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("a refused conditioned write changed the namespace (-before +after):\n%s", d)
	}
	// A key condition and the schema condition together: both must hold.
	v, _ := st.Get(ctx, "fresh", "a")
	_, err := st.Apply(ctx, "fresh", &runtime.Batch{IfSchema: &v1, Conds: []runtime.Cond{{Key: "a", Revision: v.Revision}}, Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(`3`)}}})
	if !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("right key revision, wrong schema: %v, want ErrConflict", err)
	}
	// A batch that records one schema, conditioned on another: the
	// condition is judged on what is recorded, even when that is the
	// schema the batch writes.
	v3 := runtime.SchemaRef{Name: "S", Version: 3, Keys: []string{"a"}}
	if err := write("three", &v3, `1`); err != nil {
		t.Fatal(err)
	}
	_, err = st.Apply(ctx, "three", &runtime.Batch{IfSchema: &v2, Schema: &v3, Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(`2`)}}})
	if !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("write of %v conditioned on %v to %v state: %v, want ErrConflict", v3, v2, v3, err)
	}
}

// kindsState is version 2 of a two-field state: version 1 stored the
// issue under "issue" as a number; version 2 stores it as a string under
// "issue_number". Token is secret.
type kindsState struct {
	Issue string
	Token string
}

func kindsSchema() *runtime.Schema[kindsState] {
	issue := &runtime.Key[string]{Name: "issue_number", Codec: runtime.StringCodec}
	token := &runtime.Key[string]{Name: "token", Secret: true, Codec: runtime.StringCodec}
	return &runtime.Schema[kindsState]{Name: "Kinds", Version: 2,
		Fields: []runtime.Field[kindsState]{
			runtime.FieldOf(issue, func(v *kindsState) *string { return &v.Issue }),
			runtime.FieldOf(token, func(v *kindsState) *string { return &v.Token }),
		},
		Migrations: map[int]runtime.MigrationFunc{1: func(m *runtime.Migration) error {
			raw, ok := m.Get("issue")
			if !ok {
				return nil
			}
			if err := m.Delete("issue"); err != nil {
				return err
			}
			return m.Set("issue_number", json.RawMessage(`"`+string(raw)+`"`))
		}},
	}
}

// testFieldAccessMigrates: state stored by an older version, written only
// by per-field accessors, is migrated by a per-field read (with the
// pre-migrate checkpoint), and a per-field write to it migrates it first
// instead of stamping it with the newer version; per-field writes record
// the whole schema.
func testFieldAccessMigrates(t *testing.T, h Harness) {
	ctx := context.Background()
	for _, cache := range []runtime.Option{runtime.WithStrictCache(), runtime.WithoutCache()} {
		st := open(t, h.NewURL(t), cache)
		issue := &runtime.Key[string]{Name: "issue_number", Codec: runtime.StringCodec}
		token := &runtime.Key[string]{Name: "token", Secret: true, Codec: runtime.StringCodec}
		v1 := runtime.SchemaRef{Name: "Kinds", Version: 1}
		for _, ns := range []string{"read", "write"} {
			if _, err := st.Apply(ctx, ns, &runtime.Batch{Schema: &v1, Puts: []runtime.KV{{Key: "issue", Value: json.RawMessage(`42`)}}}); err != nil {
				t.Fatal(err)
			}
		}
		read, _ := runtime.NewStateStore(st, "read", kindsSchema())
		got, err := issue.Load(ctx, read)
		if err != nil || got != "42" {
			t.Fatalf("per-field load of version 1 state: %q, %v; want it migrated to \"42\"", got, err)
		}
		cps, _ := read.Checkpoints(ctx)
		if len(cps) != 1 || !strings.HasPrefix(cps[0].Name, "pre-migrate-v1-") {
			t.Errorf("checkpoints after a per-field migration: %+v, want one pre-migrate-v1-...", cps)
		}
		write, _ := runtime.NewStateStore(st, "write", kindsSchema())
		if err := token.Save(ctx, write, "s3cr3t"); err != nil {
			t.Fatal(err)
		}
		snap, err := st.Snapshot(ctx, "write")
		if err != nil {
			t.Fatal(err)
		}
		want := runtime.SchemaRef{Name: "Kinds", Version: 2, Keys: []string{"issue_number", "token"}, Secret: []string{"token"}}
		if !snap.Schema.Equal(want) || string(snap.Values["issue_number"].Data) != `"42"` || snap.Values["issue"].Data != nil {
			t.Errorf("per-field save to version 1 state: schema %+v, values %v; want it migrated, then written under %+v", snap.Schema, snap.Values, want)
		}
		if got, err := token.Update(ctx, write, func(s string) (string, error) { return s + "!", nil }); err != nil || got != "s3cr3t!" {
			t.Errorf("per-field update: %q, %v", got, err)
		}
		// Newer state is refused by every per-field access, and left alone.
		v3 := runtime.SchemaRef{Name: "Kinds", Version: 3}
		if _, err := st.Apply(ctx, "newer", &runtime.Batch{Schema: &v3, Puts: []runtime.KV{{Key: "token", Value: json.RawMessage(`"x"`)}}}); err != nil {
			t.Fatal(err)
		}
		newer, _ := runtime.NewStateStore(st, "newer", kindsSchema())
		before, _ := st.Snapshot(ctx, "newer")
		if _, err := token.Load(ctx, newer); !errors.Is(err, runtime.ErrSchemaTooNew) {
			t.Errorf("per-field load of newer state: %v, want ErrSchemaTooNew", err)
		}
		if err := token.Save(ctx, newer, "y"); !errors.Is(err, runtime.ErrSchemaTooNew) {
			t.Errorf("per-field save to newer state: %v, want ErrSchemaTooNew", err)
		}
		if err := token.Delete(ctx, newer); !errors.Is(err, runtime.ErrSchemaTooNew) {
			t.Errorf("per-field delete in newer state: %v, want ErrSchemaTooNew", err)
		}
		if _, err := token.Update(ctx, newer, func(s string) (string, error) { return s, nil }); !errors.Is(err, runtime.ErrSchemaTooNew) {
			t.Errorf("per-field update of newer state: %v, want ErrSchemaTooNew", err)
		}
		if after, _ := st.Snapshot(ctx, "newer"); !cmp.Equal(before, after) {
			t.Errorf("refused per-field writes changed newer state")
		}
	}
}

// testReadOnly: a store opened ReadOnly reads as any other and refuses
// every write with ErrReadOnly, changing nothing. Where the harness names
// a store that does not exist, opening it read-only fails with ErrNotFound
// ("no store at ...") and creates nothing.
func testReadOnly(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	rw := open(t, url)
	v1 := runtime.SchemaRef{Name: "S", Version: 1}
	if _, err := rw.Apply(ctx, "ns", &runtime.Batch{Schema: &v1, Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(`1`)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Checkpoint(ctx, "ns", "cp"); err != nil {
		t.Fatal(err)
	}
	ro := open(t, url, runtime.ReadOnly())
	if v, err := ro.Get(ctx, "ns", "a"); err != nil || string(v.Data) != "1" {
		t.Fatalf("read-only get: %s, %v", v.Data, err)
	}
	if ns, err := ro.Namespaces(ctx); err != nil || !cmp.Equal(ns, []string{"ns"}) {
		t.Fatalf("read-only namespaces: %v, %v", ns, err)
	}
	if _, err := ro.GetCheckpoint(ctx, "ns", "cp"); err != nil {
		t.Fatalf("read-only checkpoint read: %v", err)
	}
	before, _ := rw.Digest(ctx, "ns")
	writes := map[string]error{}
	_, writes["put"] = ro.Put(ctx, "ns", "a", json.RawMessage(`2`))
	_, writes["delete"] = ro.Delete(ctx, "ns", "a")
	_, writes["checkpoint"] = ro.Checkpoint(ctx, "ns", "cp2")
	_, writes["restore"] = ro.Restore(ctx, "ns", "cp")
	writes["delete checkpoint"] = ro.DeleteCheckpoint(ctx, "ns", "cp")
	writes["put checkpoint"] = ro.PutCheckpoint(ctx, "ns", &runtime.Checkpoint{CheckpointInfo: runtime.CheckpointInfo{Name: "cp3"}})
	for what, err := range writes {
		if !errors.Is(err, runtime.ErrReadOnly) {
			t.Errorf("read-only %s: %v, want ErrReadOnly", what, err)
		}
	}
	if after, _ := rw.Digest(ctx, "ns"); after != before {
		t.Errorf("refused writes changed the namespace")
	}
	// Older state read through a read-only store is migrated in memory.
	if _, err := rw.Apply(ctx, "old", &runtime.Batch{Schema: &runtime.SchemaRef{Name: "Kinds", Version: 1}, Puts: []runtime.KV{{Key: "issue", Value: json.RawMessage(`7`)}}}); err != nil {
		t.Fatal(err)
	}
	s, _ := runtime.NewStateStore(ro, "old", kindsSchema())
	if v, err := s.Load(ctx); err != nil || v.Issue != "7" {
		t.Errorf("read-only load of older state: %+v, %v; want it migrated in memory", v, err)
	}
	if snap, _ := rw.Snapshot(ctx, "old"); snap.Schema.Version != 1 {
		t.Errorf("a read-only load wrote the migration: schema %v", snap.Schema)
	}

	if h.MissingURL == nil {
		return
	}
	missing := h.MissingURL(t)
	var dir string
	var entries []string
	if h.Dir != nil {
		// The nearest directory that exists: nothing may appear under it.
		for dir = h.Dir(missing); ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(dir); err == nil || dir == filepath.Dir(dir) {
				break
			}
		}
		entries = tree(t, dir)
	}
	st, err := runtime.Open(ctx, missing, runtime.ReadOnly())
	if err == nil {
		st.Close()
		t.Fatalf("read-only open of %s, where there is no store, succeeded", missing)
	}
	if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "no store at") {
		t.Errorf("read-only open of a missing store: %v, want ErrNotFound saying \"no store at\"", err)
	}
	if h.Dir != nil {
		if got := tree(t, dir); !cmp.Equal(entries, got) {
			t.Errorf("read-only open of a missing store created files: %v, was %v", got, entries)
		}
	}
}

// testCopyCheckpointOnly: a namespace that holds only checkpoints (its
// keys were deleted) is copied, listed in the copy, and survives a second
// copy out of it.
func testCopyCheckpointOnly(t *testing.T, h Harness) {
	ctx := context.Background()
	src, mid, dst := open(t, h.NewURL(t)), open(t, h.NewURL(t)), open(t, h.NewURL(t))
	put(t, src, "only-cps", "k", `1`)
	if _, err := src.Checkpoint(ctx, "only-cps", "cp"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Delete(ctx, "only-cps", "k"); err != nil {
		t.Fatal(err)
	}
	want, err := src.Digest(ctx, "only-cps")
	if err != nil {
		t.Fatal(err)
	}
	for _, hop := range []struct{ from, to *runtime.Store }{{src, mid}, {mid, dst}} {
		names, err := hop.from.Namespaces(ctx)
		if err != nil || !cmp.Equal(names, []string{"only-cps"}) {
			t.Fatalf("namespaces of %s: %v, %v; want the checkpoint-only namespace listed", hop.from.Name(), names, err)
		}
		for _, ns := range names {
			if _, err := runtime.Copy(ctx, hop.from, hop.to, ns, runtime.CopyOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := hop.to.Digest(ctx, "only-cps")
		if err != nil || got != want {
			t.Fatalf("copy to %s: digest %+v, %v; want %+v", hop.to.Name(), got, err, want)
		}
	}
}
