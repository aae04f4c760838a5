package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/jsonfile"
)

// copyStores opens a SQLite source, with opts, and a JSON destination, in
// a temporary directory; both close when the test ends.
func copyStores(t *testing.T, opts ...runtime.Option) (src, dst *runtime.Store) {
	t.Helper()
	dir := t.TempDir()
	var err error
	if src, err = runtime.Open(context.Background(), "sqlite:"+filepath.Join(dir, "src.db"), opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	if dst, err = runtime.Open(context.Background(), "json:"+filepath.Join(dir, "dst")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dst.Close() })
	return src, dst
}

func TestCopyBetweenBackends(t *testing.T) {
	ctx := context.Background()
	src, dst := copyStores(t)

	v2 := runtime.SchemaRef{Name: "ADWState", Version: 2}
	src.Apply(ctx, "run1", &runtime.Batch{Schema: &v2, Puts: []runtime.KV{{Key: "phase", Value: json.RawMessage(`"plan"`)}, {Key: "tasks", Value: json.RawMessage(`[1, {"a": "b"}]`)}}})
	src.Checkpoint(ctx, "run1", "after_plan")
	time.Sleep(2 * time.Millisecond)
	src.Put(ctx, "run1", "phase", json.RawMessage(`"build"`))
	src.Checkpoint(ctx, "run1", "after_build")

	res, err := runtime.Copy(ctx, src, dst, "run1", runtime.CopyOptions{DryRun: true})
	if err != nil || !res.State || res.Checkpoints != 2 || res.Keys != 2 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if _, err := dst.Digest(ctx, "run1"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("the dry run wrote: %v", err)
	}
	res, err = runtime.Copy(ctx, src, dst, "run1", runtime.CopyOptions{})
	if err != nil || !res.State || res.Checkpoints != 2 {
		t.Fatalf("copy: %+v, %v", res, err)
	}
	want, _ := src.Digest(ctx, "run1")
	got, err := dst.Digest(ctx, "run1")
	if err != nil || got != want || got.Keys != 2 || got.Checkpoints != 2 {
		t.Fatalf("digests differ after the copy: src %+v, dst %+v (%v)", want, got, err)
	}
	if s, _ := dst.Schema(ctx, "run1"); !s.Equal(v2) {
		t.Errorf("schema %v, want %v", s, v2)
	}
	cps, _ := dst.Checkpoints(ctx, "run1")
	if len(cps) != 2 || cps[0].Name != "after_plan" || cps[1].Name != "after_build" {
		t.Errorf("checkpoints out of order: %+v", cps)
	}

	// Again: nothing to do.
	res, err = runtime.Copy(ctx, src, dst, "run1", runtime.CopyOptions{})
	if err != nil || res.State || res.Checkpoints != 0 || res.Skipped != 2 {
		t.Fatalf("second copy: %+v, %v", res, err)
	}
	// Interrupted after the state: the missing checkpoint alone is copied.
	dst.DeleteCheckpoint(ctx, "run1", "after_build")
	res, err = runtime.Copy(ctx, src, dst, "run1", runtime.CopyOptions{})
	if err != nil || res.State || res.Checkpoints != 1 || res.Skipped != 1 {
		t.Fatalf("resumed copy: %+v, %v", res, err)
	}
	// Different data at the destination is not overwritten unless asked.
	dst.Put(ctx, "run1", "phase", json.RawMessage(`"mine"`))
	before, _ := dst.Digest(ctx, "run1")
	if _, err := runtime.Copy(ctx, src, dst, "run1", runtime.CopyOptions{}); !errors.Is(err, runtime.ErrDestinationDiffers) {
		t.Fatalf("copy over different data: %v, want ErrDestinationDiffers", err)
	}
	if after, _ := dst.Digest(ctx, "run1"); after != before {
		t.Fatal("a refused copy changed the destination")
	}
	if _, err := runtime.Copy(ctx, src, dst, "run1", runtime.CopyOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.Digest(ctx, "run1"); got != want {
		t.Fatalf("after --overwrite the digests differ")
	}
}

// TestCopyCarriesRun: a copy keeps what describes the run besides its
// state (labels, lineage, TTL) and what describes its checkpoints (labels,
// lineage), not its lease; a label removed at the source is removed by the
// next copy; the digests cover all of it.
func TestCopyCarriesRun(t *testing.T) {
	ctx := context.Background()
	src, dst := copyStores(t, runtime.WithTTL(time.Hour))

	if _, err := src.Put(ctx, "run1", "phase", json.RawMessage(`"plan"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Checkpoint(ctx, "run1", "planned"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fork(ctx, "run1", "planned", "run2"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Label(ctx, "run2", map[string]string{"team": "infra", "issue": "42"}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Checkpoint(ctx, "run2", "forked", runtime.WithLabels(map[string]string{"step": "1"})); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Acquire(ctx, "run2", "worker-a", time.Minute); err != nil {
		t.Fatal(err)
	}

	if _, err := runtime.Copy(ctx, src, dst, "run2", runtime.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	run, err := dst.Run(ctx, "run2")
	want := &runtime.CheckpointRef{Namespace: "run1", Checkpoint: "planned"}
	if err != nil || run.Labels["team"] != "infra" || run.Labels["issue"] != "42" || run.TTL != time.Hour ||
		run.Parent == nil || *run.Parent != *want || run.Restored == nil || *run.Restored != *want {
		t.Errorf("copied run: %+v, %v", run, err)
	}
	if run.Lease != nil {
		t.Errorf("the source's lease was copied: %+v", run.Lease)
	}
	cp, err := dst.GetCheckpoint(ctx, "run2", "forked")
	if err != nil || cp.Labels["step"] != "1" || cp.Restored == nil || *cp.Restored != *want {
		t.Errorf("copied checkpoint: %+v, %v", cp, err)
	}
	sd, _ := src.Digest(ctx, "run2")
	dd, err := dst.Digest(ctx, "run2")
	if err != nil || sd != dd {
		t.Errorf("digests differ: src %+v, dst %+v (%v)", sd, dd, err)
	}

	// A label removed at the source: the digests differ until the next copy.
	if _, err := src.Label(ctx, "run2", map[string]string{"issue": ""}); err != nil {
		t.Fatal(err)
	}
	if sd, _ = src.Digest(ctx, "run2"); sd == dd {
		t.Error("the digest does not cover labels")
	}
	if _, err := runtime.Copy(ctx, src, dst, "run2", runtime.CopyOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if run, _ := dst.Run(ctx, "run2"); run.Labels["issue"] != "" || run.Labels["team"] != "infra" {
		t.Errorf("labels after the second copy: %v", run.Labels)
	}
	if dd, _ = dst.Digest(ctx, "run2"); sd != dd {
		t.Errorf("digests differ after the second copy")
	}
}

// A run at the destination that expired and was not collected yet reads
// as absent: Copy writes the source's run in its place, without
// --overwrite, where its leftovers made the write conflict.
func TestCopyOntoExpiredRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(url string, opts ...runtime.Option) *runtime.Store {
		st, err := runtime.Open(ctx, url, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	src := open("sqlite:" + filepath.Join(dir, "src.db"))
	dst := open("json:" + filepath.Join(dir, "dst"))
	short := open("json:"+filepath.Join(dir, "dst"), runtime.WithTTL(50*time.Millisecond))
	if _, err := short.Put(ctx, "run", "k", json.RawMessage(`"old"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Put(ctx, "run", "k", json.RawMessage(`"new"`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := runtime.Copy(ctx, src, dst, "run", runtime.CopyOptions{}); err != nil {
		t.Fatalf("copy onto an expired run: %v", err)
	}
	v, err := dst.Get(ctx, "run", "k")
	if err != nil || string(v.Data) != `"new"` {
		t.Fatalf("destination after the copy: %s, %v; want \"new\"", v.Data, err)
	}
}
