package runtime

import (
	"fmt"
	"strings"
)

// ReservedPrefix starts the names of the keys the runtime keeps in a
// namespace for its own bookkeeping (a run's lease, its labels and
// lineage). ValidateName refuses such names, so no user key can collide
// with one. Backends store reserved keys like any other, with one
// exception that the contract states on Batch.Replace: a Replace keeps
// them. Checkpoints do not copy them, and Restore leaves them as they are:
// they describe the run, not a version of its state.
const ReservedPrefix = "__"

// IsReserved reports whether key is one of the runtime's reserved keys.
func IsReserved(key string) bool { return strings.HasPrefix(key, ReservedPrefix) }

// ValidateStoredKey checks a key as a backend receives it: a name
// ValidateName accepts, or a reserved key (IsReserved) that would be one
// without its prefix. Backends that check names again (those whose names
// become paths) use it, so that the runtime's bookkeeping reaches them.
func ValidateStoredKey(key string) error {
	if IsReserved(key) {
		if err := ValidateName("key", "r"+key[len(ReservedPrefix):]); err != nil {
			return fmt.Errorf("%w: reserved key %q is not a valid name", ErrInvalidName, key)
		}
		return nil
	}
	return ValidateName("key", key)
}

// withoutReserved returns values without the reserved keys, itself when it
// holds none.
func withoutReserved(values map[string]Value) map[string]Value {
	n := 0
	for k := range values {
		if IsReserved(k) {
			n++
		}
	}
	if n == 0 {
		return values
	}
	out := make(map[string]Value, len(values)-n)
	for k, v := range values {
		if !IsReserved(k) {
			out[k] = v
		}
	}
	return out
}
