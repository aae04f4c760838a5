//go:build unix

package filestore

import (
	"io/fs"
	"syscall"
)

// inodeOf returns the inode and device numbers of a file.
func inodeOf(fi fs.FileInfo) (ino, dev int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Ino), int64(st.Dev)
	}
	return 0, 0
}
