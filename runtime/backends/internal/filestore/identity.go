package filestore

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
)

// fileID identifies one version of a data file: what stat says of it
// (inode, size, modification time in nanoseconds) and the SHA-256 of its
// content. Every write of stategen's gives the file a new inode and a
// modification time of its own choosing, and every write of another
// program's (a rename over the file, or Python's truncate-and-write in
// place) changes the time or the inode, so two versions never share an
// identity, even when their bytes are equal.
type fileID struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	MTime  int64  `json:"mtime"`
	Inode  uint64 `json:"inode,omitempty"`
}

// statID is the part of an identity stat gives.
type statID struct {
	size, mtime int64
	inode       uint64
}

func statOf(fi fs.FileInfo) statID {
	ino, _ := inodeOf(fi)
	return statID{size: fi.Size(), mtime: fi.ModTime().UnixNano(), inode: uint64(ino)}
}

func (id *fileID) stat() statID { return statID{size: id.Size, mtime: id.MTime, inode: id.Inode} }

// identify is the identity of a file stat described as fi, holding data.
func identify(fi fs.FileInfo, data []byte) fileID {
	s := statOf(fi)
	return fileID{SHA256: hashOf(data), Size: s.size, MTime: s.mtime, Inode: s.inode}
}

func hashOf(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}
