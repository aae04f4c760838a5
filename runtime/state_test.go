package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

// runState is declared the way generated code declares a state type's keys
// and schema.
type runState struct {
	ID    string
	Phase string
	Done  []string
	Port  int
	Model string
}

var (
	keyID    = &runtime.Key[string]{Name: "id", Required: true, Codec: runtime.StringCodec}
	keyPhase = &runtime.Key[string]{Name: "phase", Codec: runtime.StringCodec}
	keyDone  = &runtime.Key[[]string]{Name: "done", Codec: runtime.JSONCodec[[]string]()}
	keyPort  = &runtime.Key[int]{Name: "port", Codec: runtime.IntCodec}
	keyModel = &runtime.Key[string]{Name: "model", Default: json.RawMessage(`"base"`), Codec: runtime.StringCodec}

	runSchema = &runtime.Schema[runState]{Name: "RunState", Version: 2, Fields: []runtime.Field[runState]{
		runtime.FieldOf(keyID, func(v *runState) *string { return &v.ID }),
		runtime.FieldOf(keyPhase, func(v *runState) *string { return &v.Phase }),
		runtime.FieldOf(keyDone, func(v *runState) *[]string { return &v.Done }),
		runtime.FieldOf(keyPort, func(v *runState) *int { return &v.Port }),
		runtime.FieldOf(keyModel, func(v *runState) *string { return &v.Model }),
	}}
)

func openState(t *testing.T) (*runtime.Store, *runtime.StateStore[runState]) {
	t.Helper()
	st, err := runtime.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := runtime.NewStateStore(st, "a1b2c3d4", runSchema)
	if err != nil {
		t.Fatal(err)
	}
	return st, s
}

func TestStateStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	st, s := openState(t)
	if _, err := s.Load(ctx); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("load of an empty namespace: %v, want ErrNotFound", err)
	}
	want := &runState{ID: "a1b2c3d4", Phase: "build", Done: []string{"plan"}, Port: 8080, Model: "heavy"}
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("round trip (-saved +loaded):\n%s", d)
	}
	// One key per field, as JSON, with the schema recorded.
	snap, _ := st.Snapshot(ctx, "a1b2c3d4")
	if string(snap.Values["done"].Data) != `["plan"]` || string(snap.Values["port"].Data) != "8080" || len(snap.Values) != 5 {
		t.Errorf("stored values %v", snap.Values)
	}
	if !snap.Schema.Equal(runtime.SchemaRef{Name: "RunState", Version: 2, Keys: []string{"id", "phase", "done", "port", "model"}}) {
		t.Errorf("stored schema %v", snap.Schema)
	}
	// Per-field accessors see the same state.
	if p, err := keyPort.Load(ctx, s); err != nil || p != 8080 {
		t.Errorf("field load %d, %v", p, err)
	}
}

func TestStateStoreDefaultsAndRequired(t *testing.T) {
	ctx := context.Background()
	st, s := openState(t)
	if _, err := keyPhase.Load(ctx, s); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("absent key without default: %v, want ErrNotFound", err)
	}
	if m, err := keyModel.Load(ctx, s); err != nil || m != "base" {
		t.Errorf("absent key with default: %q, %v; want base", m, err)
	}
	if err := keyPhase.Save(ctx, s, "plan"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(ctx)
	if !errors.Is(err, runtime.ErrMissing) || !strings.Contains(err.Error(), "id") {
		t.Fatalf("load without the required key: %v, want ErrMissing naming id", err)
	}
	// Update may be what sets the required key; absent keys start from
	// their defaults.
	got, err := s.Update(ctx, func(v *runState) error {
		if v.Model != "base" || v.Phase != "plan" {
			t.Errorf("update started from %+v, want phase plan and model base", v)
		}
		v.ID = "a1b2c3d4"
		return nil
	})
	if err != nil || got.ID != "a1b2c3d4" {
		t.Fatalf("update: %+v, %v", got, err)
	}
	if v, err := s.Load(ctx); err != nil || v.Model != "base" || v.ID != "a1b2c3d4" {
		t.Fatalf("after update: %+v, %v", v, err)
	}
	// A field update of an absent key starts from the default.
	other, err := runtime.NewStateStore(st, "other", runSchema)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := keyModel.Update(ctx, other, func(m string) (string, error) { return m + "+", nil }); err != nil || m != "base+" {
		t.Errorf("field update from default: %q, %v", m, err)
	}
	if err := keyModel.Delete(ctx, other); err != nil {
		t.Fatal(err)
	}
	if m, _ := keyModel.Load(ctx, other); m != "base" {
		t.Errorf("after delete the default is back: %q", m)
	}
}

