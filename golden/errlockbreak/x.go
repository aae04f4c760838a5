// Package errlockbreak changed its state type without a version bump: its
// lock file says version 1 stored "branch" as a string and "port" as a
// number, which the type no longer does.
package errlockbreak

// Run is still at version 1.
type Run struct {
	BranchName string `state:"branch_name"`
	Port       string `state:"port"`
}
