package all_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// phaseState is what BenchmarkFencedWrite writes: one field, as a
// generated per-field Save writes it.
type phaseState struct{ Phase string }

var phaseKey = &runtime.Key[string]{Name: "phase", Codec: runtime.StringCodec}

var phaseSchema = &runtime.Schema[phaseState]{Name: "Phase", Version: 1, Fields: []runtime.Field[phaseState]{
	runtime.FieldOf(phaseKey, func(v *phaseState) *string { return &v.Phase }),
}}

// BenchmarkFencedWrite measures a per-field save through a lease (one
// more condition in the same batch, on the lease's revision) against the
// same save without, on every backend: `make bench` prints fenced as a
// ratio of unfenced for each.
func BenchmarkFencedWrite(b *testing.B) {
	ctx := context.Background()
	backends := []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "state.db") }},
		{"json", func(b *testing.B) string { return "json:" + filepath.Join(b.TempDir(), "store") }},
		{"adw", func(b *testing.B) string { return "adw:" + filepath.Join(b.TempDir(), "agents") }},
		{"redis", func(b *testing.B) string { return redistest.Start(b).URL(b) }},
		{"postgres", func(b *testing.B) string { return pgtest.URL(b) }},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for _, fenced := range []bool{false, true} {
				name := "unfenced"
				if fenced {
					name = "fenced"
				}
				b.Run(name, func(b *testing.B) {
					st, err := runtime.Open(ctx, be.url(b), runtime.WithoutCache())
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { st.Close() })
					s, err := runtime.NewStateStore(st, "a1b2c3d4", phaseSchema)
					if err != nil {
						b.Fatal(err)
					}
					if fenced {
						l, err := st.Acquire(ctx, "a1b2c3d4", "bench", time.Hour)
						if err != nil {
							b.Fatal(err)
						}
						s = s.WithLease(l)
					}
					for i := 0; b.Loop(); i++ {
						if err := phaseKey.Save(ctx, s, fmt.Sprintf("phase-%d", i)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
