// Package errnotstruct asks for a type that is not a struct.
package errnotstruct

// Name is a string.
type Name string
