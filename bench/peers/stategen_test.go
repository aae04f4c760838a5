package peers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/postgres"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

// adwState is the 12 fields of the ADW example's state, as the peers'
// drivers hold them too (STATE in testdata).
type adwState struct {
	ADWID, IssueNumber, BranchName, PlanFile, IssueClass, WorktreePath string
	BackendPort, FrontendPort                                          int
	ModelSet                                                           string
	AllADWs                                                            []string
	CurrentPhase                                                       string
	CompletedPhases                                                    []string
}

func key[V any](name string) *runtime.Key[V] {
	return &runtime.Key[V]{Name: name, Codec: runtime.JSONCodec[V]()}
}

// backendPort is the field the update workload writes.
var backendPort = key[int]("backend_port")

var adwSchema = &runtime.Schema[adwState]{Name: "ADWState", Version: 2, Fields: []runtime.Field[adwState]{
	runtime.FieldOf(key[string]("adw_id"), func(s *adwState) *string { return &s.ADWID }),
	runtime.FieldOf(key[string]("issue_number"), func(s *adwState) *string { return &s.IssueNumber }),
	runtime.FieldOf(key[string]("branch_name"), func(s *adwState) *string { return &s.BranchName }),
	runtime.FieldOf(key[string]("plan_file"), func(s *adwState) *string { return &s.PlanFile }),
	runtime.FieldOf(key[string]("issue_class"), func(s *adwState) *string { return &s.IssueClass }),
	runtime.FieldOf(key[string]("worktree_path"), func(s *adwState) *string { return &s.WorktreePath }),
	runtime.FieldOf(backendPort, func(s *adwState) *int { return &s.BackendPort }),
	runtime.FieldOf(key[int]("frontend_port"), func(s *adwState) *int { return &s.FrontendPort }),
	runtime.FieldOf(key[string]("model_set"), func(s *adwState) *string { return &s.ModelSet }),
	runtime.FieldOf(key[[]string]("all_adws"), func(s *adwState) *[]string { return &s.AllADWs }),
	runtime.FieldOf(key[string]("current_phase"), func(s *adwState) *string { return &s.CurrentPhase }),
	runtime.FieldOf(key[[]string]("completed_phases"), func(s *adwState) *[]string { return &s.CompletedPhases }),
}}

var sampleState = adwState{
	ADWID: "a1b2c3d4", IssueNumber: "42", BranchName: "feat-42-add-login", PlanFile: "specs/issue-42-plan.md",
	IssueClass: "/feature", WorktreePath: "trees/a1b2c3d4", BackendPort: 9100, FrontendPort: 9200, ModelSet: "base",
	AllADWs: []string{"adw_plan_iso", "adw_build_iso"}, CurrentPhase: "build", CompletedPhases: []string{"plan"},
}

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
	stores := make([]*runtime.StateStore[adwState], writers)
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
