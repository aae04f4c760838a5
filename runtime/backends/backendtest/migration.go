package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stategen/stategen/runtime"
)

// phaseState is version 2 of a small state type: version 1 stored each
// phase's result under "k<NN>"; version 2 renamed them to "phase_<NN>".
type phaseState struct{ Phases [crashKeys]string }

func phaseSchema() *runtime.Schema[phaseState] {
	s := &runtime.Schema[phaseState]{Name: "Phases", Version: 2, Migrations: map[int]runtime.MigrationFunc{1: migratePhasesV1}}
	for i := range crashKeys {
		k := &runtime.Key[string]{Name: fmt.Sprintf("phase_%02d", i), Codec: runtime.StringCodec}
		s.Fields = append(s.Fields, runtime.FieldOf(k, func(v *phaseState) *string { return &v.Phases[i] }))
	}
	return s
}

func migratePhasesV1(m *runtime.Migration) error {
	for i := range crashKeys {
		if err := m.Rename(fmt.Sprintf("k%02d", i), fmt.Sprintf("phase_%02d", i)); err != nil {
			return err
		}
	}
	return nil
}

// writeV1 stores version 1 state with every key set to value.
func writeV1(ctx context.Context, st *runtime.Store, ns, value string) error {
	v1 := runtime.SchemaRef{Name: "Phases", Version: 1}
	b := &runtime.Batch{Schema: &v1, Replace: true}
	for i := range crashKeys {
		b.Puts = append(b.Puts, runtime.KV{Key: fmt.Sprintf("k%02d", i), Value: json.RawMessage(`"` + value + `"`)})
	}
	_, err := st.Apply(ctx, ns, b)
	return err
}

func testSchemaMigration(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	if err := writeV1(ctx, st, "ns", "done"); err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewStateStore(st, "ns", phaseSchema())
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Load(ctx)
	if err != nil {
		t.Fatalf("v1 state read by v2 code: %v", err)
	}
	if v.Phases[0] != "done" || v.Phases[crashKeys-1] != "done" {
		t.Fatalf("migrated state %+v", v.Phases)
	}
	snap, err := st.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Schema.Version != 2 || len(snap.Values) != crashKeys || snap.Values["k00"].Data != nil {
		t.Fatalf("written back: %v with %d keys", snap.Schema, len(snap.Values))
	}
	cps, err := s.Checkpoints(ctx)
	if err != nil || len(cps) != 1 || cps[0].Schema.Version != 1 {
		t.Fatalf("the old state's checkpoint: %+v, %v", cps, err)
	}

	// A failing step names itself and changes nothing.
	if err := writeV1(ctx, st, "failing", "x"); err != nil {
		t.Fatal(err)
	}
	before := values(t, st, "failing")
	failing := phaseSchema()
	failing.Migrations = map[int]runtime.MigrationFunc{1: func(*runtime.Migration) error { return errors.New("no space left") }}
	fs, _ := runtime.NewStateStore(st, "failing", failing)
	if _, err := fs.Load(ctx); err == nil || !strings.Contains(err.Error(), "from version 1 to 2") || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("failing step: %v, want an error naming step 1 to 2 and its cause", err)
	}
	if snap, _ := st.Snapshot(ctx, "failing"); snap.Schema.Version != 1 || !jsonEqual(t, before, values(t, st, "failing")) {
		t.Fatalf("a failed migration changed the state")
	}

	// Newer state is refused and left exactly as it was.
	v3 := runtime.SchemaRef{Name: "Phases", Version: 3}
	if _, err := st.Apply(ctx, "newer", &runtime.Batch{Schema: &v3, Puts: []runtime.KV{{Key: "k00", Value: json.RawMessage(`"x"`)}}}); err != nil {
		t.Fatal(err)
	}
	before = values(t, st, "newer")
	newer, _ := runtime.NewStateStore(st, "newer", phaseSchema())
	if _, err := newer.Load(ctx); !errors.Is(err, runtime.ErrSchemaTooNew) {
		t.Fatalf("newer state: %v, want ErrSchemaTooNew", err)
	}
	if snap, _ := st.Snapshot(ctx, "newer"); !snap.Schema.Equal(v3) || !jsonEqual(t, before, values(t, st, "newer")) {
		t.Fatalf("refused newer state was changed: %v", snap.Schema)
	}
}

func jsonEqual(t testing.TB, a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// testMigrationAcrossKill kills a process that keeps writing version 1
// state and migrating it: the namespace is always wholly version 1 or
// wholly version 2, never a mix.
func testMigrationAcrossKill(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	st := open(t, url)
	for round := range 3 {
		killMidway(t, "migrate", url, "mig", round)

		snap, err := st.Snapshot(ctx, "mig")
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		prefix := map[int]string{1: "k", 2: "phase_"}[snap.Schema.Version]
		if prefix == "" || len(snap.Values) != crashKeys {
			t.Fatalf("round %d: schema %v with %d keys after kill -9", round, snap.Schema, len(snap.Values))
		}
		for k := range snap.Values {
			if !strings.HasPrefix(k, prefix) || (prefix == "k" && strings.HasPrefix(k, "phase_")) {
				t.Fatalf("round %d: key %s in %v state: a migration was cut", round, k, snap.Schema)
			}
		}
	}
}

// migrateLoop is the worker of testMigrationAcrossKill.
func migrateLoop(ctx context.Context, st *runtime.Store, ns string) error {
	s, err := runtime.NewStateStore(st, ns, phaseSchema())
	if err != nil {
		return err
	}
	for i := 1; ; i++ {
		if err := writeV1(ctx, st, ns, fmt.Sprint(i)); err != nil {
			return err
		}
		if _, err := s.Load(ctx); err != nil {
			return err
		}
		// Keep the checkpoints the migrations leave from piling up.
		if _, err := s.Prune(ctx, runtime.Retention{KeepLast: 2}); err != nil {
			return err
		}
		if i == 1 {
			fmt.Println("started")
		}
	}
}
