package runtime

import "time"

// LeaseInfo is a run's lease as listings show it: who holds it, its
// fencing token, and when it was taken and ends. It is the JSON value of
// the reserved key __lease.
type LeaseInfo struct {
	Holder   string    `json:"holder"`
	Token    int64     `json:"token"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}
