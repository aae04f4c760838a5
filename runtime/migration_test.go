package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

// Version 3 of a state type: v1 stored "issue" as a number, v2 renamed it
// to "issue_number" and made it a string, v3 added "model" with a default
// and dropped "legacy".
type v3State struct {
	IssueNumber string
	Model       string
}

var (
	keyIssueNumber = &runtime.Key[string]{Name: "issue_number", Codec: runtime.StringCodec}
	keyModelV3     = &runtime.Key[string]{Name: "model", Default: json.RawMessage(`"base"`), Codec: runtime.StringCodec}
)

func v3Schema(steps map[int]runtime.MigrationFunc) *runtime.Schema[v3State] {
	return &runtime.Schema[v3State]{Name: "Issue", Version: 3, Migrations: steps, Fields: []runtime.Field[v3State]{
		runtime.FieldOf(keyIssueNumber, func(v *v3State) *string { return &v.IssueNumber }),
		runtime.FieldOf(keyModelV3, func(v *v3State) *string { return &v.Model }),
	}}
}

var steps = map[int]runtime.MigrationFunc{
	1: func(m *runtime.Migration) error {
		raw, ok := m.Get("issue")
		if !ok {
			return nil
		}
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		if err := m.Delete("issue"); err != nil {
			return err
		}
		return m.Set("issue_number", strconv.Itoa(n))
	},
	2: func(m *runtime.Migration) error { return m.Delete("legacy") },
}

func openRaw(t *testing.T) *runtime.Store {
	t.Helper()
	st, err := runtime.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// writeV1 stores state as version 1 wrote it.
func writeV1(t *testing.T, st *runtime.Store, ns string) {
	t.Helper()
	v1 := runtime.SchemaRef{Name: "Issue", Version: 1}
	if _, err := st.Apply(context.Background(), ns, &runtime.Batch{Schema: &v1, Puts: []runtime.KV{
		{Key: "issue", Value: json.RawMessage(`42`)},
		{Key: "legacy", Value: json.RawMessage(`true`)},
	}}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrationChain(t *testing.T) {
	ctx := context.Background()
	st := openRaw(t)
	writeV1(t, st, "ns")
	s, _ := runtime.NewStateStore(st, "ns", v3Schema(steps))
	v, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&v3State{IssueNumber: "42", Model: "base"}, v); d != "" {
		t.Errorf("migrated state (-want +got):\n%s", d)
	}
	snap, _ := st.Snapshot(ctx, "ns")
	if snap.Schema.Version != 3 || len(snap.Values) != 1 || string(snap.Values["issue_number"].Data) != `"42"` {
		t.Errorf("written back: schema %v, values %v", snap.Schema, snap.Values)
	}
	// The old state was kept in a checkpoint, which restores as version 1
	// and loads migrated again.
	cps, _ := s.Checkpoints(ctx)
	if len(cps) != 1 || !strings.HasPrefix(cps[0].Name, "pre-migrate-v1-") || cps[0].Schema.Version != 1 {
		t.Fatalf("checkpoints after migration: %+v", cps)
	}
	if err := s.Restore(ctx, cps[0].Name); err != nil {
		t.Fatal(err)
	}
	if snap, _ := st.Snapshot(ctx, "ns"); snap.Schema.Version != 1 {
		t.Fatalf("restored checkpoint has schema %v, want v1", snap.Schema)
	}
	if v, err := s.Load(ctx); err != nil || v.IssueNumber != "42" {
		t.Fatalf("load after restoring the old checkpoint: %+v, %v", v, err)
	}
}

func TestMigrationFailureLeavesDataUntouched(t *testing.T) {
	ctx := context.Background()
	st := openRaw(t)
	writeV1(t, st, "ns")
	before, _ := st.Snapshot(ctx, "ns")
	failing := map[int]runtime.MigrationFunc{1: steps[1], 2: func(*runtime.Migration) error { return errors.New("disk on fire") }}
	s, _ := runtime.NewStateStore(st, "ns", v3Schema(failing))
	_, err := s.Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "from version 2 to 3") || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("failing step: %v, want an error naming step 2 to 3 and its cause", err)
	}
	after, _ := st.Snapshot(ctx, "ns")
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("a failed migration changed the data (-before +after):\n%s", d)
	}
	if cps, _ := s.Checkpoints(ctx); len(cps) != 0 {
		t.Errorf("a failed migration left checkpoints: %v", cps)
	}
	// A missing step is named too.
	s, _ = runtime.NewStateStore(st, "ns", v3Schema(map[int]runtime.MigrationFunc{1: steps[1]}))
	if _, err := s.Load(ctx); !errors.Is(err, runtime.ErrSchemaMismatch) || !strings.Contains(err.Error(), "no migration from version 2 to 3") {
		t.Fatalf("missing step: %v", err)
	}
	// Update refuses the same way, changing nothing.
	if _, err := s.Update(ctx, func(v *v3State) error { v.Model = "x"; return nil }); err == nil {
		t.Fatal("update over an unmigratable state succeeded")
	}
	if after, _ := st.Snapshot(ctx, "ns"); !cmp.Equal(before, after) {
		t.Error("a refused update changed the data")
	}
}

func TestMigrationOnUpdate(t *testing.T) {
	ctx := context.Background()
	st := openRaw(t)
	writeV1(t, st, "ns")
	s, _ := runtime.NewStateStore(st, "ns", v3Schema(steps))
	v, err := s.Update(ctx, func(v *v3State) error { v.Model = "heavy"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if v.IssueNumber != "42" || v.Model != "heavy" {
		t.Fatalf("update of v1 state: %+v", v)
	}
	if snap, _ := st.Snapshot(ctx, "ns"); snap.Schema.Version != 3 || snap.Values["issue"].Data != nil {
		t.Fatalf("after update: %v %v", snap.Schema, snap.Values)
	}
}

func TestMigrationHelpers(t *testing.T) {
	ctx := context.Background()
	st := openRaw(t)
	v1 := runtime.SchemaRef{Name: "Issue", Version: 2}
	st.Apply(ctx, "ns", &runtime.Batch{Schema: &v1, Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(`"1"`)}, {Key: "b", Value: json.RawMessage(`2`)}}})
	var seen []string
	s, _ := runtime.NewStateStore(st, "ns", v3Schema(map[int]runtime.MigrationFunc{2: func(m *runtime.Migration) error {
		seen = m.Keys()
		if err := m.Rename("absent", "c"); err != nil {
			return err
		}
		if err := m.Rename("a", "b"); err == nil || !strings.Contains(err.Error(), "already holds") {
			return errors.New("rename onto an existing key was allowed")
		}
		if err := m.Set("bad", json.RawMessage(`{oops`)); !errors.Is(err, runtime.ErrInvalidValue) {
			return errors.New("invalid raw JSON was accepted")
		}
		if err := m.Set("../x", 1); !errors.Is(err, runtime.ErrInvalidName) {
			return errors.New("a bad key was accepted")
		}
		if err := m.Rename("a", "issue_number"); err != nil {
			return err
		}
		return m.Delete("b")
	}}))
	v, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(seen, []string{"a", "b"}) || v.IssueNumber != "1" {
		t.Errorf("keys seen %v; state %+v", seen, v)
	}
	snap, _ := st.Snapshot(ctx, "ns")
	if string(snap.Values["issue_number"].Data) != `"1"` || len(snap.Values) != 1 {
		t.Errorf("after helpers: %v", snap.Values)
	}
}
