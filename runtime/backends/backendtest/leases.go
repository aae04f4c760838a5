package backendtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

// The Leases section: one owner of a run at a time, fenced writes.

// leaseEntry is one write of the lease log: the token it was made under
// and a sequence number (negative for the taking-over parent's).
type leaseEntry struct {
	Token int64 `json:"token"`
	Seq   int   `json:"seq"`
}

// leaseLog is the state the lease tests write: a log of recent writes,
// and a phase to write per field.
type leaseLog struct {
	Entries []leaseEntry
	Phase   string
}

var leaseLogSchema = &runtime.Schema[leaseLog]{Name: "LeaseLog", Version: 1, Fields: []runtime.Field[leaseLog]{
	runtime.FieldOf(&runtime.Key[[]leaseEntry]{Name: "log", Codec: runtime.JSONCodec[[]leaseEntry]()}, func(v *leaseLog) *[]leaseEntry { return &v.Entries }),
	runtime.FieldOf(leasePhase, func(v *leaseLog) *string { return &v.Phase }),
}}

var leasePhase = &runtime.Key[string]{Name: "phase", Codec: runtime.StringCodec}

// maxLogEntries bounds the lease log: every round checks it, and a round
// writes far fewer.
const maxLogEntries = 200

// appendEntry appends e to the log, keeping the last maxLogEntries.
func appendEntry(v *leaseLog, e leaseEntry) {
	v.Entries = append(v.Entries, e)
	if n := len(v.Entries); n > maxLogEntries {
		v.Entries = v.Entries[n-maxLogEntries:]
	}
}

// staleWrites counts the entries of log written under an older token than
// an entry before them: writes of a holder that had lost its lease.
func staleWrites(log []leaseEntry) (n int, first string) {
	newest := int64(0)
	for i, e := range log {
		if e.Token < newest {
			if n == 0 {
				first = fmt.Sprintf("entry %d (token %d, seq %d) follows a write under token %d", i, e.Token, e.Seq, newest)
			}
			n++
			continue
		}
		newest = e.Token
	}
	return n, first
}

