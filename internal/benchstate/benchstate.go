// Package benchstate is the workload of stategen's whole-struct
// benchmarks: an ADW run's state of 12 fields, declared the way generated
// code declares it, so that every backend's benchmarks save and load the
// same thing and compare it with the same raw rows.
package benchstate

import (
	"encoding/json"
	"fmt"

	"github.com/stategen/stategen/runtime"
)

// State is an ADW run's state: the 12 fields of the ADW example's, which
// the peer benchmarks' drivers (bench/peers/testdata) hold too.
type State struct {
	ADWID, IssueNumber, BranchName, PlanFile, IssueClass, WorktreePath string
	BackendPort, FrontendPort                                          int
	ModelSet                                                           string
	AllADWs                                                            []string
	CurrentPhase                                                       string
	CompletedPhases                                                    []string
}

func key[V any](name string, c *runtime.Codec[V]) *runtime.Key[V] {
	return &runtime.Key[V]{Name: name, Codec: c}
}

// BackendPort is the key of the field the one-field update workloads write.
var BackendPort = key("backend_port", runtime.IntCodec)

// Schema is State's schema, as stategen would generate it.
var Schema = &runtime.Schema[State]{Name: "ADWState", Version: 2, Fields: []runtime.Field[State]{
	runtime.FieldOf(&runtime.Key[string]{Name: "adw_id", Required: true, Codec: runtime.StringCodec}, func(v *State) *string { return &v.ADWID }),
	runtime.FieldOf(key("issue_number", runtime.StringCodec), func(v *State) *string { return &v.IssueNumber }),
	runtime.FieldOf(key("branch_name", runtime.StringCodec), func(v *State) *string { return &v.BranchName }),
	runtime.FieldOf(key("plan_file", runtime.StringCodec), func(v *State) *string { return &v.PlanFile }),
	runtime.FieldOf(key("issue_class", runtime.StringCodec), func(v *State) *string { return &v.IssueClass }),
	runtime.FieldOf(key("worktree_path", runtime.StringCodec), func(v *State) *string { return &v.WorktreePath }),
	runtime.FieldOf(BackendPort, func(v *State) *int { return &v.BackendPort }),
	runtime.FieldOf(key("frontend_port", runtime.IntCodec), func(v *State) *int { return &v.FrontendPort }),
	runtime.FieldOf(key("model_set", runtime.StringCodec), func(v *State) *string { return &v.ModelSet }),
	runtime.FieldOf(key("all_adws", runtime.StringsCodec), func(v *State) *[]string { return &v.AllADWs }),
	runtime.FieldOf(key("current_phase", runtime.StringCodec), func(v *State) *string { return &v.CurrentPhase }),
	runtime.FieldOf(key("completed_phases", runtime.StringsCodec), func(v *State) *[]string { return &v.CompletedPhases }),
}}

// Sample is the i-th state of a run: every field set, the backend port
// changing with i, as a save changes state.
func Sample(i int) *State {
	return &State{
		ADWID: "a1b2c3d4", IssueNumber: "42", BranchName: "feat-42-add-login", PlanFile: "specs/issue-42-plan.md",
		IssueClass: "/feature", WorktreePath: "trees/a1b2c3d4", BackendPort: 9100 + i%100, FrontendPort: 9200, ModelSet: "base",
		AllADWs: []string{"adw_plan_iso", "adw_build_iso"}, CurrentPhase: "build", CompletedPhases: []string{"plan"},
	}
}

// Values is s's fields in the schema's order, as a hand-written program
// would encode them one by one.
func (s *State) Values() []any {
	return []any{s.ADWID, s.IssueNumber, s.BranchName, s.PlanFile, s.IssueClass, s.WorktreePath,
		s.BackendPort, s.FrontendPort, s.ModelSet, s.AllADWs, s.CurrentPhase, s.CompletedPhases}
}

// Rows is Sample(i) as the key-value rows a hand-written program would
// store: each field's JSON under its key, in the schema's order.
func Rows(i int) [][2]string {
	vals := Sample(i).Values()
	rows := make([][2]string, len(vals))
	for j, v := range vals {
		js, _ := json.Marshal(v)
		rows[j] = [2]string{Schema.Fields[j].Key, string(js)}
	}
	return rows
}

// Decode fills a State from rows as a hand-written program would: one
// json.Unmarshal per field into its place.
func Decode(get func(key string) ([]byte, bool)) (*State, error) {
	s := new(State)
	dst := map[string]any{
		"adw_id": &s.ADWID, "issue_number": &s.IssueNumber, "branch_name": &s.BranchName, "plan_file": &s.PlanFile,
		"issue_class": &s.IssueClass, "worktree_path": &s.WorktreePath, "backend_port": &s.BackendPort,
		"frontend_port": &s.FrontendPort, "model_set": &s.ModelSet, "all_adws": &s.AllADWs,
		"current_phase": &s.CurrentPhase, "completed_phases": &s.CompletedPhases,
	}
	for k, p := range dst {
		if data, ok := get(k); ok {
			if err := json.Unmarshal(data, p); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	return s, nil
}
