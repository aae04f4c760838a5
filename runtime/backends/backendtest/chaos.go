package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stategen/stategen/internal/faultproxy"
	"github.com/stategen/stategen/runtime"
)

// Environment variables of the fault suite.
const (
	// EnvChaos set to "full" makes Chaos run the whole campaign (make
	// chaos) instead of its quick part (make test).
	EnvChaos = "STATEGEN_CHAOS"
	// EnvChaosReport names a file to which Chaos appends one JSON line per
	// scenario run (a Row), for internal/chaosreport to print as a table.
	EnvChaosReport = "STATEGEN_CHAOS_REPORT"
)

// Row is what one scenario of the fault suite did on one backend.
type Row struct {
	Scenario string `json:"scenario"`
	Backend  string `json:"backend"`
	// Faults counts the faults injected: replies lost or cut, requests
	// dropped, servers killed, checkpoints damaged, schema-less states
	// restored or copied, concurrent saves raced.
	Faults int64 `json:"faults"`
	// Acked counts the operations that reported success.
	Acked int64 `json:"acked"`
	// Unknown counts the writes that reported runtime.ErrUnknownOutcome.
	Unknown int64 `json:"unknown"`
	// Violations counts the broken promises; it must be 0.
	Violations int64 `json:"violations"`
}

// Chaos runs the fault suite: what an outside fault campaign did to the
// runtime, made part of the project so that its promises stay kept. Each
// scenario needs what the Harness offers for it and is skipped otherwise:
//
//   - lossy network (Harness.Proxy): writers increment one counter through
//     a proxy that loses and cuts replies, drops requests and delays; the
//     counter must equal the increments acknowledged, or exceed them by at
//     most those that reported ErrUnknownOutcome, never more;
//   - server restart (Harness.Durable): the server is killed (SIGKILL) and
//     started again while writers increment; no acknowledged increment
//     may be lost, none applied twice;
//   - schema-less updates: restore and copy of state without a schema,
//     every key deleted, then every kind of update, many times;
//   - relaxed cache race: two goroutines save one key through one relaxed
//     Store; the cache must end at the landed value, every trial;
//   - corrupt checkpoint: one damaged among good ones hides none;
//   - lease takeover: a holder stopped (SIGSTOP) past its TTL is taken
//     over and resumed, fullTakeovers times; none of its writes may land
//     after the takeover (the conformance suite runs quickTakeovers).
//
// By default only the first two run, small, as part of the tests; with
// STATEGEN_CHAOS=full every scenario runs at the campaign's size. Each
// scenario appends its Row to the file STATEGEN_CHAOS_REPORT names.
func Chaos(t *testing.T, h Harness) {
	full := os.Getenv(EnvChaos) == "full"
	backend := schemeOf(h.NewURL(t))
	report := func(t *testing.T, r Row) {
		r.Backend = backend
		t.Logf("%s on %s: %d faults, %d acknowledged, %d unknown outcomes, %d violations", r.Scenario, r.Backend, r.Faults, r.Acked, r.Unknown, r.Violations)
		appendRow(t, r)
	}
	t.Run("LossyNetwork", func(t *testing.T) {
		if h.Proxy == nil {
			t.Skip("the backend talks to no server over TCP")
		}
		if !full {
			report(t, lossyNetwork(t, h, 4, 25))
			return
		}
		report(t, lossyNetwork(t, h, 8, 200))
		report(t, lossyNetwork(t, h, 2, 500))
	})
	t.Run("ServerRestart", func(t *testing.T) {
		if h.Durable == nil {
			t.Skip("the backend has no server to restart")
		}
		if !full {
			report(t, serverRestart(t, h, 2, 1))
			return
		}
		report(t, serverRestart(t, h, 4, 10))
	})
	if !full {
		return // the conformance suite runs the rest once each
	}
	t.Run("LeaseTakeover", func(t *testing.T) {
		report(t, leaseTakeovers(t, h, fullTakeovers))
	})
	t.Run("SchemalessUpdates", func(t *testing.T) {
		const rounds = 50
		st, dst := open(t, h.NewURL(t)), open(t, h.NewURL(t))
		r := Row{Scenario: "schema-less restore/copy, delete all, update"}
		for i := range rounds {
			r.Faults += 2 // a restore and a copy of state without a schema
			if err := schemalessRound(t, st, dst, i); err != nil {
				r.Violations++
				t.Errorf("round %d: %v", i, err)
				continue
			}
			r.Acked += 6 // three kinds of update on each namespace
		}
		report(t, r)
	})
	t.Run("RelaxedCacheRace", func(t *testing.T) {
		const trials = 300
		v := relaxedSaveRace(t, h.NewURL(t), trials)
		report(t, Row{Scenario: "two saves racing through a relaxed cache", Faults: trials, Acked: 2 * trials, Violations: int64(v)})
	})
	t.Run("CorruptCheckpoint", func(t *testing.T) {
		if h.CorruptCheckpoint == nil {
			t.Skip("the harness has no CorruptCheckpoint")
		}
		const runs = 5
		r := Row{Scenario: "a corrupt checkpoint among good ones", Faults: runs}
		for range runs {
			v := corruptAmongGood(t, h, h.NewURL(t))
			r.Violations += int64(v)
			r.Acked += 3 // the good checkpoints, listed and pruned around it
		}
		report(t, r)
	})
}

