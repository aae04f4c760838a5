package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stategen/stategen/internal/faultproxy"
	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// onRetry is a slog handler that calls fn each time a Store logs that it
// retries a write, before it sleeps and tries again: the moment between a
// lost reply and the retry, when another writer may commit.
type onRetry struct {
	mu sync.Mutex
	fn func()
}

func (h *onRetry) Enabled(context.Context, slog.Level) bool { return true }
func (h *onRetry) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "retrying") {
		return nil
	}
	h.mu.Lock()
	fn := h.fn
	h.fn = nil // once
	h.mu.Unlock()
	if fn != nil {
		fn()
	}
	return nil
}
func (h *onRetry) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *onRetry) WithGroup(string) slog.Handler      { return h }

func (h *onRetry) set(fn func()) {
	h.mu.Lock()
	h.fn = fn
	h.mu.Unlock()
}

var counterCodec = runtime.JSONCodec[int]()

// lossy is a Store whose connections go through a fault proxy, the hook
// that runs when it retries, and a Store on the same data that talks to
// Redis directly: the other writer.
type lossy struct {
	proxy   *faultproxy.Proxy
	st      *runtime.Store
	hook    *onRetry
	other   *runtime.Store
	applied string // the key of the namespace ns's applied batch IDs
}

func newLossy(t *testing.T) *lossy {
	t.Helper()
	srv := redistest.Start(t)
	proxy, raw := proxied(t, srv)
	hook := &onRetry{}
	st := openStore(t, raw, runtime.WithoutCache(), runtime.WithLogger(slog.New(hook)),
		runtime.WithRetry(runtime.RetryPolicy{Attempts: 5, Initial: time.Millisecond, Max: 10 * time.Millisecond}))
	prefix := prefixOf(t, raw)
	other := openStore(t, "redis://"+srv.Addr()+"/0?prefix="+prefix, runtime.WithoutCache())
	// Load the scripts: a lost NOSCRIPT reply would be a write that surely
	// did not land, which is not what these tests are about.
	if _, err := increment(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Delete(context.Background(), "ns", "n"); err != nil {
		t.Fatal(err)
	}
	return &lossy{proxy: proxy, st: st, hook: hook, other: other, applied: prefix + ":{ns}:applied"}
}

func increment(ctx context.Context, st *runtime.Store) (int, error) {
	return runtime.Update(ctx, st, "ns", "n", counterCodec, func(n int, _ bool) (int, error) { return n + 1, nil })
}

func count(t *testing.T, st *runtime.Store) int {
	t.Helper()
	n, err := runtime.Load(context.Background(), st, "ns", "n", counterCodec)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The campaign's double application: a conditional write lands, its reply
// is lost, another writer commits, and the retry must still find the first
// write rather than take the other writer's for a conflict and run fn
// again on state that already holds its first application.
func TestLostReplyThenOtherWriter(t *testing.T) {
	l := newLossy(t)
	proxy, st, hook, other := l.proxy, l.st, l.hook, l.other
	ctx := context.Background()
	for round := 1; round <= 5; round++ {
		calls := 0
		got, err := runtime.Update(ctx, st, "ns", "n", counterCodec, func(n int, _ bool) (int, error) {
			calls++
			if calls == 1 {
				proxy.Arm(faultproxy.LoseReply)
				hook.set(func() {
					if _, err := increment(ctx, other); err != nil {
						t.Error(err)
					}
				})
			}
			return n + 1, nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if calls != 1 {
			t.Errorf("round %d: fn ran %d times: the retry took the other writer's commit for a conflict", round, calls)
		}
		if want := 2*round - 1; got != want {
			t.Errorf("round %d: update returned %d, want %d", round, got, want)
		}
		if n := count(t, other); n != 2*round {
			t.Fatalf("round %d: counter %d after %d increments: one was applied twice", round, n, 2*round)
		}
	}
}

// When the retry cannot tell whether the lost write landed (the namespace
// forgot its ID: past the IDs it keeps, or expired), the answer is
// ErrUnknownOutcome, never a conflict that reruns fn.
func TestForgottenIDIsUnknownOutcome(t *testing.T) {
	for _, forget := range []string{"trimmed", "expired"} {
		t.Run(forget, func(t *testing.T) {
			l := newLossy(t)
			proxy, st, hook, other := l.proxy, l.st, l.hook, l.other
			admin := redistest.Start(t).Client(t)
			ctx := context.Background()
			others := 1
			if forget == "trimmed" {
				others = 600 // more conditional writes than the namespace remembers
			}
			calls := 0
			_, err := runtime.Update(ctx, st, "ns", "n", counterCodec, func(n int, _ bool) (int, error) {
				calls++
				proxy.Arm(faultproxy.LoseReply)
				hook.set(func() {
					if forget == "expired" {
						if n, err := admin.Del(ctx, l.applied).Result(); err != nil || n != 1 {
							t.Errorf("forgetting the applied IDs: %d deleted, %v", n, err)
						}
					}
					for range others {
						if _, err := increment(ctx, other); err != nil {
							t.Error(err)
						}
					}
				})
				return n + 1, nil
			})
			if !errors.Is(err, runtime.ErrUnknownOutcome) || errors.Is(err, runtime.ErrConflict) {
				t.Fatalf("update whose outcome cannot be known: %v; want ErrUnknownOutcome and not ErrConflict", err)
			}
			if calls != 1 {
				t.Errorf("fn ran %d times after a write that may have landed", calls)
			}
			if n := count(t, other); n != others+1 {
				t.Errorf("counter %d after %d increments: want %d, the lost one applied once", n, others+1, others+1)
			}
		})
	}
}

// A retry whose replies keep being lost runs out of attempts; the write
// may have landed (here it did, once), and the error says so.
func TestRetriesExhaustedIsUnknownOutcome(t *testing.T) {
	l := newLossy(t)
	proxy, st, other := l.proxy, l.st, l.other
	ctx := context.Background()
	_, err := runtime.Update(ctx, st, "ns", "n", counterCodec, func(n int, _ bool) (int, error) {
		proxy.SetConfig(faultproxy.Config{LoseReply: 1}) // every reply from now on
		return n + 1, nil
	})
	proxy.SetConfig(faultproxy.Config{})
	if !errors.Is(err, runtime.ErrUnknownOutcome) || errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("update whose replies were all lost: %v; want ErrUnknownOutcome", err)
	}
	if n := count(t, other); n != 1 {
		t.Errorf("counter %d: want 1, the write applied once however often it was retried", n)
	}
	// A write that surely never reached the server (the connection is
	// refused) is no unknown outcome.
	proxy.Close()
	_, err = st.Put(ctx, "ns", "k", json.RawMessage(`1`))
	if err == nil || errors.Is(err, runtime.ErrUnknownOutcome) {
		t.Errorf("put to a server that cannot be reached: %v; want an error that is not ErrUnknownOutcome", err)
	}
}

// On a first attempt nothing can have landed, so a failed condition is a
// plain conflict even when the namespace no longer remembers every ID; on
// a retry it is ErrUnknownOutcome.
func TestForgottenIDFirstAttemptIsConflict(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.URL(t)
	be := openBackend(t, raw, runtime.Config{})
	st := openStore(t, raw, runtime.WithoutCache())
	ctx := context.Background()
	for range 600 {
		if _, err := increment(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	stale := &runtime.Batch{ID: "stale-batch", Puts: []runtime.KV{{Key: "n", Value: json.RawMessage(`0`)}}, Conds: []runtime.Cond{{Key: "n", Revision: 1}}}
	if _, err := be.Apply(ctx, "ns", stale); !errors.Is(err, runtime.ErrConflict) || errors.Is(err, runtime.ErrUnknownOutcome) {
		t.Errorf("first attempt on a stale condition: %v, want ErrConflict only", err)
	}
	stale.Retry = true
	if _, err := be.Apply(ctx, "ns", stale); !errors.Is(err, runtime.ErrUnknownOutcome) || errors.Is(err, runtime.ErrConflict) {
		t.Errorf("retry on a condition older than the IDs remembered: %v, want ErrUnknownOutcome only", err)
	}
	// A retry whose condition is recent enough is judged by the IDs kept.
	snap, err := st.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	recent := &runtime.Batch{ID: "recent-batch", Retry: true, Puts: []runtime.KV{{Key: "n", Value: json.RawMessage(`0`)}}, Conds: []runtime.Cond{{Revision: snap.Revision - 1}}}
	if _, err := be.Apply(ctx, "ns", recent); !errors.Is(err, runtime.ErrConflict) || errors.Is(err, runtime.ErrUnknownOutcome) {
		t.Errorf("retry of an ID surely never applied: %v, want ErrConflict only", err)
	}
}

// A damaged namespace revision is reported as corrupt data by every write,
// which then writes nothing, rather than as a raw script error.
func TestCorruptRevision(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	raw := srv.URL(t)
	st := openStore(t, raw, runtime.WithoutCache())
	ctx := context.Background()
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	hash := prefixOf(t, raw) + ":{ns}:state"
	if err := admin.HSet(ctx, hash, "_rev", "seven").Err(); err != nil {
		t.Fatal(err)
	}
	before := admin.HGetAll(ctx, hash).Val()
	writes := map[string]func() error{
		"put": func() error { _, err := st.Put(ctx, "ns", "k", json.RawMessage(`2`)); return err },
		"batch": func() error {
			_, err := st.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "a", Value: json.RawMessage(`1`)}, {Key: "b", Value: json.RawMessage(`2`)}}})
			return err
		},
		"conditional": func() error {
			_, err := st.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`2`)}}, Conds: []runtime.Cond{{Key: "k", Revision: 1}}})
			return err
		},
	}
	for what, write := range writes {
		err := write()
		if !errors.Is(err, runtime.ErrCorrupt) || runtime.IsTransient(err) {
			t.Errorf("%s on a namespace whose revision is damaged: %v, want ErrCorrupt", what, err)
		}
	}
	if after := admin.HGetAll(ctx, hash).Val(); len(after) != len(before) || after["_rev"] != "seven" || after["v:k"] != "1" {
		t.Errorf("the damaged namespace was written: %v, was %v", after, before)
	}
	// So does a damaged key revision, for a write conditioned on it.
	if err := admin.HSet(ctx, hash, "_rev", "1", "r:k", "one").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := st.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`2`)}}, Conds: []runtime.Cond{{Key: "k", Revision: 1}}})
	if !errors.Is(err, runtime.ErrCorrupt) {
		t.Errorf("write conditioned on a damaged key revision: %v, want ErrCorrupt", err)
	}
}

