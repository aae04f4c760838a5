package filestore

import (
	"errors"
	"path"

	"golang.org/x/sys/unix"
)

// swap puts the temporary file tmp in name's place in one atomic step and
// reports whether tmp now holds the file it displaced, so that the caller
// can see what was there at that very instant: with renameat2's
// RENAME_EXCHANGE the two names trade files. It reports false when name did
// not exist (tmp is then renamed without replacing anything), and on file
// systems without the exchange, where tmp is renamed over name and the
// displaced file is gone. tmp and name share a directory.
func (d *Dir) swap(tmp, name string) (bool, error) {
	dir, err := d.root.Open(path.Dir(name))
	if err != nil {
		return false, err
	}
	defer dir.Close()
	fd := int(dir.Fd())
	from, to := path.Base(tmp), path.Base(name)
	for range 3 {
		err := unix.Renameat2(fd, from, fd, to, unix.RENAME_EXCHANGE)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.ENOENT):
			// No file to exchange with: create it, unless one appears.
			err = unix.Renameat2(fd, from, fd, to, unix.RENAME_NOREPLACE)
			if !errors.Is(err, unix.EEXIST) {
				return false, err
			}
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
			return false, unix.Renameat(fd, from, fd, to)
		default:
			return false, err
		}
	}
	return false, unix.Renameat(fd, from, fd, to)
}
