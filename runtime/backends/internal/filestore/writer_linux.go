package filestore

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// beingWritten reports whether some process has f open for writing, as a
// program rewriting the file in place does from its truncation to its last
// byte: a read lease (fcntl F_SETLEASE), which is taken and given back at
// once, cannot be had while one does. known is false where the lease cannot
// tell (not the file's owner, a file system without leases).
func beingWritten(f *os.File) (yes, known bool) {
	fd := int(f.Fd())
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK)
	switch {
	case err == nil:
		unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
		return false, true
	case errors.Is(err, unix.EAGAIN):
		return true, true
	}
	return false, false
}
