package sqlite

import (
	"errors"
	"strings"
	"testing"

	"github.com/stategen/stategen/runtime"
)

// pack is an entry as sqlSnapshot packs it.
func pack(key, rev, updated, length, value string) string {
	return key + "\x1f" + rev + "\x1f" + updated + "\x1f" + length + "\x1f" + value
}

func TestUnpackEntries(t *testing.T) {
	packed := pack("a", "3", "1796292609583856707", "7", `{"x":1}`) +
		pack("gone", "4", "5", "-1", "") + // a tombstone: its revision counts
		pack("", "2", "5", "-1", "") + // the marker
		pack("b", "1", "-5", "2", `""`)
	snap := &runtime.Snapshot{Values: map[string]runtime.Value{}}
	if err := unpackEntries("ns", []byte(packed), snap); err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 4 || len(snap.Values) != 2 || string(snap.Values["a"].Data) != `{"x":1}` ||
		snap.Values["a"].Revision != 3 || snap.Values["a"].Updated.UnixNano() != 1796292609583856707 || string(snap.Values["b"].Data) != `""` {
		t.Fatalf("unpacked %+v", snap)
	}
	// A value is its own slice: appending to it cannot reach the next.
	if a := snap.Values["a"].Data; cap(a) != len(a) {
		t.Errorf("a value's capacity runs %d bytes past its end, into the next entry", cap(a)-len(a))
	}
}

func TestUnpackEntriesDamaged(t *testing.T) {
	for name, packed := range map[string]string{
		"cut short":          pack("a", "1", "2", "7", `{"x":1}`)[:12],
		"length past end":    pack("a", "1", "2", "70", `{"x":1}`),
		"revision not a num": pack("a", "x", "2", "1", `1`),
		"time overflows":     pack("a", "1", "99999999999999999999", "1", `1`),
		"length below -1":    pack("a", "1", "2", "-2", `1`),
		"value not JSON":     pack("a", "1", "2", "3", "\x1f\x1f\x1f"),
	} {
		t.Run(name, func(t *testing.T) {
			snap := &runtime.Snapshot{Values: map[string]runtime.Value{}}
			err := unpackEntries("ns", []byte(packed), snap)
			if !errors.Is(err, runtime.ErrCorrupt) || !strings.Contains(err.Error(), "namespace ns") && !strings.Contains(err.Error(), "key a") {
				t.Fatalf("unpack of %q: %v, want ErrCorrupt naming where", packed, err)
			}
		})
	}
}

func TestAtoi(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "-1": -1, "9223372036854775807": 1<<63 - 1, "-9223372036854775807": -(1<<63 - 1)} {
		if got, ok := atoi([]byte(in)); !ok || got != want {
			t.Errorf("atoi(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-", "9223372036854775808", "12345678901234567890", "1a", "+1", " 1"} {
		if got, ok := atoi([]byte(in)); ok {
			t.Errorf("atoi(%q) = %d, want refused", in, got)
		}
	}
}
