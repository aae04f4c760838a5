package runtime

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest namespace, key or checkpoint name accepted.
const MaxNameLen = 128

// ValidateName checks a namespace, key or checkpoint name. kind ("namespace",
// "key", "checkpoint") only shapes the message.
//
// A name is 1 to MaxNameLen bytes of ASCII letters, digits, '_', '-' and '.',
// does not start with '.' and does not start with "__" (reserved for
// stategen's own bookkeeping). That keeps every name a safe single path
// element on any file system, a Redis key part that cannot change a hash slot
// ('{', '}') or break a SCAN pattern ('*', '?', '['), and printable in errors.
func ValidateName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty %s name", ErrInvalidName, kind)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %s name is %d bytes, longer than %d", ErrInvalidName, kind, len(name), MaxNameLen)
	case name[0] == '.':
		return fmt.Errorf("%w: %s name %q starts with '.'", ErrInvalidName, kind, name)
	case strings.HasPrefix(name, "__"):
		return fmt.Errorf("%w: %s name %q starts with \"__\", which stategen reserves", ErrInvalidName, kind, name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !nameByte(c) {
			return fmt.Errorf("%w: %s name %q has the character %q at byte %d (allowed: letters, digits, '_', '-', '.')", ErrInvalidName, kind, name, rune(c), i)
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}
