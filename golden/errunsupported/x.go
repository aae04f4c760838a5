// Package errunsupported has fields that would not survive JSON.
package errunsupported

// Hidden has no exported field.
type Hidden struct {
	//lint:ignore U1000 unexported on purpose: JSON would lose them
	a, b int
}

// OnlyOut can be written but not read.
type OnlyOut struct{}

// MarshalJSON writes it.
func (OnlyOut) MarshalJSON() ([]byte, error) { return []byte("{}"), nil }

// Bad has one field of each kind that is lost or changed by a round trip.
type Bad struct {
	Ch      chan int
	Fn      func()
	C       complex128
	Any     any
	Hidden  Hidden
	Out     OnlyOut
	FuncMap map[string]func()
	Keys    map[[2]int]string
	Anon    struct{ A int }
	Fine    string
}
