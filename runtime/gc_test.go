package runtime_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/sqlite"
)

// racingBackend writes to a run just before dropping it: what a workflow
// resuming while GC runs does between GC's check and its drop.
type racingBackend struct{ *sqlite.Backend }

func (b racingBackend) Drop(ctx context.Context, ns string, ifRevision int64) error {
	if _, err := b.Apply(ctx, ns, &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`2`)}}}); err != nil {
		return err
	}
	return b.Backend.Drop(ctx, ns, ifRevision)
}

// A run written again after GC found it expired, before GC drops it, is
// alive: GC keeps it and does not report it.
func TestGCKeepsARunWrittenAfterTheCheck(t *testing.T) {
	ctx := context.Background()
	be, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := runtime.New(racingBackend{be}, "racing", runtime.WithTTL(50*time.Millisecond))
	defer st.Close()
	if _, err := st.Put(ctx, "run", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	gone, err := st.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 0 {
		t.Errorf("GC reports %+v dropped, want none", gone)
	}
	v, err := st.Get(ctx, "run", "k")
	if err != nil || string(v.Data) != "2" {
		t.Fatalf("the run written after GC's check: %s, %v; want k = 2", v.Data, err)
	}
}
