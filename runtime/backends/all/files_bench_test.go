package all_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stategen/stategen/internal/benchstate"
	"github.com/stategen/stategen/runtime"
)

// BenchmarkFileLoad: a whole-struct load of the 12-field state from the
// file backends, uncached, against reading the data file and decoding it
// with encoding/json as a hand-written program would (target: within
// 2.5x).
func BenchmarkFileLoad(b *testing.B) {
	ctx := context.Background()
	for _, layout := range []struct{ scheme, file string }{{"json", "state.json"}, {"adw", "adw_state.json"}} {
		b.Run(layout.scheme, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "store")
			st, err := runtime.Open(ctx, layout.scheme+":"+dir, runtime.WithoutCache())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			s, err := runtime.NewStateStore(st, "a1b2c3d4", benchstate.Schema)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Save(ctx, benchstate.Sample(1)); err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(dir, "a1b2c3d4", layout.file)
			b.Run("raw", func(b *testing.B) {
				for b.Loop() {
					data, err := os.ReadFile(path)
					if err != nil {
						b.Fatal(err)
					}
					var doc map[string]json.RawMessage
					if err := json.Unmarshal(data, &doc); err != nil {
						b.Fatal(err)
					}
					if _, err := benchstate.Decode(func(k string) ([]byte, bool) {
						v, ok := doc[k]
						if ok && layout.scheme == "json" { // {"value": V, "timestamp": T}
							var e struct{ Value json.RawMessage }
							if err := json.Unmarshal(v, &e); err != nil {
								b.Fatal(err)
							}
							v = e.Value
						}
						return v, ok
					}); err != nil {
						b.Fatal(fmt.Errorf("%s: %w", path, err))
					}
				}
			})
			b.Run("stategen", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Load(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
