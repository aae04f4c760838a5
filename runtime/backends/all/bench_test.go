package all_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/all"
)

// BenchmarkLarge measures a namespace of 100,000 keys written in one
// batch, checkpointed and restored, on each embedded backend, SQLite first
// so that `make bench` prints the file backends as ratios to it.
func BenchmarkLarge(b *testing.B) {
	const keys = 100_000
	ctx := context.Background()
	batch := &runtime.Batch{Puts: make([]runtime.KV, keys)}
	for i := range batch.Puts {
		batch.Puts[i] = runtime.KV{Key: fmt.Sprintf("key%06d", i), Value: json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"value %d"}`, i, i))}
	}
	stores := []struct{ name, url string }{
		{"sqlite", "sqlite:%s/state.db"},
		{"json", "json:%s"},
		{"adw", "adw:%s"},
	}
	open := func(b *testing.B, url string) *runtime.Store {
		st, err := runtime.Open(ctx, fmt.Sprintf(url, filepath.Join(b.TempDir(), "store")), runtime.WithoutCache())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	for _, op := range []string{"Apply", "Checkpoint", "Restore"} {
		b.Run(op, func(b *testing.B) {
			for _, s := range stores {
				b.Run(s.name, func(b *testing.B) {
					st := open(b, s.url)
					if _, err := st.Apply(ctx, "ns", batch); err != nil {
						b.Fatal(err)
					}
					if _, err := st.Checkpoint(ctx, "ns", "cp"); err != nil {
						b.Fatal(err)
					}
					for b.Loop() {
						var err error
						switch op {
						case "Apply":
							_, err = st.Apply(ctx, "ns", batch)
						case "Checkpoint":
							_, err = st.Checkpoint(ctx, "ns", "cp")
						case "Restore":
							_, err = st.Restore(ctx, "ns", "cp")
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
