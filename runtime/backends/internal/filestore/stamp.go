package filestore

import (
	"io/fs"

	"github.com/stategen/stategen/runtime"
)

// FileStamp is a file's identity and version as far as stat tells: inode,
// size, modification time in nanoseconds and device. An atomic replace
// gives the file a new inode (the temporary file is created while the old
// one still exists, so the two never share one) and, for files written by
// WriteFiles, a strictly later modification time; so the stamp changes on
// every write. A missing file has the zero stamp.
func FileStamp(fi fs.FileInfo) runtime.Stamp {
	if fi == nil {
		return runtime.Stamp{}
	}
	ino, dev := inodeOf(fi)
	return runtime.Stamp{ino, fi.Size(), fi.ModTime().UnixNano(), dev}
}

// MixStamps folds several file stamps into one, for a namespace kept in more
// than one file. Any change of any of them changes the result except with
// negligible probability (FNV-1a over all the fields).
func MixStamps(stamps ...runtime.Stamp) runtime.Stamp {
	if len(stamps) == 1 {
		return stamps[0]
	}
	var out runtime.Stamp
	for i := range out {
		h := uint64(14695981039346656037) ^ uint64(i) // a different hash per slot
		for _, s := range stamps {
			for _, f := range s {
				for b := range 8 {
					h ^= uint64(f>>(8*b)) & 0xff
					h *= 1099511628211
				}
			}
		}
		out[i] = int64(h)
	}
	return out
}
