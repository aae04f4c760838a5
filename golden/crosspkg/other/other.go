// Package other declares types another package's state uses.
package other

// Ref points at something.
type Ref struct {
	Kind string
	ID   int
}

// Pair is a generic pair.
type Pair[K comparable, V any] struct {
	Key   K
	Value V
}
