package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stategen/stategen/runtime"
)

// phases run in this order.
var phases = []string{"plan", "build", "test", "review", "document"}

func isPhase(s string) bool { return slices.Contains(phases, s) }

// crashError is a phase dying as --fail-at asked, as a killed process would.
type crashError struct{ phase string }

func (e *crashError) Error() string {
	return fmt.Sprintf("phase %s crashed (simulated); its state is left behind: resume the run", e.phase)
}

// workflow runs phases against one store.
type workflow struct {
	st      *runtime.Store
	workdir string
	out     io.Writer
}

func (w *workflow) say(format string, args ...any) { fmt.Fprintf(w.out, format+"\n", args...) }

func newADWID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// start creates a run for an issue and returns its store.
func (w *workflow) start(ctx context.Context, issue string) (*ADWStateStore, error) {
	id := newADWID()
	s, err := NewADWStateStore(w.st, id)
	if err != nil {
		return nil, err
	}
	// NewADWState sets the defaults (model_set "base", all_adws []): Save
	// writes every field, so a literal would store zero values instead.
	v := NewADWState()
	v.ADWID, v.IssueNumber, v.IssueClass = id, issue, Feature
	v.AllADWs = append(v.AllADWs, id)
	v.WorktreePath = filepath.Join(w.workdir, "trees", id)
	return s, s.Save(ctx, v)
}

// run starts a run and does every phase.
func (w *workflow) run(ctx context.Context, issue, failAt string) error {
	s, err := w.start(ctx, issue)
	if err != nil {
		return err
	}
	w.say("run %s for issue #%s on %s", s.Namespace(), issue, w.st.Name())
	return w.phasesFrom(ctx, s, failAt)
}

// phasesFrom does the phases not yet completed, in order.
func (w *workflow) phasesFrom(ctx context.Context, s *ADWStateStore, failAt string) error {
	for _, p := range phases {
		done, err := s.LoadCompletedPhases(ctx)
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
		if slices.Contains(done, p) {
			continue
		}
		if err := w.phase(ctx, s, p, p == failAt); err != nil {
			return err
		}
	}
	v, err := s.Load(ctx)
	if err != nil {
		return err
	}
	w.say("run %s complete: %s", v.ADWID, strings.Join(v.CompletedPhases, ", "))
	return nil
}

// phase does one phase under the run's lease (see leased).
func (w *workflow) phase(ctx context.Context, s *ADWStateStore, p string, crash bool) error {
	return w.leased(ctx, s, p, func(ctx context.Context, s *ADWStateStore) error {
		return w.work(ctx, s, p, crash)
	})
}

// work does one phase: its work, its state, and a checkpoint.
func (w *workflow) work(ctx context.Context, s *ADWStateStore, p string, crash bool) error {
	if err := s.SaveCurrentPhase(ctx, p); err != nil {
		return err
	}
	v, err := s.Load(ctx)
	if err != nil {
		return err
	}
	if v.WorktreePath == "" {
		// A run another program started may have none yet (Python's None).
		v.WorktreePath = filepath.Join(w.workdir, "trees", v.ADWID)
	}
	switch p {
	case "plan":
		v.BranchName = fmt.Sprintf("feature-issue-%s-adw-%s", v.IssueNumber, v.ADWID)
		v.PlanFile = filepath.Join(w.workdir, "specs", fmt.Sprintf("issue-%s-adw-%s-plan.md", v.IssueNumber, v.ADWID))
		err = writeFile(v.PlanFile, fmt.Sprintf("# Plan for issue #%s\n\n1. build\n2. test\n", v.IssueNumber))
	case "build":
		v.BackendPort, v.FrontendPort = 9100+int(v.ADWID[0])%10, 9200+int(v.ADWID[0])%10
		err = writeFile(filepath.Join(v.WorktreePath, "main.go"), "package main\n")
	case "test", "review", "document":
		err = writeFile(filepath.Join(v.WorktreePath, p+".log"), p+" passed\n")
	}
	if err != nil {
		return err
	}
	if crash {
		// Half the phase's state is written, then the process dies: no
		// completed mark, no checkpoint. Resume restores the last good one.
		if err := s.SaveBranchName(ctx, v.BranchName+"-half-done"); err != nil {
			return err
		}
		w.say("  %-8s crashed", p)
		return &crashError{phase: p}
	}
	v.CompletedPhases = append(v.CompletedPhases, p)
	if err := s.Save(ctx, v); err != nil {
		return err
	}
	cp, err := s.Checkpoint(ctx, "after_"+p)
	if err != nil {
		return err
	}
	w.say("  %-8s done, checkpoint %s", p, cp.Name)
	return nil
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// resume restores the run's last checkpoint and does the remaining phases.
func (w *workflow) resume(ctx context.Context, id string) error {
	s, err := NewADWStateStore(w.st, id)
	if err != nil {
		return err
	}
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		return err
	}
	// The newest that can be read: a damaged one is listed, not usable.
	last := ""
	for _, cp := range cps {
		if cp.Err == nil {
			last = cp.Name
		}
	}
	if last == "" {
		return fmt.Errorf("run %s has no checkpoint to resume from", id)
	}
	if err := w.leased(ctx, s, "resume", func(ctx context.Context, s *ADWStateStore) error {
		return s.Restore(ctx, last)
	}); err != nil {
		return err
	}
	w.say("resume %s from checkpoint %s", id, last)
	return w.phasesFrom(ctx, s, "")
}

