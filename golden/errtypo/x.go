// Package errtypo is asked for a type under a misspelled name.
package errtypo

// ADWState is the type meant.
type ADWState struct{ A string }
