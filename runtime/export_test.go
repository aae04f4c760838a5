package runtime

// SetGCFoundExpired sets the hook GC runs between finding a run expired
// and dropping it, for the tests of package runtime_test.
func SetGCFoundExpired(f func(ns string)) { gcFoundExpired = f }
