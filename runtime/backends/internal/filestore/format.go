package filestore

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Format is a file layout: where a namespace's files go and how its data
// file holds each value. The backend does everything else (revisions,
// bookkeeping, locking, atomic replacement, checkpoints) the same for every
// format. The jsonfile and adw packages are the two formats.
type Format interface {
	// Noun names a namespace in messages ("namespace", "ADW id").
	Noun() string
	// DataFile is the name of a namespace's data file, which other
	// programs read and write too.
	DataFile() string
	// CheckpointDir is the directory of a namespace's checkpoint files,
	// relative to the namespace's directory.
	CheckpointDir() string
	// InFile reports whether key is kept in the data file. Other keys are
	// kept in stategen's bookkeeping beside it, where the programs that
	// rewrite the data file cannot drop them.
	InFile(key string) bool
	// Unwrap returns the value a member of the data file holds (JSON as
	// written) and when it was written, if the member says (zero if not).
	Unwrap(member []byte) (value []byte, updated time.Time, err error)
	// Wrap returns the member, as compact JSON, that holds value (compact
	// JSON) written at t.
	Wrap(value []byte, t time.Time) []byte
}

// An entry is how the Python StateManager's JSON backend keeps one value,
// {"value": V, "timestamp": T}, in its state files and checkpoints. T is the
// UTC time of the write as Python's datetime.utcnow().isoformat() writes it.
// stategen's checkpoints add "revision": the namespace revision that wrote
// the value.

// tsLayout is how Python's datetime.isoformat() writes a time without zone
// (when its microseconds are not zero, which it then leaves out).
const tsLayout = "2006-01-02T15:04:05.000000"

// UnwrapEntry returns an entry's value and time.
func UnwrapEntry(member []byte) ([]byte, time.Time, error) {
	v, ts, _, err := unwrapEntry(member)
	return v, ts, err
}

func unwrapEntry(member []byte) (value []byte, ts time.Time, rev int64, err error) {
	var tsRaw, revRaw []byte
	err = eachMember(member, func(rawKey, v []byte) { // the last of a repeated key, as parseObject
		switch {
		case isKeyNamed(rawKey, "value"):
			value = v
		case isKeyNamed(rawKey, "timestamp"):
			tsRaw = v
		case isKeyNamed(rawKey, "revision"):
			revRaw = v
		}
	})
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf(`want an object with a "value": %w`, err)
	}
	if value == nil {
		return nil, time.Time{}, 0, errors.New(`no "value"`)
	}
	if len(tsRaw) > 0 && tsRaw[0] == '"' {
		ts = parseTime(decodeString(tsRaw)) // informative only: an odd one is no reason to refuse the data
	}
	if revRaw != nil {
		rev, err = strconv.ParseInt(string(revRaw), 10, 64)
		if err != nil || rev < 0 {
			return nil, time.Time{}, 0, fmt.Errorf("revision %s is not a revision", revRaw)
		}
	}
	return value, ts, rev, nil
}

// WrapEntry returns the entry of value written at t.
func WrapEntry(value []byte, t time.Time) []byte { return appendEntry(nil, value, t, 0) }

// appendEntry appends an entry, with its revision when rev is positive.
func appendEntry(dst, value []byte, t time.Time, rev int64) []byte {
	dst = append(dst, `{"value":`...)
	dst = append(dst, value...)
	dst = append(dst, `,"timestamp":"`...)
	dst = t.UTC().AppendFormat(dst, tsLayout)
	dst = append(dst, '"')
	if rev > 0 {
		dst = append(dst, `,"revision":`...)
		dst = strconv.AppendInt(dst, rev, 10)
	}
	return append(dst, '}')
}

// parseTime reads Python's isoformat (no zone: UTC) or RFC 3339.
func parseTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