func testLeases(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Contend", testLeaseContend},
		{"RenewRelease", testLeaseRenewRelease},
		{"Break", testLeaseBreak},
		{"TokensOnlyGrow", testLeaseTokensGrow},
		{"FencedWrites", testLeaseFencedWrites},
		{"KeptByReplaceAndRestore", testLeaseKept},
		{"OwnRenewalIsNoConflict", testLeaseOwnRenewal},
		{"ExactlyOnce", testLeaseExactlyOnce},
		{"TakeoverProcesses", func(t *testing.T, h Harness) {
			r := leaseTakeovers(t, h, quickTakeovers)
			t.Logf("%s: %d stale writes refused, %d violations", r.Scenario, r.Acked, r.Violations)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func acquire(t testing.TB, st *runtime.Store, ns, holder string, ttl time.Duration) *runtime.Lease {
	t.Helper()
	l, err := st.Acquire(context.Background(), ns, holder, ttl)
	if err != nil {
		t.Fatalf("acquire %s for %s: %v", ns, holder, err)
	}
	return l
}

func leaseInfo(t testing.TB, st *runtime.Store, ns string) runtime.LeaseInfo {
	t.Helper()
	info, err := st.LeaseInfo(context.Background(), ns)
	if err != nil {
		t.Fatalf("lease of %s: %v", ns, err)
	}
	return info
}

// wantFenced fails unless err is ErrFenced, as a *runtime.LeaseError.
func wantFenced(t testing.TB, what string, err error) {
	t.Helper()
	var le *runtime.LeaseError
	if !errors.Is(err, runtime.ErrFenced) || !errors.As(err, &le) {
		t.Errorf("%s through a lease that was taken over: %v, want ErrFenced (a *LeaseError)", what, err)
	}
}

func testLeaseContend(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	if info := leaseInfo(t, st, "run"); info != (runtime.LeaseInfo{}) {
		t.Errorf("lease of a run never leased: %+v, want the zero LeaseInfo", info)
	}
	a := acquire(t, st, "run", "worker-a", time.Minute)
	if a.Token() != 1 || a.Holder() != "worker-a" || time.Until(a.Expires()) < 50*time.Second {
		t.Errorf("first lease: token %d, holder %q, expires %v; want 1, worker-a, in a minute", a.Token(), a.Holder(), a.Expires())
	}
	info := leaseInfo(t, st, "run")
	if info.Holder != "worker-a" || info.Token != 1 || !info.Expires.Equal(a.Expires()) || info.Acquired.IsZero() || !info.Held(time.Now()) {
		t.Errorf("stored lease %+v, want worker-a's, token 1, until %v", info, a.Expires())
	}

	// A second owner is refused, told who holds it and until when.
	_, err := st.Acquire(ctx, "run", "worker-b", time.Minute)
	var le *runtime.LeaseError
	if !errors.Is(err, runtime.ErrLeased) || !errors.As(err, &le) {
		t.Fatalf("acquire of a held lease: %v, want ErrLeased (a *LeaseError)", err)
	}
	if le.Lease.Holder != "worker-a" || !le.Lease.Expires.Equal(a.Expires()) {
		t.Errorf("ErrLeased describes %+v, want worker-a's lease until %v", le.Lease, a.Expires())
	}
	msg := err.Error()
	if !strings.Contains(msg, "worker-a") || !strings.Contains(msg, a.Expires().UTC().Format(time.RFC3339Nano)) || strings.Contains(msg, "\n") {
		t.Errorf("ErrLeased says %q: want one line naming holder worker-a and when its lease ends (%v)", msg, a.Expires())
	}
	if got := leaseInfo(t, st, "run"); got.Token != 1 || got.Holder != "worker-a" {
		t.Errorf("a refused acquire changed the lease: %+v", got)
	}

	// An expired lease is taken over, with the next token; its holder is fenced.
	short := acquire(t, st, "short", "worker-a", 30*time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	b := acquire(t, st, "short", "worker-b", time.Minute)
	if b.Token() != short.Token()+1 {
		t.Errorf("takeover token %d, want %d", b.Token(), short.Token()+1)
	}
	wantFenced(t, "renew", short.Renew(ctx, time.Minute))
	wantFenced(t, "release", short.Release(ctx))
	if got := leaseInfo(t, st, "short"); got.Holder != "worker-b" || got.Token != b.Token() {
		t.Errorf("the fenced holder changed the lease: %+v", got)
	}

	// Its holder acquiring again takes a new token and fences its old handle.
	a2 := acquire(t, st, "run", "worker-a", time.Minute)
	if a2.Token() != 2 {
		t.Errorf("re-acquire by the holder: token %d, want 2", a2.Token())
	}
	_, err = a.Apply(ctx, &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}})
	wantFenced(t, "a write through the earlier handle", err)

	// Bad input.
	for _, bad := range []struct {
		ns, holder string
		ttl        time.Duration
	}{{"run", "", time.Minute}, {"run", "x", 0}, {"../x", "x", time.Minute}} {
		if _, err := st.Acquire(ctx, bad.ns, bad.holder, bad.ttl); err == nil {
			t.Errorf("Acquire(%q, %q, %v) succeeded", bad.ns, bad.holder, bad.ttl)
		}
	}
}

func testLeaseRenewRelease(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	l := acquire(t, st, "run", "w", 80*time.Millisecond)
	first := l.Expires()
	// Renewed in the background, it outlives its TTL.
	kctx, stop := context.WithCancel(ctx)
	lost := l.KeepAlive(kctx, 20*time.Millisecond)
	time.Sleep(250 * time.Millisecond)
	if _, err := st.Acquire(ctx, "run", "other", time.Minute); !errors.Is(err, runtime.ErrLeased) {
		t.Errorf("acquire of a lease kept alive past its TTL: %v, want ErrLeased", err)
	}
	stop()
	if err, ok := <-lost; ok {
		t.Errorf("KeepAlive reported %v, want the channel closed without an error when its context ends", err)
	}
	if !l.Expires().After(first) {
		t.Errorf("expiry %v not extended past %v by renewals", l.Expires(), first)
	}
	if err := l.Renew(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := leaseInfo(t, st, "run"); !got.Expires.Equal(l.Expires()) || time.Until(got.Expires) < 50*time.Second {
		t.Errorf("stored expiry %v after renewing for a minute, want %v", got.Expires, l.Expires())
	}

	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Errorf("second release: %v", err)
	}
	got := leaseInfo(t, st, "run")
	if got.Holder != "" || got.Token != l.Token() || got.Held(time.Now()) || got.State(time.Now()) != "free" {
		t.Errorf("released lease %+v: want no holder, token %d kept", got, l.Token())
	}
	_, err := l.Apply(ctx, &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}})
	wantFenced(t, "a write after release", err)
	wantFenced(t, "renew after release", l.Renew(ctx, 0))
	next := acquire(t, st, "run", "other", time.Minute)
	if next.Token() != l.Token()+1 {
		t.Errorf("token after release %d, want %d", next.Token(), l.Token()+1)
	}

	// A KeepAlive of a lease broken under it reports the loss.
	lost = next.KeepAlive(ctx, 10*time.Millisecond)
	if _, err := st.BreakLease(ctx, "run"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lost:
		wantFenced(t, "KeepAlive", err)
	case <-time.After(10 * time.Second):
		t.Error("KeepAlive did not report the lease broken under it")
	}
}