// schemeOf names a backend by its URL's scheme.
func schemeOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		return u.Scheme
	}
	return raw
}

// appendRow adds r to the report file, if one is named.
func appendRow(t testing.TB, r Row) {
	path := os.Getenv(EnvChaosReport)
	if path == "" {
		return
	}
	line, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// One write of one line: O_APPEND keeps the lines of test binaries
	// running side by side whole.
	if _, err := f.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
}

// incrementKinds are the read-modify-writes the writers take turns with,
// each adding 1 to the key n: every form of Update the runtime offers.
// The generated Update runs fenced by lease when one is given: fenced
// writes retried after a lost reply must be neither applied twice nor
// reported fenced (nobody takes the lease over).
var incrementKinds = []struct {
	name string
	inc  func(ctx context.Context, st *runtime.Store, ns string, lease *runtime.Lease) error
}{
	{"Update of a key", func(ctx context.Context, st *runtime.Store, ns string, _ *runtime.Lease) error {
		_, err := runtime.Update(ctx, st, ns, "n", intCodec, func(v int, _ bool) (int, error) { return v + 1, nil })
		return err
	}},
	{"generated Update", func(ctx context.Context, st *runtime.Store, ns string, lease *runtime.Lease) error {
		s, err := runtime.NewStateStore(st, ns, countSchema)
		if err != nil {
			return err
		}
		_, err = s.WithLease(lease).Update(ctx, func(v *countState) error { v.N++; return nil })
		return err
	}},
	{"UpdateNamespace", func(ctx context.Context, st *runtime.Store, ns string, _ *runtime.Lease) error {
		_, err := st.UpdateNamespace(ctx, ns, func(snap *runtime.Snapshot) (*runtime.Batch, error) {
			n := 0
			if snap != nil {
				if v, ok := snap.Values["n"]; ok {
					if err := json.Unmarshal(v.Data, &n); err != nil {
						return nil, err
					}
				}
			}
			return &runtime.Batch{Puts: []runtime.KV{{Key: "n", Value: json.RawMessage(fmt.Sprint(n + 1))}}}, nil
		})
		return err
	}},
}

// tally counts what writers got back.
type tally struct{ acked, unknown, failed, fenced atomic.Int64 }

