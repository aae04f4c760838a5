// Package errcollision has a field whose accessors clash with the store's.
package errcollision

// Coll has a field named Checkpoint.
type Coll struct {
	Checkpoint string
}
