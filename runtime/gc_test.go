package runtime_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

// A run written again after GC found it expired, before GC drops it, is
// alive: GC keeps it and does not report it.
func TestGCKeepsARunWrittenAfterTheCheck(t *testing.T) {
	ctx := context.Background()
	st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "state.db"), runtime.WithTTL(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Put(ctx, "run", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	runtime.SetGCFoundExpired(func(ns string) {
		if _, err := st.Put(ctx, ns, "k", json.RawMessage(`2`)); err != nil {
			t.Error(err)
		}
	})
	defer runtime.SetGCFoundExpired(nil)
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