func testLeaseBreak(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	if got, err := st.BreakLease(ctx, "run"); err != nil || got != (runtime.LeaseInfo{}) {
		t.Errorf("break of a lease never taken: %+v, %v; want nothing broken", got, err)
	}
	l := acquire(t, st, "run", "w", time.Hour)
	broke, err := st.BreakLease(ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	if broke.Holder != "w" || broke.Token != l.Token() {
		t.Errorf("break returned %+v, want w's lease, token %d", broke, l.Token())
	}
	if got := leaseInfo(t, st, "run"); got.Holder != "" || got.Token != l.Token()+1 {
		t.Errorf("broken lease %+v, want free with token %d", got, l.Token()+1)
	}
	_, err = l.Apply(ctx, &runtime.Batch{Puts: []runtime.KV{{Key: "k", Value: json.RawMessage(`1`)}}})
	wantFenced(t, "a write after a break", err)
	if _, err := st.Get(ctx, "run", "k"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("the fenced write landed: %v", err)
	}
	if n := acquire(t, st, "run", "v", time.Hour); n.Token() != l.Token()+2 {
		t.Errorf("token after a break %d, want %d", n.Token(), l.Token()+2)
	}
	// A free lease is left as it is.
	before := leaseInfo(t, st, "run")
	st.BreakLease(ctx, "run")
	free := leaseInfo(t, st, "run")
	if again, err := st.BreakLease(ctx, "run"); err != nil || again != free || free.Token != before.Token+1 {
		t.Errorf("break of a free lease: %+v, %v; want %+v returned, unchanged", again, err, free)
	}
}

func testLeaseTokensGrow(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	last := int64(0)
	grew := func(what string, tok int64) {
		t.Helper()
		if tok <= last {
			t.Errorf("%s: token %d after %d: tokens must only grow", what, tok, last)
		}
		last = tok
	}
	for i := range 5 {
		l := acquire(t, st, "run", fmt.Sprintf("w%d", i%2), 20*time.Millisecond)
		grew("acquire", l.Token())
		switch i % 3 {
		case 0:
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
		case 1:
			time.Sleep(40 * time.Millisecond) // expires
		case 2:
			if _, err := st.BreakLease(ctx, "run"); err != nil {
				t.Fatal(err)
			}
			grew("break", leaseInfo(t, st, "run").Token)
		}
	}
	// Racing acquirers: one wins, the others are told who did.
	const racers = 6
	st.BreakLease(ctx, "run")
	var wg sync.WaitGroup
	won := make(chan *runtime.Lease, racers)
	for i := range racers {
		wg.Go(func() {
			l, err := st.Acquire(ctx, "run", fmt.Sprintf("racer-%d", i), time.Hour)
			switch {
			case err == nil:
				won <- l
			case !errors.Is(err, runtime.ErrLeased):
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(won)
	if n := len(won); n != 1 {
		t.Fatalf("%d racers acquired the lease, want 1", n)
	}
	w := <-won
	if got := leaseInfo(t, st, "run"); got.Holder != w.Holder() || got.Token != w.Token() || w.Token() <= last {
		t.Errorf("stored %+v, winner %s with token %d (last before %d)", got, w.Holder(), w.Token(), last)
	}
}

func testLeaseFencedWrites(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	ss, err := runtime.NewStateStore(st, "run", leaseLogSchema)
	if err != nil {
		t.Fatal(err)
	}
	old := acquire(t, st, "run", "old", 20*time.Millisecond)
	fs := ss.WithLease(old)
	if fs.Lease() != old || ss.Lease() != nil {
		t.Error("WithLease changed the view it was called on, or did not set the lease")
	}
	// While current, every write goes through.
	if err := fs.Save(ctx, &leaseLog{Phase: "plan"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Update(ctx, func(v *leaseLog) error { appendEntry(v, leaseEntry{old.Token(), 1}); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := leasePhase.Save(ctx, fs, "build"); err != nil {
		t.Fatal(err)
	}
	if _, err := leasePhase.Update(ctx, fs, func(p string) (string, error) { return p + "!", nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Checkpoint(ctx, "cp"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Restore(ctx, "cp"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Apply(ctx, &runtime.Batch{Puts: []runtime.KV{{Key: "raw", Value: json.RawMessage(`1`)}}}); err != nil {
		t.Fatal(err)
	}

	// Taken over: every write through the old lease is refused, and
	// changes nothing.
	time.Sleep(40 * time.Millisecond)
	newer := acquire(t, st, "run", "new", time.Minute)
	before, err := st.Snapshot(ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name string
		do   func() error
	}{
		{"Save", func() error { return fs.Save(ctx, &leaseLog{Phase: "stale"}) }},
		{"Update", func() error {
			_, err := fs.Update(ctx, func(v *leaseLog) error { v.Phase = "stale"; return nil })
			return err
		}},
		{"per-field Save", func() error { return leasePhase.Save(ctx, fs, "stale") }},
		{"per-field Update", func() error {
			_, err := leasePhase.Update(ctx, fs, func(string) (string, error) { return "stale", nil })
			return err
		}},
		{"per-field Delete", func() error { return leasePhase.Delete(ctx, fs) }},
		{"Restore", func() error { return fs.Restore(ctx, "cp") }},
		{"Lease.Apply", func() error {
			_, err := old.Apply(ctx, &runtime.Batch{Deletes: []string{"raw"}})
			return err
		}},
		{"Checkpoint", func() error {
			_, err := fs.Checkpoint(ctx, "stale")
			return err
		}},
	}
	for _, w := range writes {
		err := w.do()
		wantFenced(t, w.name, err)
		if err != nil && (!strings.Contains(err.Error(), "new") || strings.Contains(err.Error(), "\n")) {
			t.Errorf("%s: %q: want one line naming the new holder", w.name, err)
		}
	}
	after, err := st.Snapshot(ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision != before.Revision || !cmp.Equal(before.Values, after.Values) {
		t.Errorf("fenced writes changed the run: revision %d -> %d\n%s", before.Revision, after.Revision, cmp.Diff(before.Values, after.Values))
	}
	if _, err := st.GetCheckpoint(ctx, "run", "stale"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("a checkpoint through a fenced lease was made: %v", err)
	}
	// The new holder writes; a view without a lease is not fenced.
	if err := ss.WithLease(newer).Save(ctx, &leaseLog{Phase: "new"}); err != nil {
		t.Errorf("write through the current lease: %v", err)
	}
	if err := ss.Save(ctx, &leaseLog{Phase: "unleased"}); err != nil {
		t.Errorf("write without a lease: %v", err)
	}
	// A lease of another run fences nothing here.
	elsewhere := acquire(t, st, "elsewhere", "new", time.Minute)
	if err := ss.WithLease(elsewhere).Save(ctx, &leaseLog{}); err == nil {
		t.Error("a write through a lease of another run succeeded")
	}
}

func testLeaseKept(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	ss, err := runtime.NewStateStore(st, "run", leaseLogSchema)
	if err != nil {
		t.Fatal(err)
	}
	l := acquire(t, st, "run", "w", time.Hour)
	fs := ss.WithLease(l)
	if err := fs.Save(ctx, &leaseLog{Phase: "plan"}); err != nil {
		t.Fatal(err)
	}
	cp, err := fs.Checkpoint(ctx, "after_plan")
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetCheckpoint(ctx, "run", "after_plan")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Values[runtime.LeaseKey]; ok || cp.Keys != len(leaseLogSchema.Fields) {
		t.Errorf("checkpoint holds %d keys (%v): the lease must not be in it", cp.Keys, got.Keys)
	}
	held := leaseInfo(t, st, "run")
	// A Replace (whole state), through the lease and without, and a Restore.
	if _, err := l.Apply(ctx, &runtime.Batch{Replace: true, Puts: []runtime.KV{{Key: "phase", Value: json.RawMessage(`"x"`)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, "run", &runtime.Batch{Replace: true, Puts: []runtime.KV{{Key: "phase", Value: json.RawMessage(`"y"`)}}}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Restore(ctx, "after_plan"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Restore(ctx, "run", "after_plan"); err != nil {
		t.Fatal(err)
	}
	if got := leaseInfo(t, st, "run"); got != held {
		t.Errorf("lease after Replace and Restore: %+v, want %+v kept", got, held)
	}
	v, err := fs.Load(ctx)
	if err != nil || v.Phase != "plan" {
		t.Errorf("restored state %+v, %v", v, err)
	}
	// Writes through the lease still go through: nothing wrote the lease.
	if err := leasePhase.Save(ctx, fs, "build"); err != nil {
		t.Errorf("write through the lease after restore: %v", err)
	}
	// A run that holds only a lease holds no state.
	acquire(t, st, "empty", "w", time.Hour)
	if _, err := ss.Store().Snapshot(ctx, "empty"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("snapshot of a run holding only its lease: %v, want ErrNotFound (the lease is no state)", err)
	}
	e, _ := runtime.NewStateStore(st, "empty", leaseLogSchema)
	if _, err := e.Load(ctx); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("load of a run holding only its lease: %v, want ErrNotFound", err)
	}
}

// testLeaseOwnRenewal: writes through a lease while its KeepAlive renews
// it (each renewal a write of the lease) all go through.
func testLeaseOwnRenewal(t *testing.T, h Harness) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := open(t, h.NewURL(t))
	l := acquire(t, st, "run", "w", time.Hour)
	ss, err := runtime.NewStateStore(st, "run", leaseLogSchema)
	if err != nil {
		t.Fatal(err)
	}
	fs := ss.WithLease(l)
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	lost := l.KeepAlive(kctx, 2*time.Millisecond)
	const writes = 60
	for i := range writes {
		var err error
		switch i % 3 {
		case 0:
			_, err = fs.Update(ctx, func(v *leaseLog) error { appendEntry(v, leaseEntry{l.Token(), i}); return nil })
		case 1:
			err = leasePhase.Save(ctx, fs, strconv.Itoa(i))
		case 2:
			_, err = leasePhase.Update(ctx, fs, func(string) (string, error) { return strconv.Itoa(i), nil })
		}
		if err != nil {
			t.Fatalf("write %d while the lease renews itself: %v", i, err)
		}
	}
	stop()
	if err := <-lost; err != nil {
		t.Errorf("KeepAlive: %v", err)
	}
	v, err := fs.Load(ctx)
	if err != nil || len(v.Entries) != writes/3 {
		t.Errorf("log %+v, %v: want %d entries", v, err, writes/3)
	}
}

// testLeaseExactlyOnce: a fenced batch retried after a lost reply, while
// the lease was taken over meanwhile, is reported applied (once), not
// fenced. Only backends that can lose a reply (a server) remember batch IDs.
func testLeaseExactlyOnce(t *testing.T, h Harness) {
	ctx := context.Background()
	st := open(t, h.NewURL(t))
	// Does the backend remember the batches it applied?
	probe := runtime.Batch{ID: "probe", Conds: []runtime.Cond{{Key: "probe", Revision: 0}}, Puts: []runtime.KV{{Key: "probe", Value: json.RawMessage(`1`)}}}
	if _, err := st.Apply(ctx, "probe", &probe); err != nil {
		t.Fatal(err)
	}
	probe.Retry = true
	if _, err := st.Apply(ctx, "probe", &probe); errors.Is(err, runtime.ErrConflict) {
		t.Skip("the backend does not remember batch IDs: it never loses a reply")
	}
	l := acquire(t, st, "run", "w", time.Hour)
	b := &runtime.Batch{ID: "lease-exactly-once", Puts: []runtime.KV{{Key: "n", Value: json.RawMessage(`1`)}}}
	rev, err := l.Apply(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	// The reply is "lost"; meanwhile another holder takes over.
	st.BreakLease(ctx, "run")
	acquire(t, st, "run", "v", time.Hour)
	before, _ := st.Snapshot(ctx, "run")
	retry := *b
	retry.Retry = true
	got, err := l.Apply(ctx, &retry)
	if err != nil || got != rev {
		t.Errorf("retry of a fenced batch that landed before the takeover: revision %d, %v; want %d, nil", got, err, rev)
	}
	if after, _ := st.Snapshot(ctx, "run"); after.Revision != before.Revision {
		t.Errorf("the retry applied again: revision %d -> %d", before.Revision, after.Revision)
	}
	// A batch that did not land is fenced.
	other := runtime.Batch{ID: "lease-never-landed", Retry: true, Puts: b.Puts}
	_, err = l.Apply(ctx, &other)
	if !errors.Is(err, runtime.ErrFenced) && !errors.Is(err, runtime.ErrUnknownOutcome) {
		t.Errorf("retry of a fenced batch that never landed: %v, want ErrFenced (or ErrUnknownOutcome)", err)
	}
}

// Takeovers across processes.

const (
	// quickTakeovers is how many takeover rounds the conformance suite
	// (make test) runs per backend; fullTakeovers, the fault suite in
	// full (make chaos).
	quickTakeovers = 25
	fullTakeovers  = 200
	// takeoverTTL is the child's lease: short, so that a round takes
	// little more.
	takeoverTTL = 60 * time.Millisecond
)

// leaseHolder is the child of leaseTakeovers: it acquires the lease as
// "child", keeps it alive in the background, and appends to the log
// through it in a loop, as a careless holder would, never looking at the
// time; when a write is refused it says so and acquires again.
func leaseHolder(ctx context.Context, st *runtime.Store, ns string, ttl time.Duration) error {
	ss, err := runtime.NewStateStore(st, ns, leaseLogSchema)
	if err != nil {
		return err
	}
	fmt.Println("started")
	seq := 0
	for {
		l, err := st.Acquire(ctx, ns, "child", ttl)
		if errors.Is(err, runtime.ErrLeased) {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		fmt.Println("acquired", l.Token())
		kctx, stop := context.WithCancel(ctx)
		l.KeepAlive(kctx, ttl/3)
		fs := ss.WithLease(l)
		for {
			seq++
			_, err := fs.Update(ctx, func(v *leaseLog) error { appendEntry(v, leaseEntry{l.Token(), seq}); return nil })
			if errors.Is(err, runtime.ErrFenced) {
				fmt.Println("fenced", l.Token())
				break
			}
			if err != nil {
				stop()
				return err
			}
			fmt.Println("wrote", l.Token())
			time.Sleep(10 * time.Millisecond)
		}
		stop()
	}
}

// leaseTakeovers is the proof that a holder paused past its TTL cannot
// write over its successor: a child process holds the lease and writes
// through it in a loop; each round the parent stops it (SIGSTOP) past its
// TTL, takes the lease over, writes, and resumes it (SIGCONT); the child's
// next write must be refused, and the log must never show a write under an
// older token after one under a newer. A child stopped while it held a
// lock the takeover waits on is resumed after a while (its write in flight
// lands, under its still current token), and the takeover proceeds if the
// holder did not renew first: such a round counts (the holder was stopped
// past its TTL, and is refused once taken over) and is reported apart.
func leaseTakeovers(t *testing.T, h Harness, rounds int) Row {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	url := h.NewURL(t)
	st := open(t, url, runtime.WithoutCache())
	const ns = "leased"
	ss, err := runtime.NewStateStore(st, ns, leaseLogSchema)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"=leaseholder", envURL+"="+url, envNS+"="+ns, envKey+"=", envArg+"="+strconv.FormatInt(takeoverTTL.Milliseconds(), 10))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	}()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// next waits for the child's next line starting with word, and
	// returns the token it names.
	next := func(word string, within time.Duration) (int64, error) {
		deadline := time.After(within)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					return 0, fmt.Errorf("the child exited while the parent waited for %q", word)
				}
				if w, tok, _ := strings.Cut(line, " "); w == word {
					if tok == "" {
						return 0, nil
					}
					return strconv.ParseInt(tok, 10, 64)
				}
			case <-deadline:
				return 0, fmt.Errorf("no %q from the child within %v", word, within)
			}
		}
	}
	if _, err := next("started", time.Minute); err != nil {
		t.Fatal(err)
	}

	r := Row{Scenario: fmt.Sprintf("lease taken over from a holder stopped past its TTL, %d rounds", rounds)}
	taken, whileStopped, waitAcquired := 0, 0, true
	var childTok, last int64
	for round := 0; taken < rounds; round++ {
		if round >= 3*rounds {
			t.Errorf("only %d of %d rounds took the lease over in %d tries", taken, rounds, round)
			break
		}
		// 1. The child holds the lease and has written under it.
		if waitAcquired {
			if childTok, err = next("acquired", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if childTok <= last {
				t.Fatalf("round %d: the child's token %d after %d: tokens must only grow", round, childTok, last)
			}
			last = childTok
		}
		if tok, err := next("wrote", 30*time.Second); err != nil || tok != childTok {
			t.Fatalf("round %d: the child did not write under token %d: %v (token %d)", round, childTok, err, tok)
		}

		// 2. Stop it past its TTL, somewhere in its loop: mostly between
		// two writes, sometimes in one.
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		r.Faults++
		time.Sleep(takeoverTTL * 3 / 2)

		// 3. Take over; resume a child that holds a lock the takeover waits on.
		type result struct {
			l   *runtime.Lease
			err error
		}
		got := make(chan result, 1)
		go func() {
			l, err := st.Acquire(ctx, ns, "parent", time.Minute)
			got <- result{l, err}
		}()
		resumed := false
		var res result
		select {
		case res = <-got:
		case <-time.After(100 * time.Millisecond):
			cmd.Process.Signal(syscall.SIGCONT)
			resumed = true
			res = <-got
		}
		if errors.Is(res.err, runtime.ErrLeased) {
			// Resumed, it renewed first: try again, it still holds the lease.
			waitAcquired = false
			continue
		}
		if res.err != nil {
			t.Fatalf("round %d: take over: %v", round, res.err)
		}
		l := res.l
		if l.Token() <= last {
			t.Fatalf("round %d: the parent's token %d after %d: tokens must only grow", round, l.Token(), last)
		}
		last = l.Token()

		// 4. Write under the new lease.
		fs := ss.WithLease(l)
		for i := range 3 {
			if _, err := fs.Update(ctx, func(v *leaseLog) error { appendEntry(v, leaseEntry{l.Token(), -round*10 - i}); return nil }); err != nil {
				t.Fatalf("round %d: write under the new lease: %v", round, err)
			}
		}

		// What the child wrote before it was stopped (its sequence numbers
		// grow): whatever it writes after is a stale write, even if the
		// log has dropped the parent's writes since.
		v, err := ss.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := 0
		for _, e := range v.Entries {
			if e.Token < l.Token() {
				before = max(before, e.Seq)
			}
		}

		// 5. Resume the stopped holder: its next write must be refused.
		if !resumed {
			cmd.Process.Signal(syscall.SIGCONT)
		}
		fencedTok, err := next("fenced", 5*time.Second)
		switch {
		case err != nil:
			r.Violations++
			t.Errorf("round %d: the child's writes under token %d were not refused: %v", round, childTok, err)
		case fencedTok != childTok:
			t.Fatalf("round %d: the child was fenced under token %d, want %d", round, fencedTok, childTok)
		default:
			r.Acked++ // a stale write refused
		}

		// 6. No write of an older token after a newer one.
		if v, err = ss.Load(ctx); err != nil {
			t.Fatal(err)
		}
		late := 0
		for _, e := range v.Entries {
			if e.Token < l.Token() && e.Seq > before {
				late++
			}
		}
		if late > 0 {
			r.Violations += int64(late)
			t.Errorf("round %d: %d writes of the stopped holder (token %d) landed after the takeover", round, late, childTok)
		}
		if n, first := staleWrites(v.Entries); n > 0 {
			r.Violations += int64(n)
			t.Errorf("round %d: %d stale writes landed: %s", round, n, first)
		}
		if e := v.Entries[len(v.Entries)-1]; e.Token != l.Token() {
			t.Errorf("round %d: the last write is under token %d, after the parent's %d", round, e.Token, l.Token())
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		waitAcquired = true
		taken++
		if !resumed {
			whileStopped++
		}
		if t.Failed() {
			break
		}
	}
	t.Logf("%d takeovers in %d rounds (ttl %v), %d of them while the holder was still stopped, the others after resuming it from a lock the takeover waited on",
		taken, r.Faults, takeoverTTL, whileStopped)
	return r
}
