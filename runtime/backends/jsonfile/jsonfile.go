// Package jsonfile is the stategen backend that keeps state in plain JSON
// files, in the layout of the JSON backend of the Python StateManager, so
// that the Python program and stategen read and write each other's state.
// Importing the package registers the URL scheme "json": json:DIR for a
// directory relative to the working directory, json:/ABS/DIR or
// json:///ABS/DIR for an absolute one. The Python program's own directory
// is json:.claude/state.
//
// # Layout
//
//	DIR/<namespace>/state.json                the namespace's keys, as Python writes them
//	DIR/<namespace>/checkpoints/<name>.json   one checkpoint, in the same shape
//	DIR/<namespace>/.stategen/meta.json       stategen's bookkeeping
//	DIR/<namespace>/.stategen/lock            the writers' lock file
//
// state.json is one JSON object, formatted as Python's
// json.dump(state, f, indent=2) formats it, with one entry per key:
//
//	{
//	  "branch_name": {
//	    "value": "feat/issue-42",
//	    "timestamp": "2025-01-02T03:04:05.123456"
//	  }
//	}
//
// "value" is the key's JSON value and "timestamp" the UTC time of its last
// write, as Python's datetime.utcnow().isoformat() writes it (RFC 3339 is
// accepted too). Nothing of stategen's goes into state.json, so Python's
// list_keys shows the keys and nothing else: revisions and the schema live
// in .stategen/meta.json, which names the version of state.json it
// describes (see the filestore package, the one implementation both file
// backends share). Members whose names stategen refuses (see
// runtime.ValidateName) are not stategen's: they are invisible to it and
// kept byte for byte by every write, as is every member a write does not
// touch.
//
// A checkpoint file is a copy of state.json (which is what Python's
// checkpoint writes) plus, in stategen's checkpoints, a reserved entry
// "__stategen__", first, that records the checkpoint's revision, schema,
// creation time, labels and the file's size, so that listing checkpoints
// reads only the start of each file; a checkpoint without it (written by
// Python) is read whole and dated by the file's modification time. Python's restore_checkpoint copies a
// stategen checkpoint over state.json with that entry, which Python's
// list_keys then shows until stategen's next write removes it.
//
// # Writes by other programs
//
// Python's writers know nothing of revisions or locks. A state.json that
// its bookkeeping does not describe was written by someone else: it gets a
// new revision, recorded by the next read, so a compare-and-set based on
// anything read before it fails, and no version of the file, not even one
// restoring earlier bytes, ever makes a revision go back. A write that
// finds the file changed under it starts over.
//
// The backend cannot expire data by itself: the runtime applies a TTL
// (runtime.WithTTL), reading an idle run as not found and dropping it in
// Store.GC.
package jsonfile

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/filestore"
)

func init() { runtime.Register("json", open) }

// format is the Python StateManager's: every key in state.json, each as an
// entry with its time.
type format struct{}

func (format) Noun() string                                    { return "namespace" }
func (format) DataFile() string                                { return "state.json" }
func (format) CheckpointDir() string                           { return "checkpoints" }
func (format) InFile(string) bool                              { return true }
func (format) Unwrap(member []byte) ([]byte, time.Time, error) { return filestore.UnwrapEntry(member) }
func (format) Wrap(value []byte, t time.Time) []byte           { return filestore.WrapEntry(value, t) }

func open(_ context.Context, u *url.URL, cfg runtime.Config) (runtime.Backend, error) {
	dir, q, err := filestore.URLPath(u)
	if err == nil && len(q) > 0 {
		err = fmt.Errorf("URL has parameters %q; this backend takes none", u.RawQuery)
	}
	if err != nil {
		return nil, fmt.Errorf("jsonfile: %w", err)
	}
	return Open(dir, cfg)
}

// Open opens the store in dir, which the first write creates.
func Open(dir string, cfg runtime.Config) (runtime.Backend, error) {
	b, err := filestore.Open(dir, format{}, cfg)
	if err != nil {
		return nil, fmt.Errorf("jsonfile: %w", err)
	}
	return b, nil
}
