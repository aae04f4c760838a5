package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stategen/stategen/internal/faultproxy"
	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/postgres"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
)

// onRetry is a slog handler that calls fn once, the first time a Store
// logs that it retries: the moment between a lost reply and the retry,
// when another writer may commit.
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
	h.fn = nil
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

var counter = runtime.JSONCodec[int]()

// lossy is a Store whose connections go through a fault proxy, its retry
// hook, and a Store on the same tables that talks to the server directly.
type lossy struct {
	proxy  *faultproxy.Proxy
	st     *runtime.Store
	hook   *onRetry
	other  *runtime.Store
	schema string
}

func newLossy(t *testing.T) *lossy {
	t.Helper()
	raw := pgtest.URL(t)
	u := mustParse(t, raw)
	proxy, err := faultproxy.Start(u.Host, faultproxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	other := openStore(t, raw, runtime.WithoutCache())
	pu := *u
	pu.Host = proxy.Addr()
	hook := &onRetry{}
	st := openStore(t, pu.String(), runtime.WithoutCache(), runtime.WithLogger(slog.New(hook)),
		runtime.WithRetry(runtime.RetryPolicy{Attempts: 5, Initial: time.Millisecond, Max: 10 * time.Millisecond}))
	// Prepare the statements on the proxied connection: a lost reply to a
	// Parse is a write that surely did not land, not what these tests are
	// about.
	ctx := context.Background()
	if _, err := increment(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Delete(ctx, "ns", "n"); err != nil {
		t.Fatal(err)
	}
	return &lossy{proxy: proxy, st: st, hook: hook, other: other, schema: schemaOf(t, raw)}
}

func increment(ctx context.Context, st *runtime.Store) (int, error) {
	return runtime.Update(ctx, st, "ns", "n", counter, func(n int, _ bool) (int, error) { return n + 1, nil })
}

func count(t *testing.T, st *runtime.Store) int {
	t.Helper()
	n, err := runtime.Load(context.Background(), st, "ns", "n", counter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A conditional write lands, its reply is lost, another writer commits,
// and the retry must find the first write by its ID rather than take the
// other writer's for a conflict and run fn again.
func TestLostReplyThenOtherWriter(t *testing.T) {
	l := newLossy(t)
	ctx := context.Background()
	for round := 1; round <= 5; round++ {
		calls := 0
		got, err := runtime.Update(ctx, l.st, "ns", "n", counter, func(n int, _ bool) (int, error) {
			calls++
			if calls == 1 {
				l.proxy.Arm(faultproxy.LoseReply)
				l.hook.set(func() {
					if _, err := increment(ctx, l.other); err != nil {
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
		if n := count(t, l.other); n != 2*round {
			t.Fatalf("round %d: counter %d after %d increments: one was applied twice", round, n, 2*round)
		}
	}
	if l.proxy.Stats().Lost < 5 {
		t.Errorf("the proxy lost %d replies, want 5", l.proxy.Stats().Lost)
	}
}

// When the retry cannot tell whether the lost write landed (the namespace
// forgot its ID: past the revisions it keeps, or expired), the answer is
// ErrUnknownOutcome, never a conflict that reruns fn.
func TestForgottenIDIsUnknownOutcome(t *testing.T) {
	for _, forget := range []string{"trimmed", "expired"} {
		t.Run(forget, func(t *testing.T) {
			l := newLossy(t)
			admin := pgtest.Pool(t)
			ctx := context.Background()
			others := 1
			if forget == "trimmed" {
				others = 600 // more conditional writes than the namespace remembers
			}
			calls := 0
			_, err := runtime.Update(ctx, l.st, "ns", "n", counter, func(n int, _ bool) (int, error) {
				calls++
				l.proxy.Arm(faultproxy.LoseReply)
				l.hook.set(func() {
					if forget == "expired" {
						// What the writes after 10 minutes would do: forget
						// every ID and raise ids_from past them.
						s := pgx.Identifier{l.schema}.Sanitize()
						if _, err := admin.Exec(ctx, `WITH gone AS (DELETE FROM `+s+`.applied WHERE ns = 'ns' RETURNING revision)
							UPDATE `+s+`.namespaces SET ids_from = (SELECT max(revision) FROM gone) WHERE ns = 'ns'`); err != nil {
							t.Error(err)
						}
					}
					for range others {
						if _, err := increment(ctx, l.other); err != nil {
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
			if n := count(t, l.other); n != others+1 {
				t.Errorf("counter %d after %d increments: want %d, the lost one applied once", n, others+1, others+1)
			}
		})
	}
}

// On a first attempt nothing can have landed, so a failed condition is a
// plain conflict even where the namespace no longer remembers every ID;
// on a retry it is ErrUnknownOutcome, unless the IDs kept prove the batch
// was never applied. And the IDs kept stay bounded.
func TestAppliedIDs(t *testing.T) {
	ctx := context.Background()
	raw := pgtest.URL(t)
	be, err := postgres.Open(ctx, mustParse(t, raw), runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	st := openStore(t, raw, runtime.WithoutCache())
	for range 600 {
		if _, err := increment(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	var kept int
	pgtest.Pool(t).QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schemaOf(t, raw), "applied"}.Sanitize()+` WHERE ns = 'ns'`).Scan(&kept)
	if kept == 0 || kept > 512 {
		t.Errorf("%d batch IDs kept after 600 conditional writes, want between 1 and 512", kept)
	}
	stale := &runtime.Batch{ID: "stale-batch", Puts: []runtime.KV{{Key: "n", Value: json.RawMessage(`0`)}}, Conds: []runtime.Cond{{Key: "n", Revision: 1}}}
	if _, err := be.Apply(ctx, "ns", stale); !errors.Is(err, runtime.ErrConflict) || errors.Is(err, runtime.ErrUnknownOutcome) {
		t.Errorf("first attempt on a stale condition: %v, want ErrConflict only", err)
	}
	stale.Retry = true
	if _, err := be.Apply(ctx, "ns", stale); !errors.Is(err, runtime.ErrUnknownOutcome) || errors.Is(err, runtime.ErrConflict) {
		t.Errorf("retry on a condition older than the IDs remembered: %v, want ErrUnknownOutcome only", err)
	}
	snap, err := st.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	recent := &runtime.Batch{ID: "recent-batch", Retry: true, Puts: []runtime.KV{{Key: "n", Value: json.RawMessage(`0`)}}, Conds: []runtime.Cond{{Revision: snap.Revision - 1}}}
	if _, err := be.Apply(ctx, "ns", recent); !errors.Is(err, runtime.ErrConflict) || errors.Is(err, runtime.ErrUnknownOutcome) {
		t.Errorf("retry of an ID surely never applied: %v, want ErrConflict only", err)
	}
	// An ID applied is applied once: its retry returns its revision.
	once := &runtime.Batch{ID: "once", Puts: []runtime.KV{{Key: "m", Value: json.RawMessage(`1`)}}, Conds: []runtime.Cond{{Key: "m"}}}
	rev, err := be.Apply(ctx, "ns", once)
	if err != nil {
		t.Fatal(err)
	}
	once.Retry = true
	if again, err := be.Apply(ctx, "ns", once); err != nil || again != rev {
		t.Errorf("retry of an applied batch: revision %d, %v; want %d and nothing applied", again, err, rev)
	}
	if snap2, _ := st.Snapshot(ctx, "ns"); snap2.Revision != rev {
		t.Errorf("the retry applied again: revision %d, want %d", snap2.Revision, rev)
	}
}

// A server process killed in the middle of a batch's transaction (with
// pg_terminate_backend, while it waits for a row lock half way through its
// writes) leaves nothing of the batch behind, and the store goes on.
func TestTerminateBackendMidTransaction(t *testing.T) {
	ctx := context.Background()
	raw := pgtest.URL(t)
	st := openStore(t, raw, runtime.WithoutCache())
	const keys = 40
	b := &runtime.Batch{}
	for i := range keys {
		b.Puts = append(b.Puts, runtime.KV{Key: fmt.Sprintf("k%02d", i), Value: json.RawMessage(`0`)})
	}
	if _, err := st.Apply(ctx, "ns", b); err != nil {
		t.Fatal(err)
	}
	// Another session holds the row of the last key, so the batch waits
	// with its other keys written (uncommitted).
	admin := pgtest.Pool(t)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	entries := pgx.Identifier{schemaOf(t, raw), "entries"}.Sanitize()
	if _, err := tx.Exec(ctx, `SELECT 1 FROM `+entries+` WHERE ns = 'ns' AND key = $1 FOR UPDATE`, fmt.Sprintf("k%02d", keys-1)); err != nil {
		t.Fatal(err)
	}
	u := mustParse(t, raw)
	q := u.Query()
	q.Set("application_name", "stategen-victim")
	u.RawQuery = q.Encode()
	victim := openStore(t, u.String(), runtime.WithoutCache(), runtime.WithRetry(runtime.NoRetry))
	next := &runtime.Batch{}
	for i := range keys {
		next.Puts = append(next.Puts, runtime.KV{Key: fmt.Sprintf("k%02d", i), Value: json.RawMessage(`1`)})
	}
	done := make(chan error, 1)
	go func() {
		_, err := victim.Apply(ctx, "ns", next)
		done <- err
	}()
	var terminated bool
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !terminated; time.Sleep(10 * time.Millisecond) {
		err := admin.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'stategen-victim' AND wait_event_type = 'Lock' AND datname = current_database()`).Scan(&terminated)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
	}
	if !terminated {
		t.Fatal("the batch never waited on the lock")
	}
	err = <-done
	if err == nil {
		t.Fatal("the batch whose server process was terminated succeeded")
	}
	if !errors.Is(err, runtime.ErrUnknownOutcome) {
		t.Errorf("terminated mid-transaction: %v; want ErrUnknownOutcome (as far as the writer knows, the write may have committed)", err)
	}
	tx.Rollback(ctx)
	snap, err := st.Snapshot(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range snap.Values {
		if string(v.Data) != "0" {
			t.Errorf("after the terminated batch, %s = %s: half a batch was applied", k, v.Data)
		}
	}
	// The victim's store reconnects and writes.
	if _, err := victim.Apply(ctx, "ns", next); err != nil {
		t.Fatalf("write after the termination: %v", err)
	}
}
