package backendtest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stategen/stategen/runtime"
)

// BenchRunsByLabel measures the first page (10 runs) of Runs filtered by a
// label that one run in ten carries, in a store of 100 runs and in one of
// 10,000: `make bench` prints the second as a ratio of the first, which
// stays near 1 where the backend indexes labels. newURL returns a new,
// empty store's URL.
func BenchRunsByLabel(b *testing.B, newURL func(testing.TB) string) {
	ctx := context.Background()
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("runs%d", n), func(b *testing.B) {
			st, err := runtime.Open(ctx, newURL(b), runtime.WithoutCache())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			for i := range n {
				ns := fmt.Sprintf("run%06d", i)
				if _, err := st.Put(ctx, ns, "phase", json.RawMessage(`"build"`)); err != nil {
					b.Fatal(err)
				}
				team := "blue"
				if i%10 == 0 {
					team = "red"
				}
				if _, err := st.Label(ctx, ns, map[string]string{"team": team}); err != nil {
					b.Fatal(err)
				}
			}
			q := runtime.RunQuery{Labels: map[string]string{"team": "red"}, Limit: 10}
			b.ResetTimer()
			for b.Loop() {
				page, err := st.Runs(ctx, q)
				if err != nil || len(page.Runs) != 10 {
					b.Fatalf("page of %d runs, %v", len(page.Runs), err)
				}
			}
		})
	}
}
