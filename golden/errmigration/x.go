// Package errmigration is at version 3 with one step missing and one of
// the wrong type.
package errmigration

// Step is at version 3.
//
//stategen:version 3
type Step struct {
	Phase string
}

// migrateStepV2 takes the wrong argument.
//
//lint:ignore U1000 the generator must refuse it, so nothing calls it
func migrateStepV2(m map[string]any) error { return nil }