// increments runs writers goroutines, each with its own Store from open,
// each adding 1 to the counter ns/n while more says so (taking turns with
// every kind of update) and counting the outcomes in tl; it returns once
// all are done. A writer tries to open its Store until ctx ends or the
// run does (the server may be down, restarting, as the writer starts),
// and fails the test if it never could while it should have written.
func increments(t testing.TB, ctx context.Context, open func() (*runtime.Store, error), ns string, lease *runtime.Lease, writers int, more func(i int) bool, tl *tally) {
	var wg sync.WaitGroup
	var logged atomic.Int64
	for w := range writers {
		wg.Go(func() {
			st, err := open()
			for err != nil && ctx.Err() == nil && more(0) {
				time.Sleep(50 * time.Millisecond)
				st, err = open()
			}
			if err != nil && !more(0) {
				return // the run ended before the server took a writer
			}
			if err != nil {
				t.Errorf("writer %d: %v", w, err)
				return
			}
			defer st.Close()
			for i := 0; more(i); i++ {
				kind := incrementKinds[(w+i)%len(incrementKinds)]
				err := kind.inc(ctx, st, ns, lease)
				switch {
				case err == nil:
					tl.acked.Add(1)
				case errors.Is(err, runtime.ErrUnknownOutcome):
					tl.unknown.Add(1)
				case errors.Is(err, runtime.ErrFenced):
					tl.fenced.Add(1)
					t.Errorf("writer %d, %s: %v: nobody took the lease over", w, kind.name, err)
				default:
					// Not applied, by the contract: the count proves it.
					tl.failed.Add(1)
					if logged.Add(1) <= 3 {
						t.Logf("writer %d, %s: %v", w, kind.name, err)
					}
				}
			}
		})
	}
	wg.Wait()
}

// checkCount compares the counter ns/n, read from st, with what the writers
// were told: every acknowledged increment is in it, and at most those that
// reported an unknown outcome besides.
func checkCount(t testing.TB, st *runtime.Store, ns string, tl *tally) (violations int64) {
	n, err := runtime.Load(context.Background(), st, ns, "n", intCodec)
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("read the counter: %v", err)
	}
	if n := tl.fenced.Load(); n > 0 {
		violations += n // a write refused as fenced with no takeover
	}
	acked, unknown := int(tl.acked.Load()), int(tl.unknown.Load())
	if n < acked {
		t.Errorf("counter %d after %d acknowledged increments: %d acknowledged writes lost", n, acked, acked-n)
		violations++
	}
	if n > acked+unknown {
		t.Errorf("counter %d after %d acknowledged increments and %d of unknown outcome: %d applied twice", n, acked, unknown, n-acked-unknown)
		violations++
	}
	return violations
}

// lossyNetwork has writers increment one counter through a fault proxy.
func lossyNetwork(t *testing.T, h Harness, writers, each int) Row {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	raw := h.NewURL(t)
	server, via := h.Proxy(raw)
	proxy, err := faultproxy.Start(server, faultproxy.Config{DropRequest: 0.01, LoseReply: 0.03, CutReply: 0.01, MaxDelay: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxied := via(proxy.Addr())
	var tl tally
	lease := acquire(t, open(t, raw), "ns", "writers", time.Hour)
	increments(t, ctx, func() (*runtime.Store, error) { return runtime.Open(ctx, proxied) }, "ns", lease, writers, func(i int) bool { return i < each }, &tl)
	stats := proxy.Stats()
	proxy.Close()
	r := Row{Scenario: fmt.Sprintf("lossy network, %d writers x %d updates", writers, each),
		Faults: stats.Faults(), Acked: tl.acked.Load(), Unknown: tl.unknown.Load()}
	r.Violations = checkCount(t, open(t, raw, runtime.WithoutCache()), "ns", &tl)
	if stats.Faults() == 0 {
		t.Errorf("the proxy injected no fault in %d requests: the scenario tested nothing", stats.Requests)
	}
	return r
}

// serverRestart has writers increment one counter while the server is
// killed and started again kills times.
func serverRestart(t *testing.T, h Harness, writers, kills int) Row {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv := h.Durable(t)
	var tl tally
	var stopped atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The writers go on until the last restart is behind them.
		increments(t, ctx, func() (*runtime.Store, error) { return runtime.Open(ctx, srv.URL) }, "ns", nil, writers, func(int) bool { return !stopped.Load() }, &tl)
	}()
	var killed int64
	for range kills {
		time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
		if err := srv.Kill(); err != nil {
			t.Fatal(err)
		}
		killed++
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	stopped.Store(true)
	<-done
	r := Row{Scenario: fmt.Sprintf("server killed and restarted, %d writers", writers), Faults: killed, Acked: tl.acked.Load(), Unknown: tl.unknown.Load()}
	r.Violations = checkCount(t, open(t, srv.URL, runtime.WithoutCache()), "ns", &tl)
	return r
}
