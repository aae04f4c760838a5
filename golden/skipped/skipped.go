// Package skipped has fields of every type a struct can hold but state
// cannot store, left out: the compile-time guard names them all.
package skipped

import (
	"io"
	"sync"
)

//go:generate go tool stategen gen --type=Run

// Run is a run with runtime-only fields beside its state.
type Run struct {
	sync.Mutex `state:"-"`
	Name       string                              `state:"name" json:"name,omitempty"`
	Done       chan struct{}                       `state:"-"`
	Events     <-chan int                          `state:"-"`
	Hook       func(int, ...string) (bool, error)  `state:"-"`
	Log        interface{ Printf(string, ...any) } `state:"-"`
	Out        io.Writer                           `state:"-"`
	Meta       struct {
		A int `json:"a"`
	} `state:"-"`
	//lint:ignore U1000 unexported: never stored
	scratch map[string]*Run
}
