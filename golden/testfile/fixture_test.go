package testfile

// Fixture is only for tests.
type Fixture struct {
	Step int
}
