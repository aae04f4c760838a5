//go:build !unix

package fsstore

import "io/fs"

// fileID is zero where stat does not expose inode numbers; size and the
// nanosecond modification time WriteFiles sets still tell writes apart.
func fileID(fs.FileInfo) (ino, dev int64) { return 0, 0 }
