//go:build !unix

package filestore

import "io/fs"

// inodeOf is zero where stat does not expose inode numbers; size and the
// nanosecond modification time WriteFiles sets still tell writes apart.
func inodeOf(fs.FileInfo) (ino, dev int64) { return 0, 0 }
