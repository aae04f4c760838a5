package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
)

// What "absent" means must be the same to every part of a backend: a
// namespace that Snapshot says is not found is one that a condition on
// revision 0 accepts and that Namespaces does not list (unless it keeps
// checkpoints). Were they to disagree, an update, which reads the snapshot
// and conditions its write on what it read, would conflict forever.

// absentAgrees checks that the three views of ns agree that it is absent;
// listed says whether it keeps checkpoints, and so is still listed.
func absentAgrees(t testing.TB, st *runtime.Store, ns string, listed bool) {
	t.Helper()
	ctx := context.Background()
	if snap, err := st.Snapshot(ctx, ns); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("snapshot of %s, whose keys were all deleted: %+v, %v; want ErrNotFound", ns, snap, err)
	}
	names, err := st.Namespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, ns) != listed {
		t.Errorf("namespaces %v: %s listed %v, want %v (it holds no key and no schema; checkpoints: %v)", names, ns, !listed, listed, listed)
	}
	// The condition Store.UpdateNamespace makes after that ErrNotFound.
	if _, err := st.Apply(ctx, ns, &runtime.Batch{Conds: []runtime.Cond{{}}, Puts: []runtime.KV{{Key: "probe", Value: json.RawMessage(`1`)}}}); err != nil {
		t.Fatalf("snapshot says %s does not exist, but a write on that condition fails: %v", ns, err)
	}
	if _, err := st.Delete(ctx, ns, "probe"); err != nil {
		t.Fatal(err)
	}
}

