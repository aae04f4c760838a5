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

// BenchCheckpointList measures listing a namespace's 50 checkpoints, of 10
// keys each and then of 1000: `make bench` prints the second as a ratio of
// the first, which stays near 1 where listing reads the checkpoints'
// bookkeeping and not their values. newURL returns a new, empty store's
// URL.
func BenchCheckpointList(b *testing.B, newURL func(testing.TB) string) {
	ctx := context.Background()
	for _, keys := range []int{10, 1000} {
		b.Run(fmt.Sprintf("keys%d", keys), func(b *testing.B) {
			st, err := runtime.Open(ctx, newURL(b), runtime.WithoutCache())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			batch := &runtime.Batch{}
			for i := range keys {
				batch.Puts = append(batch.Puts, runtime.KV{Key: fmt.Sprintf("key%04d", i), Value: json.RawMessage(`{"status": "done", "note": "a value of some length, as workflow state has"}`)})
			}
			if _, err := st.Apply(ctx, "ns", batch); err != nil {
				b.Fatal(err)
			}
			for i := range 50 {
				if _, err := st.Checkpoint(ctx, "ns", fmt.Sprintf("cp%02d", i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				list, err := st.Checkpoints(ctx, "ns")
				if err != nil || len(list) != 50 {
					b.Fatalf("listed %d checkpoints, %v", len(list), err)
				}
			}
		})
	}
}