// status prints the run's typed state and its checkpoints.
func (w *workflow) status(ctx context.Context, id string) error {
	s, err := NewADWStateStore(w.st, id)
	if err != nil {
		return err
	}
	v, err := s.Load(ctx)
	if err != nil {
		return err
	}
	w.say("run %s, issue #%s (%s), branch %s", v.ADWID, v.IssueNumber, v.IssueClass, v.BranchName)
	w.say("  phase %s, completed [%s], model set %s, ports %d/%d", v.CurrentPhase, strings.Join(v.CompletedPhases, " "), v.ModelSet, v.BackendPort, v.FrontendPort)
	w.say("  plan %s, worktree %s", v.PlanFile, v.WorktreePath)
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		if cp.Err != nil {
			w.say("  checkpoint %-16s unreadable: %v", cp.Name, cp.Err)
			continue
		}
		keys := fmt.Sprintf("%d keys", cp.Keys)
		if cp.Keys == 1 {
			keys = "1 key"
		}
		w.say("  checkpoint %-16s revision %d, %s", cp.Name, cp.Revision, keys)
	}
	return nil
}

// pipe does one phase ADW-style: the state comes in as one flat JSON
// object on stdin (or a new run starts with --issue, or the phase works on
// the stored run id) and goes out the same way on stdout, so that phases
// chain with pipes as the Python scripts do.
func (w *workflow) pipe(ctx context.Context, p, issue, id string, stdin io.Reader) error {
	var s *ADWStateStore
	var in *runtime.Batch // the state stdin brings, to store under the lease
	var err error
	switch {
	case issue != "":
		s, err = w.start(ctx, issue)
	case id != "":
		if s, err = NewADWStateStore(w.st, id); err == nil {
			_, err = s.Load(ctx) // it must exist, and be an ADWState
		}
	default:
		s, in, err = w.fromStdin(stdin)
	}
	if err != nil {
		return err
	}
	quiet := &workflow{st: w.st, workdir: w.workdir, out: io.Discard}
	if err := quiet.leased(ctx, s, p, func(ctx context.Context, s *ADWStateStore) error {
		if in != nil {
			if _, err := s.Lease().Apply(ctx, in); err != nil {
				return err
			}
		}
		return quiet.work(ctx, s, p, false)
	}); err != nil {
		return err
	}
	snap, err := w.st.Snapshot(ctx, s.Namespace())
	if err != nil {
		return err
	}
	flat := map[string]json.RawMessage{}
	for k, v := range snap.Values {
		if !runtime.IsReserved(k) { // the run's lease is not its state
			flat[k] = v.Data
		}
	}
	out, err := json.MarshalIndent(flat, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w.out, "%s\n", out)
	return err
}

// fromStdin reads the flat JSON state on stdin and returns its run and the
// batch that stores it, which the caller applies under the run's lease.
// The keys are stored in the order they come in (a new adw_state.json lists
// them so); keys the state does not carry, such as the Go phases' own
// bookkeeping that Python's to_stdout leaves out, keep their stored values.
func (w *workflow) fromStdin(stdin io.Reader) (*ADWStateStore, *runtime.Batch, error) {
	data, err := io.ReadAll(stdin)
	if err != nil {
		return nil, nil, err
	}
	var flat map[string]json.RawMessage
	if err := json.Unmarshal(data, &flat); err != nil {
		return nil, nil, fmt.Errorf("reading the state from stdin (pipe in a previous phase, or give --issue or an ADW id): %w", err)
	}
	v, err := ADWStateSchema.Decode(flat)
	if err != nil {
		return nil, nil, fmt.Errorf("the state on stdin is not a valid ADWState, nothing was stored: %w", err)
	}
	s, err := NewADWStateStore(w.st, v.ADWID)
	if err != nil {
		return nil, nil, err
	}
	// One write: the schema recorded, on condition that stored state is not
	// of another version.
	ref := ADWStateSchema.Ref()
	b := &runtime.Batch{Schema: &ref, IfSchema: &ref}
	for _, k := range keysInOrder(data) {
		b.Puts = append(b.Puts, runtime.KV{Key: k, Value: flat[k]})
	}
	return s, b, nil
}

// keysInOrder lists the keys of a JSON object that decoded, in the order
// they are written, each once.
func keysInOrder(object []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(object))
	dec.Token() // {
	var keys []string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if k := tok.(string); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			break
		}
	}
	return keys
}

// demo runs the whole story: a run that crashes in test, its status, the
// resume, and the final status.
func (w *workflow) demo(ctx context.Context) error {
	w.say("== a run for issue #42 that crashes in the test phase")
	s, err := w.start(ctx, "42")
	if err != nil {
		return err
	}
	w.say("run %s on %s", s.Namespace(), w.st.Name())
	var crash *crashError
	if err := w.phasesFrom(ctx, s, "test"); !errors.As(err, &crash) {
		return fmt.Errorf("the run should have crashed in test, got %v", err)
	}
	w.say("\n== status after the crash (the branch name holds the crashed phase's half-written value)")
	if err := w.status(ctx, s.Namespace()); err != nil {
		return err
	}
	w.say("\n== resume")
	if err := w.resume(ctx, s.Namespace()); err != nil {
		return err
	}
	w.say("\n== status after the resume")
	return w.status(ctx, s.Namespace())
}
