// Package errnullzero has fields that cannot take the options they are given.
package errnullzero

// Limits holds a slice, so it is not comparable: its zero value cannot be told.
type Limits struct{ CPU []int }

// Opt misuses nullzero and default=.
type Opt struct {
	Ptr      *string `state:",nullzero"`
	Limits   Limits  `state:",nullzero"`
	Port     int     `state:",default=\"8080\""`
	Name     string  `state:",required,nullzero"`
	Fine     string  `state:",nullzero,default=\"x\""`
	FineList []int   `state:",nullzero"`
}
