//go:build !linux

package filestore

// swap renames tmp over name. Without an atomic exchange the displaced file
// is gone, so swap reports false and the caller's check just before it is
// the last one.
func (d *Dir) swap(tmp, name string) (bool, error) {
	return false, d.root.Rename(tmp, name)
}