func testZeroSchema(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	v1 := runtime.SchemaRef{Name: "S", Version: 1}
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Schema: &v1, Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}}); err != nil {
		t.Fatal(err)
	}
	// A zero SchemaRef removes the recorded schema.
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Schema: &runtime.SchemaRef{}}); err != nil {
		t.Fatal(err)
	}
	if s, err := st.Schema(ctx, "ns"); err != nil || !s.IsZero() {
		t.Fatalf("schema after writing the zero one: %v (err %v), want none", s, err)
	}
	if _, err := st.Delete(ctx, "ns", "k"); err != nil {
		t.Fatal(err)
	}
	absentAgrees(t, st, "ns", false)

	// Written on a namespace that never had one, it records nothing either.
	if _, err := st.Apply(ctx, "fresh", &runtime.Batch{Schema: &runtime.SchemaRef{}, Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Delete(ctx, "fresh", "k"); err != nil {
		t.Fatal(err)
	}
	absentAgrees(t, st, "fresh", false)

	// A schema alone makes a namespace exist, for every view.
	if _, err := st.Apply(ctx, "schema-only", &runtime.Batch{Schema: &v1}); err != nil {
		t.Fatal(err)
	}
	snap, err := st.Snapshot(ctx, "schema-only")
	if err != nil || !snap.Schema.Equal(v1) {
		t.Fatalf("snapshot of a namespace holding only a schema: %+v, %v", snap, err)
	}
	if names, _ := st.Namespaces(ctx); !slices.Contains(names, "schema-only") {
		t.Errorf("namespaces %v do not list one holding only a schema", names)
	}
	if _, err := st.Apply(ctx, "schema-only", &runtime.Batch{Conds: []runtime.Cond{{Revision: snap.Revision}}}); err != nil {
		t.Errorf("condition on the revision its snapshot gave: %v", err)
	}
}

// countState is a state type for the updates below.
type countState struct{ N int }

var countSchema = &runtime.Schema[countState]{Name: "Counter", Version: 1, Fields: []runtime.Field[countState]{
	runtime.FieldOf(&runtime.Key[int]{Name: "n", Codec: runtime.IntCodec}, func(v *countState) *int { return &v.N }),
}}

// updateAll runs every kind of read-modify-write on ns once, each bounded
// by a deadline so that a livelock fails the test instead of hanging it,
// and reports the first failure.
func updateAll(st *runtime.Store, ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := st.UpdateNamespace(ctx, ns, func(*runtime.Snapshot) (*runtime.Batch, error) {
		return &runtime.Batch{Puts: []runtime.KV{{Key: "n", Value: json.RawMessage(`1`)}}}, nil
	}); err != nil {
		return fmt.Errorf("UpdateNamespace: %w", err)
	}
	if _, err := runtime.Update(ctx, st, ns, "n", intCodec, func(v int, _ bool) (int, error) { return v + 1, nil }); err != nil {
		return fmt.Errorf("update of one key: %w", err)
	}
	if _, err := st.Delete(ctx, ns, "n"); err != nil {
		return err
	}
	s, err := runtime.NewStateStore(st, ns, countSchema)
	if err != nil {
		return err
	}
	if _, err := s.Update(ctx, func(v *countState) error { v.N++; return nil }); err != nil {
		return fmt.Errorf("generated Update: %w", err)
	}
	return nil
}

// schemalessRound restores a checkpoint of state without a schema, and
// copies such state to another store, deletes every key and updates, as
// the CLI, Python and stategen migrate do: round names the namespaces.
func schemalessRound(t testing.TB, st, dst *runtime.Store, round int) error {
	ctx := context.Background()
	ns := fmt.Sprintf("restored-%d", round)
	put(t, st, ns, "k", `1`)
	if _, err := st.Checkpoint(ctx, ns, "plain"); err != nil {
		return err
	}
	v1 := runtime.SchemaRef{Name: "S", Version: 1}
	if _, err := st.Apply(ctx, ns, &runtime.Batch{Schema: &v1}); err != nil {
		return err
	}
	if _, err := st.Restore(ctx, ns, "plain"); err != nil {
		return err
	}
	if s, err := st.Schema(ctx, ns); err != nil || !s.IsZero() {
		return fmt.Errorf("schema after restoring a checkpoint without one: %v (err %v), want none", s, err)
	}
	if _, err := st.Delete(ctx, ns, "k"); err != nil {
		return err
	}
	absentAgrees(t, st, ns, true)
	if err := updateAll(st, ns); err != nil {
		return fmt.Errorf("after restoring a checkpoint without a schema and deleting every key: %w", err)
	}

	ns = fmt.Sprintf("copied-%d", round)
	put(t, st, ns, "k", `1`)
	if _, err := runtime.Copy(ctx, st, dst, ns, runtime.CopyOptions{}); err != nil {
		return err
	}
	if _, err := dst.Delete(ctx, ns, "k"); err != nil {
		return err
	}
	absentAgrees(t, dst, ns, false)
	if err := updateAll(dst, ns); err != nil {
		return fmt.Errorf("after copying state without a schema and deleting every key: %w", err)
	}
	return nil
}

func testSchemalessUpdate(t *testing.T, h Harness) {
	st, dst := open(t, h.NewURL(t)), open(t, h.NewURL(t))
	if err := schemalessRound(t, st, dst, 0); err != nil {
		t.Fatal(err)
	}
}

func testRequiredNull(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	schema := &runtime.Schema[countState]{Name: "Counter", Version: 1, Fields: []runtime.Field[countState]{
		runtime.FieldOf(&runtime.Key[int]{Name: "n", Required: true, Codec: runtime.IntCodec}, func(v *countState) *int { return &v.N }),
	}}
	s, err := runtime.NewStateStore(st, "ns", schema)
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, "ns", "other", `1`)
	if _, err := s.Load(ctx); !errors.Is(err, runtime.ErrMissing) {
		t.Fatalf("load without the required key: %v, want ErrMissing", err)
	}
	// Python writes null for a field it has no value for: no value either.
	put(t, st, "ns", "n", `null`)
	if _, err := s.Load(ctx); !errors.Is(err, runtime.ErrMissing) {
		t.Fatalf("load with null under the required key: %v, want ErrMissing", err)
	}
	put(t, st, "ns", "n", `0`)
	if v, err := s.Load(ctx); err != nil || v.N != 0 {
		t.Fatalf("load with 0 under the required key: %+v, %v", v, err)
	}
}
