package runtime

import (
	"errors"
	"testing"
	"time"
)

// The relaxed cache orders what it keeps by revision, not by when writes
// complete: two writes through one Store can complete in the opposite
// order from the one they landed in.
func TestCacheOrdersWritesByRevision(t *testing.T) {
	c := newCache(cacheRelaxed, time.Hour)
	cached := func() any {
		e, ok := c.get("ns", "k")
		if !ok {
			return nil
		}
		return e.val
	}

	// Both saves begin; the one that landed second (revision 6) completes
	// and installs first, then the older one (revision 5) completes.
	before := c.marksOf("ns")
	c.wrote("ns", 6, nil)
	c.putWritten("ns", "k", before, cacheEntry{val: "newer", rev: 6})
	c.wrote("ns", 5, nil)
	c.putWritten("ns", "k", before, cacheEntry{val: "older", rev: 5})
	if got := cached(); got == "older" {
		t.Fatalf("the cache holds the older write (revision 5) over revision 6")
	}

	// The older completes first and installs; the newer then replaces it.
	before = c.marksOf("ns")
	c.wrote("ns", 7, nil)
	c.putWritten("ns", "k", before, cacheEntry{val: "seven", rev: 7})
	c.wrote("ns", 8, nil)
	c.putWritten("ns", "k", before, cacheEntry{val: "eight", rev: 8})
	if got := cached(); got != "eight" {
		t.Fatalf("cache holds %v, want eight", got)
	}

	// A write that failed while a save was under way may have landed after
	// it, at a revision nobody learned: the save installs nothing.
	before = c.marksOf("ns")
	c.wrote("ns", 0, errors.New("reply lost"))
	c.wrote("ns", 9, nil)
	c.putWritten("ns", "k", before, cacheEntry{val: "nine", rev: 9})
	if got := cached(); got != nil {
		t.Fatalf("cache holds %v after a concurrent write failed, want nothing", got)
	}

	// A read never replaces a newer entry, and never installs across a
	// write that happened while it read.
	before = c.marksOf("ns")
	c.wrote("ns", 10, nil)
	c.putWritten("ns", "k", before, cacheEntry{val: "ten", rev: 10})
	c.putRead("ns", "k", c.marksOf("ns"), cacheEntry{val: "stale read", rev: 9})
	if got := cached(); got != "ten" {
		t.Fatalf("cache holds %v, want ten: a read replaced a newer entry", got)
	}
	reading := c.marksOf("ns")
	c.wrote("ns", 11, nil)
	c.putRead("ns", "k", reading, cacheEntry{val: "read before the write", rev: 12})
	if got := cached(); got != nil {
		t.Fatalf("cache holds %v: a read that raced a write installed", got)
	}
}
