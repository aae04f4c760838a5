package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

var stringCodec = runtime.JSONCodec[string]()

func load(t testing.TB, st *runtime.Store, ns, key string) string {
	t.Helper()
	v, err := runtime.Load(context.Background(), st, ns, key, stringCodec)
	if err != nil {
		t.Fatalf("load %s/%s: %v", ns, key, err)
	}
	return v
}

func testCacheCoherence(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	reader := open(t, url) // strict, the default
	writer := open(t, url)
	put(t, writer, "ns", "k", `"one"`)
	if got := load(t, reader, "ns", "k"); got != "one" {
		t.Fatalf("first load %q, want one", got)
	}
	if got := load(t, reader, "ns", "k"); got != "one" { // served from the cache where the backend can validate
		t.Fatalf("second load %q, want one", got)
	}
	put(t, writer, "ns", "k", `"two"`)
	if got := load(t, reader, "ns", "k"); got != "two" {
		t.Fatalf("strict cache returned %q after another Store wrote two", got)
	}
	if err := runWorker(ctx, "put", url, "ns", "k", `"three"`); err != nil {
		t.Fatal(err)
	}
	if got := load(t, reader, "ns", "k"); got != "three" {
		t.Fatalf("strict cache returned %q after another process wrote three", got)
	}

	// Relaxed: trusted for its TTL, so a foreign write is not seen yet, but
	// the Store's own writes are.
	relaxed := open(t, url, runtime.WithRelaxedCache(time.Hour))
	if got := load(t, relaxed, "ns", "k"); got != "three" {
		t.Fatalf("relaxed first load %q", got)
	}
	put(t, writer, "ns", "k", `"four"`)
	if got := load(t, relaxed, "ns", "k"); got != "three" {
		t.Fatalf("relaxed cache within its TTL returned %q: it did not cache", got)
	}
	if err := runtime.Save(ctx, relaxed, "ns", "k", "five", stringCodec); err != nil {
		t.Fatal(err)
	}
	if got := load(t, relaxed, "ns", "k"); got != "five" {
		t.Fatalf("relaxed cache returned %q after its own write of five", got)
	}
	short := open(t, url, runtime.WithRelaxedCache(time.Millisecond))
	load(t, short, "ns", "k")
	put(t, writer, "ns", "k", `"six"`)
	time.Sleep(5 * time.Millisecond)
	if got := load(t, short, "ns", "k"); got != "six" {
		t.Fatalf("relaxed cache past its TTL returned %q, want six", got)
	}
	// Off: every read goes through.
	off := open(t, url, runtime.WithoutCache())
	load(t, off, "ns", "k")
	put(t, writer, "ns", "k", `"seven"`)
	if got := load(t, off, "ns", "k"); got != "seven" {
		t.Fatalf("uncached load %q, want seven", got)
	}
}

func testCacheNoAliasing(t *testing.T, h Harness) {
	ctx := context.Background()
	for name, opt := range map[string]runtime.Option{"strict": runtime.WithStrictCache(), "relaxed": runtime.WithRelaxedCache(time.Hour)} {
		st := open(t, h.NewURL(t), opt)
		codec := runtime.JSONCodec[map[string][]string]()
		if err := runtime.Save(ctx, st, "ns", "m", map[string][]string{"a": {"x"}}, codec); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second load is the cached one
			v, err := runtime.Load(ctx, st, "ns", "m", codec)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(map[string][]string{"a": {"x"}}, v); d != "" {
				t.Fatalf("%s: load (-want +got):\n%s", name, d)
			}
			v["a"][0] = "mutated"
			v["b"] = nil
		}
	}
}

// countRetries is a slog handler counting the Store's retry warnings.
type countRetries struct{ n atomic.Int64 }

func (c *countRetries) Enabled(context.Context, slog.Level) bool { return true }
func (c *countRetries) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && strings.Contains(r.Message, "retrying") {
		c.n.Add(1)
	}
	return nil
}
func (c *countRetries) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countRetries) WithGroup(string) slog.Handler      { return c }

func testFinalErrorsNotRetried(t *testing.T, h Harness) {
	ctx := context.Background()
	var retries countRetries
	st := open(t, h.NewURL(t), runtime.WithLogger(slog.New(&retries)),
		runtime.WithRetry(runtime.RetryPolicy{Attempts: 5, Initial: 50 * time.Millisecond, Max: time.Second}))
	put(t, st, "ns", "k", `1`)
	errs := map[string]error{}
	start := time.Now()
	_, errs["not found"] = st.Get(ctx, "ns", "absent")
	_, errs["conflict"] = st.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`2`)}}, Conds: []runtime.Cond{{Key: "k", Revision: 999}}})
	_, errs["bad name"] = st.Put(ctx, "../ns", "k", json.RawMessage(`1`))
	want := map[string]error{"not found": runtime.ErrNotFound, "conflict": runtime.ErrConflict, "bad name": runtime.ErrInvalidName}
	for what, err := range errs {
		if !errors.Is(err, want[what]) {
			t.Errorf("%s: got %v, want %v", what, err, want[what])
		}
		if runtime.IsTransient(err) {
			t.Errorf("%s: error %v is marked transient", what, err)
		}
	}
	if n := retries.n.Load(); n != 0 {
		t.Errorf("final errors were retried %d times (in %v)", n, time.Since(start))
	}
}

// relaxedSaveRace has two goroutines save one key at once through one
// Store with a relaxed cache, trials times, and counts the trials after
// which the cache holds other than the value that landed (as a Store
// without a cache reads it): writes complete in an order of their own, and
// a cache ordered by completion keeps the older one.
func relaxedSaveRace(t testing.TB, url string, trials int) (violations int) {
	ctx := context.Background()
	st := open(t, url, runtime.WithRelaxedCache(time.Hour))
	check := open(t, url, runtime.WithoutCache())
	for trial := range trials {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, v := range []string{"a", "b"} {
			wg.Go(func() {
				<-start
				if err := runtime.Save(ctx, st, "ns", "k", fmt.Sprintf("%s%d", v, trial), stringCodec); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		if landed, cached := load(t, check, "ns", "k"), load(t, st, "ns", "k"); cached != landed {
			violations++
			t.Errorf("trial %d: the relaxed cache holds %q, but %q landed last", trial, cached, landed)
		}
	}
	return violations
}

func testRelaxedCacheConcurrentSaves(t *testing.T, h Harness) {
	relaxedSaveRace(t, h.NewURL(t), 100)
}
