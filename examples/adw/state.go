package main

//go:generate go tool stategen gen --type=ADWState

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
// adw_state.json (its ADWStateData model), plus the phase bookkeeping a Go
// port needs to resume.
//
// The model's Optional fields are tagged nullzero: their zero value is
// Python's None, stored as null, so that a Go phase writes back the nulls
// a Python phase wrote, never "" or 0, which Python's validation refuses.
// model_set is Optional with "base" as its default; all_adws is a plain
// List[str] = [], never None: without nullzero an empty list is stored as
// [], and NewADWState starts it empty.
//
//stategen:version 1
type ADWState struct {
	ADWID           string     `state:"adw_id,required"`
	IssueNumber     string     `state:"issue_number,nullzero"`
	BranchName      string     `state:"branch_name,nullzero"`
	PlanFile        string     `state:"plan_file,nullzero"`
	IssueClass      IssueClass `state:"issue_class,nullzero"`
	WorktreePath    string     `state:"worktree_path,nullzero"`
	BackendPort     int        `state:"backend_port,nullzero"`
	FrontendPort    int        `state:"frontend_port,nullzero"`
	ModelSet        string     `state:"model_set,nullzero,default=\"base\""`
	AllADWs         []string   `state:"all_adws,default=[]"`
	CurrentPhase    string     `state:"current_phase"`
	CompletedPhases []string   `state:"completed_phases"`
}
