package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

// Each phase takes the run's lease and gives it back; a second phase of a
// run whose lease another process holds exits with a clear message naming
// the holder and when its lease ends, and changes nothing.
func TestPhaseTakesTheRunsLease(t *testing.T) {
	ctx := context.Background()
	for name, url := range stores(t) {
		t.Run(name, func(t *testing.T) {
			flags := []string{"--store", url, "--workdir", t.TempDir()}
			code, out, errOut := adw(t, "", append([]string{"run"}, append(flags, "--issue", "9")...)...)
			if code != 0 {
				t.Fatalf("run: exit %d: %s", code, errOut)
			}
			id := runID.FindStringSubmatch(out)[1]
			st, err := runtime.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			info, err := st.LeaseInfo(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if info.Holder != "" || info.Token != int64(len(phases)) {
				t.Errorf("lease after the run: %+v; want released, token %d (one per phase)", info, len(phases))
			}

			// Another process is in the middle of a phase of the run.
			other, err := st.Acquire(ctx, id, "build-host:4242:build", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := st.Snapshot(ctx, id)
			code, _, errOut = adw(t, "", append([]string{"build"}, append(flags, id)...)...)
			if code != 1 || strings.Count(errOut, "\n") != 1 ||
				!strings.Contains(errOut, "run "+id+" is busy: build-host:4242:build holds its lease") ||
				!strings.Contains(errOut, other.Expires().UTC().Format(time.RFC3339)) {
				t.Errorf("a second build while one runs: exit %d, stderr %q; want 1 and one line naming the holder and when its lease ends", code, errOut)
			}
			if after, _ := st.Snapshot(ctx, id); after.Revision != before.Revision {
				t.Errorf("the refused phase wrote: revision %d -> %d", before.Revision, after.Revision)
			}

			// Once it is broken, the phase runs.
			if _, err := st.BreakLease(ctx, id); err != nil {
				t.Fatal(err)
			}
			if code, _, errOut := adw(t, "", append([]string{"build"}, append(flags, id)...)...); code != 0 {
				t.Errorf("build after the lease was broken: exit %d: %s", code, errOut)
			}
		})
	}
}

// A phase whose lease is taken over in the middle writes nothing more:
// its writes are fenced, and it reports the loss.
func TestPhaseFencedAfterTakeover(t *testing.T) {
	ctx := context.Background()
	st, err := runtime.Open(ctx, "sqlite:"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := &workflow{st: st, workdir: t.TempDir()}
	s, err := w.start(ctx, "5")
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = w.leased(ctx, s, "build", func(ctx context.Context, ls *ADWStateStore) error {
		// Stopped past its TTL, it was broken and taken over meanwhile.
		if _, err := st.BreakLease(ctx, s.Namespace()); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Acquire(ctx, s.Namespace(), "successor", time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := ls.SaveBranchName(ctx, "stale"); !errors.Is(err, runtime.ErrFenced) {
			t.Errorf("a field saved after the takeover: %v, want ErrFenced", err)
		}
		_, err := ls.Update(ctx, func(v *ADWState) error { v.CurrentPhase = "stale"; return nil })
		return err
	})
	if !errors.Is(err, runtime.ErrFenced) || !strings.Contains(err.Error(), "successor") {
		t.Errorf("phase after takeover: %v, want ErrFenced naming the successor", err)
	}
	after, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("the fenced phase changed the run:\n%s", d)
	}
}
