package peers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/stategen/stategen/internal/benchstate"
	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/postgres"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

// The ADW state of 12 fields is internal/benchstate's; the drivers in
// testdata hold the same (STATE).
var (
	adwSchema   = benchstate.Schema
	backendPort = benchstate.BackendPort
	sampleState = *benchstate.Sample(0)
)

// Sizes the workloads share with the drivers in testdata.
const (
	writers     = 8
	checkpoints = 50
)

// stategen runs the workloads on a store, in this process, with the cache
// off so that loads read storage as the peers' do.
type stategen struct{ st *runtime.Store }

func openStategen(ctx context.Context, url string) (*stategen, error) {
	st, err := runtime.Open(ctx, url, runtime.WithoutCache())
	if err != nil {
		return nil, err
	}
	return &stategen{st}, nil
}

func (g *stategen) Close() error { return g.st.Close() }

// run does op n times, after setup and a warm-up, and returns nanoseconds
// per operation (writers: per save, as one writer sees it).
func (g *stategen) run(ctx context.Context, op string, n int) (float64, error) {
	if op == "writers" {
		return g.writers(ctx, n)
	}
	ss, err := runtime.NewStateStore(g.st, op, adwSchema)
	if err != nil {
		return 0, err
	}
	if err := ss.Save(ctx, &sampleState); err != nil {
		return 0, err
	}
	var f func(i int) error
	switch op {
	case "save":
		f = func(i int) error {
			s := sampleState
			s.BackendPort = 9100 + i%100
			return ss.Save(ctx, &s)
		}
	case "load":
		f = func(int) error {
			s, err := ss.Load(ctx)
			if err == nil && s.ADWID != sampleState.ADWID {
				err = fmt.Errorf("load returned %+v", s)
			}
			return err
		}
	case "update":
		f = func(i int) error { return backendPort.Save(ctx, ss, 9100+i%100) }
	case "checkpoint":
		list, err := ss.Checkpoints(ctx)
		if err != nil {
			return 0, err
		}
		for i := len(list); i < checkpoints; i++ {
			if _, err := ss.Checkpoint(ctx, fmt.Sprintf("cp-%d", i)); err != nil {
				return 0, err
			}
		}
		f = func(i int) error {
			if _, err := ss.Checkpoint(ctx, fmt.Sprintf("cp-%d", i%checkpoints)); err != nil {
				return err
			}
			list, err := ss.Checkpoints(ctx)
			if err == nil && len(list) != checkpoints {
				err = fmt.Errorf("listed %d checkpoints, want %d", len(list), checkpoints)
			}
			return err
		}
	default:
		return 0, fmt.Errorf("unknown op %q", op)
	}
	for i := range min(n, 5) {
		if err := f(i); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for i := range n {
		if err := f(i); err != nil {
			return 0, err
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

// writers saves the whole state n times on each of 8 namespaces at once,
// one goroutine each, and returns the time per save one writer sees.
func (g *stategen) writers(ctx context.Context, n int) (float64, error) {
	stores := make([]*runtime.StateStore[benchstate.State], writers)
	for w := range stores {
		ss, err := runtime.NewStateStore(g.st, fmt.Sprintf("writer%d", w), adwSchema)
		if err != nil {
			return 0, err
		}
		stores[w] = ss
	}
	run := func(n int) error {
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for w, ss := range stores {
			wg.Go(func() {
				s := sampleState
				for i := range n {
					s.BackendPort = 9100 + i%100
					if err := ss.Save(ctx, &s); err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := run(2); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := run(n); err != nil {
		return 0, err
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}
