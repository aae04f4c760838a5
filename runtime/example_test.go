package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "stategen-example")
	defer os.RemoveAll(dir)

	st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// One namespace per workflow run; values are JSON.
	if _, err := st.Put(ctx, "a1b2c3d4", "branch_name", json.RawMessage(`"feat-42"`)); err != nil {
		log.Fatal(err)
	}
	if _, err := st.Checkpoint(ctx, "a1b2c3d4", "after_plan"); err != nil {
		log.Fatal(err)
	}
	st.Put(ctx, "a1b2c3d4", "plan_file", json.RawMessage(`"specs/plan.md"`))

	// Restore makes the namespace exactly the checkpoint again.
	if _, err := st.Restore(ctx, "a1b2c3d4", "after_plan"); err != nil {
		log.Fatal(err)
	}
	keys, _ := st.Keys(ctx, "a1b2c3d4")
	fmt.Println(keys)
	// Output: [branch_name]
}

func ExampleUpdate() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "stategen-example")
	defer os.RemoveAll(dir)
	st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// Update is a read-modify-write that retries if another writer got there
	// first, so concurrent appends are never lost.
	phases := runtime.JSONCodec[[]string]()
	for _, p := range []string{"plan", "build"} {
		if _, err := runtime.Update(ctx, st, "a1b2c3d4", "completed_phases", phases, func(done []string, _ bool) ([]string, error) {
			return append(done, p), nil
		}); err != nil {
			log.Fatal(err)
		}
	}
	done, _ := runtime.Load(ctx, st, "a1b2c3d4", "completed_phases", phases)
	fmt.Println(done)
	// Output: [plan build]
}

func ExampleStore_Acquire() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "stategen-example")
	defer os.RemoveAll(dir)
	st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// One owner of a run at a time: the lease lasts 30s unless renewed,
	// and KeepAlive renews it until ctx ends.
	lease, err := st.Acquire(ctx, "a1b2c3d4", "host-1:build", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	lost := lease.KeepAlive(ctx, 0)
	_ = lost // a phase stops when it receives: its lease is gone

	// Another owner is refused, told who holds it.
	_, err = st.Acquire(ctx, "a1b2c3d4", "host-2:build", 30*time.Second)
	fmt.Println(errors.Is(err, runtime.ErrLeased))

	// Writes through the lease apply only while it is the current one.
	if _, err := lease.Apply(ctx, &runtime.Batch{Puts: []runtime.KV{{Key: "phase", Value: json.RawMessage(`"build"`)}}}); err != nil {
		log.Fatal(err)
	}
	// Broken by hand (stategen lease a1b2c3d4 --break), it fences its holder.
	st.BreakLease(ctx, "a1b2c3d4")
	_, err = lease.Apply(ctx, &runtime.Batch{Puts: []runtime.KV{{Key: "phase", Value: json.RawMessage(`"stale"`)}}})
	fmt.Println(errors.Is(err, runtime.ErrFenced))

	next, _ := st.Acquire(ctx, "a1b2c3d4", "host-2:build", 30*time.Second)
	fmt.Println(lease.Token(), next.Token())
	// Output:
	// true
	// true
	// 1 3
}
