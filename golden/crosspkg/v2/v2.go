// Package other is imported by a path ending in /v2, so a generator that
// guessed the name from the path would get it wrong.
package other

// Level is a level.
type Level int
