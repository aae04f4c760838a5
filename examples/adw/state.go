package main

//go:generate go run github.com/stategen/stategen/cmd/stategen gen --type=ADWState

// IssueClass is the kind of issue a run works on, as the Python ADW
// classifier names it.
type IssueClass string

// The issue classes.
const (
	Chore   IssueClass = "/chore"
	Bug     IssueClass = "/bug"
	Feature IssueClass = "/feature"
)

// ADWState is the state of one ADW run: the fields of Python ADW's
// adw_state.json, plus the phase bookkeeping a Go port needs to resume.
//
//stategen:version 1
type ADWState struct {
	ADWID           string     `state:"adw_id,required"`
	IssueNumber     string     `state:"issue_number"`
	BranchName      string     `state:"branch_name"`
	PlanFile        string     `state:"plan_file"`
	IssueClass      IssueClass `state:"issue_class"`
	WorktreePath    string     `state:"worktree_path"`
	BackendPort     int        `state:"backend_port"`
	FrontendPort    int        `state:"frontend_port"`
	ModelSet        string     `state:"model_set,default=\"base\""`
	AllADWs         []string   `state:"all_adws"`
	CurrentPhase    string     `state:"current_phase"`
	CompletedPhases []string   `state:"completed_phases"`
}
