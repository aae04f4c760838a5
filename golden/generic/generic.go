// Package generic uses generic instantiations as field types.
package generic

//go:generate go tool stategen gen --type=Holder

// Box holds one value.
type Box[T any] struct {
	Value T
}

// Holder holds boxes.
type Holder struct {
	Name  Box[string]
	Sizes Box[[]int]
	Nest  Box[Box[bool]]
}
