//go:build unix

package fsstore

import (
	"io/fs"
	"syscall"
)

// fileID returns the inode and device numbers of a file.
func fileID(fi fs.FileInfo) (ino, dev int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Ino), int64(st.Dev)
	}
	return 0, 0
}
