// Package filestore is the one implementation of runtime.Backend over a
// directory of JSON files that the jsonfile and adw backends share; each of
// them is a Format (where a namespace's files go and how its data file holds
// a value).
//
// # Layout
//
//	DIR/<namespace>/<data file>                 the keys, shared with the programs that use the format
//	DIR/<namespace>/.stategen/meta.json         stategen's bookkeeping
//	DIR/<namespace>/.stategen/lock              the writers' lock file
//	DIR/<namespace>/<checkpoint dir>/<name>.json checkpoints
//
// The data file is one JSON object, formatted as Python's
// json.dump(obj, f, indent=2) formats it. Its members whose names stategen
// accepts as keys are the namespace's keys (those the format keeps there,
// see Format.InFile); the others are not stategen's and every write keeps
// them, as it keeps byte for byte every member it does not put or delete.
//
// meta.json holds the namespace's revision, its schema, every key's
// revision, the keys the format keeps out of the data file ("extra"), and
// the identity of the data file it describes: inode, size, modification
// time in nanoseconds and SHA-256. It also describes ("prev") the state the
// last write replaced.
//
// # Writes
//
// A write holds the namespace's lock (flock(2) on .stategen/lock, and a
// mutex for the process's own goroutines), reads the namespace, checks the
// batch's conditions, writes the new data file to a temporary file (synced,
// with the old file's mode, or 0600), replaces meta.json (temporary file,
// sync, rename, sync of the directory), then puts the data file in place.
// A reader (or a crash) between the two renames finds the old data file,
// which prev describes: the old state, wholly, at its own revision.
//
// The programs sharing the data file take no lock: Python's ADW scripts
// truncate it and write it in place, the Python StateManager renames a new
// one over it. So a write looks at the data file again just before
// replacing it, and starts over (and so meets its conditions against the
// new version) if it changed since it was read; and it replaces it with
// renameat2's RENAME_EXCHANGE, which leaves the displaced file under the
// temporary name: a version another program wrote in that instant is put
// back, as though written just after, rather than lost.
//
// # Reads and foreign writes
//
// Readers take no lock. A data file that the bookkeeping does not describe
// was written by another program: its revision is one more than the
// bookkeeping's, and every key in it has that revision, so a compare-and-set
// based on anything read before fails. The read that first sees such a
// version records it in the bookkeeping (under the lock), so that the
// revision it reported stays that version's: a later version gets a later
// revision, and none, not even one restoring earlier bytes, makes a revision
// go back. A read-only store records nothing.
//
// A data file that does not parse may be half written by a program that
// writes in place: the read waits while some process has the file open for
// writing (up to ten seconds), and reports runtime.ErrCorrupt once none has.
// Corrupt files are never rewritten: writes to their namespace fail the same
// way until they are repaired.
//
// # Safety
//
// Every path goes through an os.Root of DIR, so nothing outside DIR is read
// or created whatever a name or a symbolic link says. Nothing is created by
// opening or reading a store: the first write creates the directory (0700).
// Values nested deeper than the files can be read back (MaxDepth) are
// refused with runtime.ErrInvalidValue.
package filestore
