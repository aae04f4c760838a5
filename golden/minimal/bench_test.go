package minimal

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

// The generated accessors against the runtime calls a hand-written program
// would make for the same work, on the same store.

func benchStores(b *testing.B) (*runtime.Store, *MinimalStore) {
	st, err := runtime.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "s.db")+"?synchronous=normal", runtime.WithoutCache())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s, err := NewMinimalStore(st, "a1b2c3d4")
	if err != nil {
		b.Fatal(err)
	}
	return st, s
}

func BenchmarkSaveField(b *testing.B) {
	ctx := context.Background()
	b.Run("runtime", func(b *testing.B) {
		st, _ := benchStores(b)
		for b.Loop() {
			if err := runtime.Save(ctx, st, "a1b2c3d4", "phase", "build", runtime.StringCodec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generated", func(b *testing.B) {
		_, s := benchStores(b)
		for b.Loop() {
			if err := s.SavePhase(ctx, "build"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLoadStruct(b *testing.B) {
	ctx := context.Background()
	b.Run("runtime", func(b *testing.B) {
		st, s := benchStores(b)
		s.Save(ctx, &Minimal{Phase: "build"})
		for b.Loop() {
			snap, err := st.Snapshot(ctx, "a1b2c3d4")
			if err != nil {
				b.Fatal(err)
			}
			var m Minimal
			if m.Phase, err = runtime.StringCodec.Decode(snap.Values["phase"].Data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generated", func(b *testing.B) {
		_, s := benchStores(b)
		s.Save(ctx, &Minimal{Phase: "build"})
		for b.Loop() {
			if _, err := s.Load(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
