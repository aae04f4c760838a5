package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

func testCheckpointRestore(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	v1 := runtime.SchemaRef{Name: "S", Version: 1}
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Schema: &v1, Puts: []runtime.KV{
		{Key: "phase", Value: json.RawMessage(`"plan"`)},
		{Key: "done", Value: json.RawMessage(`["plan"]`)},
	}}); err != nil {
		t.Fatal(err)
	}
	before := values(t, st, "ns")
	info, err := st.Checkpoint(ctx, "ns", "after_plan")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "after_plan" || info.Keys != 2 || !info.Schema.Equal(v1) || info.Created.IsZero() {
		t.Errorf("checkpoint info %+v: want name after_plan, 2 keys, schema %v, a creation time", info, v1)
	}

	// Change everything: a new key, a changed key, a deleted key, a new schema.
	v2 := runtime.SchemaRef{Name: "S", Version: 2}
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Schema: &v2,
		Puts:    []runtime.KV{{Key: "phase", Value: json.RawMessage(`"build"`)}, {Key: "branch", Value: json.RawMessage(`"feat"`)}},
		Deletes: []string{"done"},
	}); err != nil {
		t.Fatal(err)
	}
	revBefore, _ := st.Snapshot(ctx, "ns")
	rev, err := st.Restore(ctx, "ns", "after_plan")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, values(t, st, "ns")); d != "" {
		t.Errorf("restore is not exact (-checkpoint +restored):\n%s", d)
	}
	if s, _ := st.Schema(ctx, "ns"); !s.Equal(v1) {
		t.Errorf("restored schema %v, want %v", s, v1)
	}
	if rev <= revBefore.Revision {
		t.Errorf("restore revision %d does not follow %d: revisions must only grow", rev, revBefore.Revision)
	}
	// The checkpoint itself is unchanged by later writes.
	put(t, st, "ns", "phase", `"test"`)
	cp, err := st.GetCheckpoint(ctx, "ns", "after_plan")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffJSON(t, `"plan"`, cp.Values["phase"].Data); d != "" {
		t.Errorf("checkpoint changed by a later write:\n%s", d)
	}
	// Restore into a namespace that lost every key.
	if _, err := st.Delete(ctx, "ns", "phase", "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Restore(ctx, "ns", "after_plan"); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, values(t, st, "ns")); d != "" {
		t.Errorf("restore into emptied namespace (-want +got):\n%s", d)
	}
}

func testCheckpointList(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	put(t, st, "ns", "a", `1`)
	var names []string
	for _, n := range []string{"zz-first", "aa-second", ""} {
		info, err := st.Checkpoint(ctx, "ns", n)
		if err != nil {
			t.Fatal(err)
		}
		if n == "" {
			if info.Name == "" || runtime.ValidateName("checkpoint", info.Name) != nil {
				t.Fatalf("generated checkpoint name %q is not a valid name", info.Name)
			}
		}
		names = append(names, info.Name)
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	list, err := st.Checkpoints(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list {
		got = append(got, c.Name)
	}
	if d := cmp.Diff(names, got); d != "" {
		t.Errorf("checkpoints are not listed oldest first (-want +got):\n%s", d)
	}
	// Two generated names sort by time.
	time.Sleep(2 * time.Millisecond)
	second, err := st.Checkpoint(ctx, "ns", "")
	if err != nil {
		t.Fatal(err)
	}
	if !(names[2] < second.Name) {
		t.Errorf("generated names %q, %q do not sort by creation", names[2], second.Name)
	}
	// Replacing a checkpoint keeps one of that name, with the new content.
	put(t, st, "ns", "a", `2`)
	if _, err := st.Checkpoint(ctx, "ns", "aa-second"); err != nil {
		t.Fatal(err)
	}
	cp, err := st.GetCheckpoint(ctx, "ns", "aa-second")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffJSON(t, `2`, cp.Values["a"].Data); d != "" {
		t.Errorf("replaced checkpoint holds the old value:\n%s", d)
	}
	if err := st.DeleteCheckpoint(ctx, "ns", "zz-first"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetCheckpoint(ctx, "ns", "zz-first"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("deleted checkpoint: got %v, want ErrNotFound", err)
	}
	list, _ = st.Checkpoints(ctx, "ns")
	if len(list) != 3 {
		t.Errorf("after one delete %d checkpoints remain, want 3", len(list))
	}
	// Checkpoints are per namespace.
	put(t, st, "other", "a", `1`)
	if l, err := st.Checkpoints(ctx, "other"); err != nil || len(l) != 0 {
		t.Errorf("other namespace lists checkpoints %v (err %v), want none", l, err)
	}
}

func testPrune(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	put(t, st, "ns", "a", `1`)
	var names []string
	for _, n := range []string{"c1", "c2", "c3", "c4", "c5"} {
		if _, err := st.Checkpoint(ctx, "ns", n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
		time.Sleep(2 * time.Millisecond)
	}
	list := func() []string {
		l, err := st.Checkpoints(ctx, "ns")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range l {
			out = append(out, c.Name)
		}
		return out
	}
	infoNames := func(l []runtime.CheckpointInfo) []string {
		var out []string
		for _, c := range l {
			out = append(out, c.Name)
		}
		return out
	}
	dry, err := st.Prune(ctx, "ns", runtime.Retention{KeepLast: 2}, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"c1", "c2", "c3"}, infoNames(dry)); d != "" {
		t.Errorf("dry run would remove (-want +got):\n%s", d)
	}
	if d := cmp.Diff(names, list()); d != "" {
		t.Errorf("dry run removed checkpoints (-want +got):\n%s", d)
	}
	// Young checkpoints are kept by MaxAge even past KeepLast.
	if gone, err := st.Prune(ctx, "ns", runtime.Retention{KeepLast: 1, MaxAge: time.Hour}, false); err != nil || len(gone) != 0 {
		t.Errorf("prune with MaxAge 1h removed %v (err %v), want nothing", infoNames(gone), err)
	}
	gone, err := st.Prune(ctx, "ns", runtime.Retention{KeepLast: 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"c1", "c2", "c3"}, infoNames(gone)); d != "" {
		t.Errorf("prune removed (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"c4", "c5"}, list()); d != "" {
		t.Errorf("after prune (-want +got):\n%s", d)
	}
	gone, err = st.Prune(ctx, "ns", runtime.Retention{MaxAge: time.Nanosecond}, false)
	if err != nil || len(gone) != 2 || len(list()) != 0 {
		t.Errorf("prune by age removed %v (err %v), left %v; want all removed", infoNames(gone), err, list())
	}
	// The state itself is untouched by pruning.
	if d := cmp.Diff(map[string]any{"a": json.Number("1")}, values(t, st, "ns")); d != "" {
		t.Errorf("prune changed state:\n%s", d)
	}
}
