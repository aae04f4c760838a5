package backendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	dry, err := st.Prunable(ctx, "ns", runtime.Retention{KeepLast: 2})
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
	if gone, err := st.Prune(ctx, "ns", runtime.Retention{KeepLast: 1, MaxAge: time.Hour}); err != nil || len(gone) != 0 {
		t.Errorf("prune with MaxAge 1h removed %v (err %v), want nothing", infoNames(gone), err)
	}
	gone, err := st.Prune(ctx, "ns", runtime.Retention{KeepLast: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"c1", "c2", "c3"}, infoNames(gone)); d != "" {
		t.Errorf("prune removed (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"c4", "c5"}, list()); d != "" {
		t.Errorf("after prune (-want +got):\n%s", d)
	}
	gone, err = st.Prune(ctx, "ns", runtime.Retention{MaxAge: time.Nanosecond})
	if err != nil || len(gone) != 2 || len(list()) != 0 {
		t.Errorf("prune by age removed %v (err %v), left %v; want all removed", infoNames(gone), err, list())
	}
	// The state itself is untouched by pruning.
	if d := cmp.Diff(map[string]any{"a": json.Number("1")}, values(t, st, "ns")); d != "" {
		t.Errorf("prune changed state:\n%s", d)
	}
}

// corruptAmongGood damages one checkpoint among good ones on a new store at
// url and checks that it hides none of them: the listing names it with its
// error and lists the rest, prune neither removes it nor counts it, and it
// is left as it was, to be deleted by hand. It returns the number of
// promises broken (each also reported through t).
func corruptAmongGood(t testing.TB, h Harness, url string) (violations int) {
	t.Helper()
	ctx := context.Background()
	fail := func(format string, args ...any) {
		t.Helper()
		violations++
		t.Errorf(format, args...)
	}
	st := open(t, url)
	put(t, st, "ns", "k", `1`)
	for _, n := range []string{"c1", "c2", "c3", "c4"} {
		if _, err := st.Checkpoint(ctx, "ns", n); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	raw := h.CorruptCheckpoint(t, url, "ns", "c2")
	damaged := raw()

	list, err := st.Checkpoints(ctx, "ns")
	if err != nil {
		fail("a corrupt checkpoint fails the listing: %v", err)
	}
	var good []string
	for _, cp := range list {
		switch {
		case cp.Name == "c2" && !errors.Is(cp.Err, runtime.ErrCorrupt):
			fail("corrupt checkpoint listed with error %v, want ErrCorrupt", cp.Err)
		case cp.Name == "c2" && (!cp.Created.IsZero() || cp.Keys != 0 || cp.Revision != 0):
			fail("corrupt checkpoint listed with %+v: only its name and error are known", cp)
		case cp.Name != "c2" && cp.Err != nil:
			fail("good checkpoint %s listed with error %v", cp.Name, cp.Err)
		case cp.Name != "c2":
			good = append(good, cp.Name)
		}
	}
	if d := cmp.Diff([]string{"c1", "c3", "c4"}, good); d != "" || len(list) != 4 {
		fail("listing with a corrupt checkpoint: %d entries, good ones (-want +got):\n%s", len(list), d)
	}
	if _, err := st.GetCheckpoint(ctx, "ns", "c2"); !errors.Is(err, runtime.ErrCorrupt) {
		fail("reading the corrupt checkpoint: %v, want ErrCorrupt", err)
	}
	if _, err := st.Restore(ctx, "ns", "c2"); !errors.Is(err, runtime.ErrCorrupt) {
		fail("restoring the corrupt checkpoint: %v, want ErrCorrupt", err)
	}
	if _, err := st.Restore(ctx, "ns", "c3"); err != nil {
		fail("restoring a good checkpoint beside a corrupt one: %v", err)
	}

	// Prune keeps the unreadable one, says so, and prunes the rest as if
	// it were not there: KeepLast 1 keeps c4 of c1, c3 and c4.
	names := func(l []runtime.CheckpointInfo) (out []string) {
		for _, cp := range l {
			out = append(out, cp.Name)
		}
		return out
	}
	for _, dry := range []bool{true, false} {
		prune := st.Prune
		if dry {
			prune = st.Prunable
		}
		gone, err := prune(ctx, "ns", runtime.Retention{KeepLast: 1})
		if !errors.Is(err, runtime.ErrCorrupt) || !strings.Contains(fmt.Sprint(err), "c2") {
			fail("prune (dry run %v) beside a corrupt checkpoint: %v; want an error naming c2, kept", dry, err)
		}
		if d := cmp.Diff([]string{"c1", "c3"}, names(gone)); d != "" {
			fail("prune (dry run %v) removed (-want +got):\n%s", dry, d)
		}
	}
	if !bytes.Equal(raw(), damaged) {
		fail("the corrupt checkpoint was changed: %q, was %q", raw(), damaged)
	}
	list, _ = st.Checkpoints(ctx, "ns")
	if d := cmp.Diff([]string{"c2", "c4"}, names(list)); d != "" {
		fail("after prune (-want +got):\n%s", d)
	}
	// It can be removed by hand.
	if err := st.DeleteCheckpoint(ctx, "ns", "c2"); err != nil {
		fail("deleting the corrupt checkpoint: %v", err)
	}
	if list, err := st.Checkpoints(ctx, "ns"); err != nil || len(list) != 1 || list[0].Err != nil {
		fail("after deleting the corrupt checkpoint: %+v, %v", list, err)
	}
	return violations
}

func testCorruptCheckpoint(t *testing.T, h Harness) {
	if h.CorruptCheckpoint == nil {
		t.Fatal("the harness has no CorruptCheckpoint: every backend must show that a corrupt checkpoint hides no good one")
	}
	corruptAmongGood(t, h, h.NewURL(t))
}
