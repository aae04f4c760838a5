// Package twotypes generates two state types at once.
package twotypes

//go:generate go tool stategen gen --type=Plan --type=Build

// Plan is one phase's state.
type Plan struct {
	File string
}

// Build is another's.
type Build struct {
	Worktree string
	Done     bool
}
