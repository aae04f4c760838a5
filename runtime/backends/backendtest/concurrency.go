package backendtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
)

const (
	envWorker = "STATEGEN_BACKENDTEST_WORKER"
	envURL    = "STATEGEN_BACKENDTEST_URL"
	envNS     = "STATEGEN_BACKENDTEST_NS"
	envKey    = "STATEGEN_BACKENDTEST_KEY"
	envArg    = "STATEGEN_BACKENDTEST_ARG"
)

// Main runs the tests, or, when the suite re-executed the test binary as a
// worker process, does the worker's job and exits. Call it from TestMain.
func Main(m *testing.M) {
	if job := os.Getenv(envWorker); job != "" {
		if err := work(job); err != nil {
			fmt.Fprintln(os.Stderr, "backendtest worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func work(job string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := runtime.Open(ctx, os.Getenv(envURL))
	if err != nil {
		return err
	}
	defer st.Close()
	ns, key, arg := os.Getenv(envNS), os.Getenv(envKey), os.Getenv(envArg)
	switch job {
	case "incr":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		return increment(ctx, st, ns, key, n)
	case "put":
		_, err := st.Put(ctx, ns, key, []byte(arg))
		return err
	case "leaseholder":
		ms, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		return leaseHolder(ctx, st, ns, time.Duration(ms)*time.Millisecond)
	case "migrate":
		return migrateLoop(ctx, st, ns)
	case "rekey":
		return rekeyAll(ctx, st)
	case "batches":
		// Write batches forever, each setting every key to the same number;
		// the parent kills the process mid-way.
		for i := 1; ; i++ {
			b := &runtime.Batch{}
			for k := range crashKeys {
				b.Puts = append(b.Puts, runtime.KV{Key: fmt.Sprintf("k%02d", k), Value: []byte(strconv.Itoa(i))})
			}
			if _, err := st.Apply(ctx, ns, b); err != nil {
				return err
			}
			if i == 1 {
				fmt.Println("started")
			}
		}
	}
	return fmt.Errorf("unknown job %q", job)
}

var intCodec = runtime.JSONCodec[int]()

// increment adds 1 to a counter n times with read-modify-write updates.
func increment(ctx context.Context, st *runtime.Store, ns, key string, n int) error {
	for range n {
		if _, err := runtime.Update(ctx, st, ns, key, intCodec, func(v int, _ bool) (int, error) { return v + 1, nil }); err != nil {
			return err
		}
	}
	return nil
}

// runWorker re-executes the test binary as a worker and waits for it.
func runWorker(ctx context.Context, job, url, ns, key, arg string) error {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"="+job, envURL+"="+url, envNS+"="+ns, envKey+"="+key, envArg+"="+arg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("worker %s: %v\n%s", job, err, out)
	}
	return nil
}

func counter(t testing.TB, st *runtime.Store, ns, key string) int {
	t.Helper()
	v, err := runtime.Load(context.Background(), st, ns, key, intCodec)
	if err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return v
}

func testNoLostUpdateGoroutines(t *testing.T, h Harness) {
	const goroutines, each = 8, 200
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := h.NewURL(t)
	stores := []*runtime.Store{open(t, url), open(t, url)} // independent Stores, own caches and connections
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			if err := increment(ctx, stores[g%2], "ns", "counter", each); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := counter(t, stores[0], "ns", "counter"); got != goroutines*each {
		t.Fatalf("counter is %d after %d increments: updates were lost", got, goroutines*each)
	}
}

func testNoLostUpdateProcesses(t *testing.T, h Harness) {
	const procs, each = 4, 200
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := h.NewURL(t)
	st := open(t, url)
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for range procs {
		wg.Go(func() {
			if err := runWorker(ctx, "incr", url, "ns", "counter", strconv.Itoa(each)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := counter(t, st, "ns", "counter"); got != procs*each {
		t.Fatalf("counter is %d after %d increments in %d processes: updates were lost", got, procs*each, procs)
	}
}

// crashKeys is the size of the batches the crash test writes.
const crashKeys = 40

func testAtomicAcrossKill(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	st := open(t, url)
	for round := range 3 {
		killMidway(t, "batches", url, "crash", round)

		snap, err := st.Snapshot(ctx, "crash")
		if err != nil {
			t.Fatalf("round %d: state after kill -9: %v", round, err)
		}
		if len(snap.Values) != crashKeys {
			t.Fatalf("round %d: %d keys after kill -9, want %d: a batch was cut", round, len(snap.Values), crashKeys)
		}
		first := string(snap.Values["k00"].Data)
		for k, v := range snap.Values {
			if string(v.Data) != first {
				t.Fatalf("round %d: after kill -9 key %s = %s but k00 = %s: a batch was cut", round, k, v.Data, first)
			}
		}
		// The store still takes writes (no lock left behind).
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = st.Put(wctx, "crash", "after", json.RawMessage(`true`))
		cancel()
		if err != nil {
			t.Fatalf("round %d: write after kill -9: %v", round, err)
		}
		if _, err := st.Delete(ctx, "crash", "after"); err != nil {
			t.Fatal(err)
		}
	}
}

// killMidway starts a worker doing job on ns, waits for its first round,
// lets it run a little (longer each round) and kills it without warning.
func killMidway(t *testing.T, job, url, ns string, round int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"="+job, envURL+"="+url, envNS+"="+ns, envKey+"=", envArg+"=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("started\n"))
	if _, err := io.ReadFull(out, buf); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("worker did not start: %v", err)
	}
	time.Sleep(time.Duration(5+20*round) * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}
