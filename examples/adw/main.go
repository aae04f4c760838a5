// Command adw is a small ADW-style workflow on stategen's runtime: each phase
// records its results in the run's namespace and checkpoints; a phase that
// crashes is resumed from the last good checkpoint.
//
// It runs on the embedded SQLite default (.stategen/state.db) unless
// --store or $STATEGEN_STORE names another store.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/all"
)

var phases = []string{"plan", "build", "test", "review", "document"}

var (
	text = runtime.JSONCodec[string]()
	list = runtime.JSONCodec[[]string]()
)

// errCrash stands for a phase dying half-way, as a killed process would.
var errCrash = errors.New("simulated crash")

func main() {
	store := flag.String("store", "", "store URL (default $STATEGEN_STORE or sqlite:.stategen/state.db)")
	flag.Parse()
	if err := run(context.Background(), *store); err != nil {
		fmt.Fprintln(os.Stderr, "adw:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string) error {
	st, err := runtime.Open(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Println("store:", st.Name())

	id := newADWID()
	fmt.Println("run", id, "for issue 42; the test phase will crash")
	if err := runtime.Save(ctx, st, id, "issue_number", "42", text); err != nil {
		return err
	}
	if err := runPhases(ctx, st, id, "test"); !errors.Is(err, errCrash) {
		return fmt.Errorf("expected the crash, got %v", err)
	}

	cps, err := st.Checkpoints(ctx, id)
	if err != nil {
		return err
	}
	last := cps[len(cps)-1].Name
	fmt.Println("resume: restoring checkpoint", last, "(the crashed phase's half-written keys go away)")
	if _, err := st.Restore(ctx, id, last); err != nil {
		return err
	}
	if err := runPhases(ctx, st, id, ""); err != nil {
		return err
	}
	return status(ctx, st, id)
}

// runPhases runs the phases not yet completed; failAt names one that crashes.
func runPhases(ctx context.Context, st *runtime.Store, id, failAt string) error {
	done, err := runtime.Load(ctx, st, id, "completed_phases", list)
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	for _, phase := range phases {
		if slices.Contains(done, phase) {
			continue
		}
		fmt.Printf("  %-8s ", phase)
		if err := runtime.Save(ctx, st, id, "current_phase", phase, text); err != nil {
			return err
		}
		if err := runtime.Save(ctx, st, id, phase+"_output", "specs/"+id+"-"+phase+".md", text); err != nil {
			return err
		}
		if phase == failAt {
			fmt.Println("crashed")
			return errCrash
		}
		if _, err := runtime.Update(ctx, st, id, "completed_phases", list, func(d []string, _ bool) ([]string, error) {
			return append(d, phase), nil
		}); err != nil {
			return err
		}
		cp, err := st.Checkpoint(ctx, id, "after_"+phase)
		if err != nil {
			return err
		}
		fmt.Println("done, checkpoint", cp.Name)
	}
	return nil
}

func status(ctx context.Context, st *runtime.Store, id string) error {
	snap, err := st.Snapshot(ctx, id)
	if err != nil {
		return err
	}
	fmt.Printf("state of %s at revision %d:\n", id, snap.Revision)
	for _, k := range snap.Keys() {
		var v any
		if err := json.Unmarshal(snap.Values[k].Data, &v); err != nil {
			return err
		}
		fmt.Printf("  %-18s %v\n", k, v)
	}
	return nil
}

func newADWID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
