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

func TestCopyBetweenBackends(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, err := runtime.Open(ctx, "sqlite:"+filepath.Join(dir, "src.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := runtime.Open(ctx, "json:"+filepath.Join(dir, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()

	v2 := runtime.SchemaRef{Name: "ADWState", Version: 2}
	src.Apply(ctx, "run1", &runtime.Batch{Schema: &v2, Puts: []runtime.KV{{Key: "phase", Value: json.RawMessage(`"plan"`)}, {Key: "tasks", Value: json.RawMessage(`[1, {"a": "b"}]`)}}})
	src.Checkpoint(ctx, "run1", "after_plan")
	time.Sleep(2 * time.Millisecond)
	src.Put(ctx, "run1", "phase", json.RawMessage(`"build"`))
	src.Checkpoint(ctx, "run1", "after_build")

	res, err := runtime.Copy(ctx, src, dst, "run1", false, true)
	if err != nil || !res.State || res.Checkpoints != 2 || res.Keys != 2 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if _, err := dst.Digest(ctx, "run1"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("the dry run wrote: %v", err)
	}
	res, err = runtime.Copy(ctx, src, dst, "run1", false, false)
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
	res, err = runtime.Copy(ctx, src, dst, "run1", false, false)
	if err != nil || res.State || res.Checkpoints != 0 || res.Skipped != 2 {
		t.Fatalf("second copy: %+v, %v", res, err)
	}
	// Interrupted after the state: the missing checkpoint alone is copied.
	dst.DeleteCheckpoint(ctx, "run1", "after_build")
	res, err = runtime.Copy(ctx, src, dst, "run1", false, false)
	if err != nil || res.State || res.Checkpoints != 1 || res.Skipped != 1 {
		t.Fatalf("resumed copy: %+v, %v", res, err)
	}
	// Different data at the destination is not overwritten unless asked.
	dst.Put(ctx, "run1", "phase", json.RawMessage(`"mine"`))
	before, _ := dst.Digest(ctx, "run1")
	if _, err := runtime.Copy(ctx, src, dst, "run1", false, false); !errors.Is(err, runtime.ErrDestinationDiffers) {
		t.Fatalf("copy over different data: %v, want ErrDestinationDiffers", err)
	}
	if after, _ := dst.Digest(ctx, "run1"); after != before {
		t.Fatal("a refused copy changed the destination")
	}
	if _, err := runtime.Copy(ctx, src, dst, "run1", true, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.Digest(ctx, "run1"); got != want {
		t.Fatalf("after --overwrite the digests differ")
	}
}