// A namespace whose reads and conditions disagree (here a stray field in
// its hash, which a condition counts and a snapshot ignores) makes an
// update fail at once with ErrCorrupt instead of conflicting until its
// context ends.
func TestDisagreeingNamespaceSurfaces(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	raw := srv.URL(t)
	st := openStore(t, raw)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Delete(ctx, "ns", "k"); err != nil {
		t.Fatal(err)
	}
	if err := admin.HSet(ctx, prefixOf(t, raw)+":{ns}:state", "stray", "x").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := st.UpdateNamespace(ctx, "ns", func(*runtime.Snapshot) (*runtime.Batch, error) {
		return &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`2`)}}}, nil
	})
	if !errors.Is(err, runtime.ErrCorrupt) || errors.Is(err, runtime.ErrConflict) || ctx.Err() != nil {
		t.Fatalf("update of a namespace whose reads and conditions disagree: %v after %v; want ErrCorrupt before the context ends", err, time.Since(start))
	}
	if !strings.Contains(err.Error(), "disagree") {
		t.Errorf("error %q does not say what is wrong", err)
	}
}

// Open's first connection follows the retry policy like every later call:
// a connection dropped under it is tried again.
func TestOpenRetriesTransientErrors(t *testing.T) {
	srv := redistest.Start(t)
	proxy, raw := proxied(t, srv)
	var retries countWarnings
	for _, fault := range []faultproxy.Fault{faultproxy.DropRequest, faultproxy.LoseReply, faultproxy.CutReply} {
		proxy.Arm(fault)
		st, err := runtime.Open(context.Background(), raw, runtime.WithLogger(slogOf(&retries)),
			runtime.WithRetry(runtime.RetryPolicy{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond}))
		if err != nil {
			t.Fatalf("open through a connection that fails once (fault %d): %v", fault, err)
		}
		st.Close()
	}
	if n := retries.n.Load(); n != 3 {
		t.Errorf("%d retries logged, want 3", n)
	}
	// Without retries the same fault fails Open, saying it is transient.
	proxy.Arm(faultproxy.DropRequest)
	_, err := runtime.Open(context.Background(), raw, runtime.WithRetry(runtime.NoRetry))
	if err == nil || !runtime.IsTransient(err) {
		t.Errorf("open with no retry through a dropped connection: %v, want a transient error", err)
	}
}