func TestStateStoreSchemaChecks(t *testing.T) {
	ctx := context.Background()
	st, s := openState(t)
	write := func(ref runtime.SchemaRef) {
		t.Helper()
		if _, err := st.Apply(ctx, "a1b2c3d4", &runtime.Batch{Schema: &ref, Puts: []runtime.KV{{Key: "id", Value: json.RawMessage(`"x"`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	write(runtime.SchemaRef{Name: "OtherState", Version: 2})
	if _, err := s.Load(ctx); !errors.Is(err, runtime.ErrSchemaMismatch) || !strings.Contains(err.Error(), "OtherState") {
		t.Errorf("other schema: %v, want ErrSchemaMismatch naming it", err)
	}
	write(runtime.SchemaRef{Name: "RunState", Version: 3})
	if _, err := s.Load(ctx); !errors.Is(err, runtime.ErrSchemaTooNew) || !strings.Contains(err.Error(), "v3") {
		t.Errorf("newer version: %v, want ErrSchemaTooNew naming v3", err)
	}
	if _, err := s.Update(ctx, func(*runState) error { return nil }); !errors.Is(err, runtime.ErrSchemaTooNew) {
		t.Errorf("update of newer state: %v, want ErrSchemaTooNew", err)
	}
	if snap, _ := st.Snapshot(ctx, "a1b2c3d4"); snap.Schema.Version != 3 {
		t.Errorf("refused newer state was changed: %v", snap.Schema)
	}
	// State written without a schema (by hand, by Python) reads as current.
	if _, err := st.Put(ctx, "plain", "id", json.RawMessage(`"p"`)); err != nil {
		t.Fatal(err)
	}
	plain, _ := runtime.NewStateStore(st, "plain", runSchema)
	if v, err := plain.Load(ctx); err != nil || v.ID != "p" {
		t.Errorf("unversioned state: %+v, %v", v, err)
	}
	// A value of the wrong JSON kind is a type mismatch naming the key,
	// the stored kind and the Go type.
	st.Put(ctx, "plain", "port", json.RawMessage(`"eighty"`))
	_, err := plain.Load(ctx)
	if !errors.Is(err, runtime.ErrTypeMismatch) || errors.Is(err, runtime.ErrCorrupt) ||
		!strings.Contains(err.Error(), "key port holds a JSON string, but its field is a Go int, which holds a JSON number") {
		t.Errorf("wrong kind: %v, want ErrTypeMismatch naming port, string and int", err)
	}
	if _, err := runtime.NewStateStore(st, "../x", runSchema); !errors.Is(err, runtime.ErrInvalidName) {
		t.Errorf("bad namespace: %v", err)
	}
}

func TestStateStoreUpdateConcurrent(t *testing.T) {
	ctx := context.Background()
	_, s := openState(t)
	if err := s.Save(ctx, &runState{ID: "a1b2c3d4"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				if _, err := s.Update(ctx, func(v *runState) error { v.Port++; return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if v, _ := s.Load(ctx); v.Port != 100 {
		t.Fatalf("port %d after 100 concurrent whole-struct updates", v.Port)
	}
}

func TestStateStoreCheckpoints(t *testing.T) {
	ctx := context.Background()
	_, s := openState(t)
	s.Save(ctx, &runState{ID: "a1b2c3d4", Phase: "plan"})
	if _, err := s.Checkpoint(ctx, "after_plan"); err != nil {
		t.Fatal(err)
	}
	s.Save(ctx, &runState{ID: "a1b2c3d4", Phase: "build", Done: []string{"plan"}})
	if err := s.Restore(ctx, "after_plan"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Load(ctx); v.Phase != "plan" || v.Done != nil {
		t.Errorf("after restore %+v", v)
	}
	s.Checkpoint(ctx, "")
	list, err := s.Checkpoints(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "after_plan" {
		t.Fatalf("checkpoints %v, %v", list, err)
	}
	gone, err := s.Prune(ctx, runtime.Retention{KeepLast: 1})
	if err != nil || len(gone) != 1 || gone[0].Name != "after_plan" {
		t.Fatalf("prune removed %v, %v", gone, err)
	}
	if err := s.DeleteCheckpoint(ctx, "after_plan"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("delete of pruned checkpoint: %v", err)
	}
}

func TestSchemaRegistry(t *testing.T) {
	secret := &runtime.Schema[runState]{Name: "SecretState", Version: 1, Fields: []runtime.Field[runState]{
		runtime.FieldOf(keyID, func(v *runState) *string { return &v.ID }),
		runtime.FieldOf(&runtime.Key[string]{Name: "token", Secret: true, Codec: runtime.StringCodec}, func(v *runState) *string { return &v.Phase }),
	}}
	runtime.RegisterSchema(secret.Info())
	info, ok := runtime.LookupSchema("SecretState")
	if !ok {
		t.Fatal("registered schema not found")
	}
	want := runtime.SchemaInfo{Name: "SecretState", Version: 1, Keys: []string{"id", "token"}, Secret: []string{"token"}}
	if d := cmp.Diff(want, info); d != "" {
		t.Errorf("schema info (-want +got):\n%s", d)
	}
	if _, ok := runtime.LookupSchema("Nope"); ok {
		t.Error("unregistered schema found")
	}
}

// TestNotFoundMessages: a missing namespace, key or checkpoint is named as
// such, not by the operation that missed it ("snapshot x: not found").
func TestNotFoundMessages(t *testing.T) {
	ctx := context.Background()
	st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	_, snapErr := st.Snapshot(ctx, "nope")
	_, getErr := st.Get(ctx, "ns", "other")
	_, cpErr := st.GetCheckpoint(ctx, "ns", "cp")
	_, restoreErr := st.Restore(ctx, "ns", "cp")
	for err, want := range map[error]string{
		snapErr:    "stategen: namespace nope not found (sqlite:",
		getErr:     "stategen: key other in namespace ns not found (sqlite:",
		cpErr:      "stategen: checkpoint cp in namespace ns not found (sqlite:",
		restoreErr: "stategen: checkpoint cp in namespace ns not found (sqlite:",
	} {
		if !errors.Is(err, runtime.ErrNotFound) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%v: want ErrNotFound starting %q", err, want)
		}
	}
}

// TestSchemaDecode: values from elsewhere are checked as Load checks stored
// state, and a secret value never appears in the error.
func TestSchemaDecode(t *testing.T) {
	v, err := runSchema.Decode(map[string]json.RawMessage{"id": json.RawMessage(`"a1"`), "port": json.RawMessage(`8080`)})
	if err != nil || v.ID != "a1" || v.Port != 8080 || v.Model != "base" {
		t.Fatalf("decode: %+v, %v; want id a1, port 8080 and model's default", v, err)
	}
	for name, tc := range map[string]struct {
		values map[string]json.RawMessage
		want   error
	}{
		"missing required": {map[string]json.RawMessage{"port": json.RawMessage(`1`)}, runtime.ErrMissing},
		"null required":    {map[string]json.RawMessage{"id": json.RawMessage(`null`)}, runtime.ErrMissing},
		"empty required":   {map[string]json.RawMessage{"id": json.RawMessage(`""`)}, runtime.ErrMissing},
		"wrong type":       {map[string]json.RawMessage{"id": json.RawMessage(`"a1"`), "port": json.RawMessage(`"80"`)}, runtime.ErrTypeMismatch},
	} {
		if _, err := runSchema.Decode(tc.values); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	secret := &runtime.Schema[runState]{Name: "S", Version: 1, Fields: []runtime.Field[runState]{
		runtime.FieldOf(&runtime.Key[int]{Name: "pin", Secret: true, Codec: runtime.IntCodec}, func(v *runState) *int { return &v.Port }),
	}}
	_, err = secret.Decode(map[string]json.RawMessage{"pin": json.RawMessage(`"SECRET-7f3a"`)})
	if !errors.Is(err, runtime.ErrTypeMismatch) || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "key pin holds a JSON string") {
		t.Errorf("secret of the wrong type: %v, want a type mismatch that names the key and not the value", err)
	}
	_, err = secret.Decode(map[string]json.RawMessage{"pin": json.RawMessage(`1.5`)})
	if !errors.Is(err, runtime.ErrTypeMismatch) || strings.Contains(err.Error(), "1.5") {
		t.Errorf("secret number that does not fit: %v, want no value in the message", err)
	}
}

// TestRequiredOnWrites: what Load refuses, writes refuse first, naming the
// key; a required number or boolean is a value whatever it is.
func TestRequiredOnWrites(t *testing.T) {
	ctx := context.Background()
	st, s := openState(t)
	for name, err := range map[string]error{
		"save of an empty required key":       s.Save(ctx, &runState{}),
		"field save of an empty required key": keyID.Save(ctx, s, ""),
		"field delete of a required key":      keyID.Delete(ctx, s),
		"update that leaves it empty": func() error {
			_, err := s.Update(ctx, func(v *runState) error { return nil })
			return err
		}(),
		"field update that empties it": func() error {
			_, err := keyID.Update(ctx, s, func(string) (string, error) { return "", nil })
			return err
		}(),
	} {
		if !errors.Is(err, runtime.ErrMissing) || !strings.Contains(err.Error(), "id") {
			t.Errorf("%s: %v, want ErrMissing naming id", name, err)
		}
	}
	if _, err := st.Snapshot(ctx, "a1b2c3d4"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("refused writes wrote: %v", err)
	}
	// A stored null or empty value is no value for Load either.
	for _, stored := range []string{`null`, `""`} {
		if _, err := st.Put(ctx, "a1b2c3d4", "id", json.RawMessage(stored)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx); !errors.Is(err, runtime.ErrMissing) {
			t.Errorf("load of a stored %s required key: %v, want ErrMissing", stored, err)
		}
		if _, err := keyID.Load(ctx, s); !errors.Is(err, runtime.ErrMissing) {
			t.Errorf("field load of a stored %s required key: %v, want ErrMissing", stored, err)
		}
	}
	port := &runtime.Key[int]{Name: "port", Required: true, Codec: runtime.IntCodec}
	flag := &runtime.Key[bool]{Name: "flag", Required: true, Codec: runtime.BoolCodec}
	if err := port.Save(ctx, s, 0); err != nil {
		t.Errorf("required number 0: %v, want it stored", err)
	}
	if err := flag.Save(ctx, s, false); err != nil {
		t.Errorf("required boolean false: %v, want it stored", err)
	}
}
