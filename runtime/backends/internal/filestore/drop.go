package filestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/stategen/stategen/runtime"
)

var _ runtime.Dropper = (*Backend)(nil)

// Drop deletes a namespace's directory. Under the namespace's lock, it
// renames the directory to a hidden name (a leading dot, which no
// namespace has, so no listing or read sees it) in one atomic rename,
// synced, then removes that. A writer waiting on the lock takes the lock
// of the namespace's new directory instead. Every file in the directory
// goes, also those stategen did not write (in the ADW layout, what the
// workflow kept beside adw_state.json). A removal cut short by a crash
// leaves a hidden .drop-NS-* directory, which nothing reads and which can
// be deleted by hand. With ifRevision above 0, a namespace whose revision
// (as read under the lock, a write by Python adopted) is another, or
// cannot be read, is left as it is.
func (b *Backend) Drop(ctx context.Context, ns string, ifRevision int64) error {
	if err := checkNames(ns); err != nil {
		return err
	}
	if b.readOnly {
		return fmt.Errorf("drop %s %q: %w", b.f.Noun(), ns, runtime.ErrReadOnly)
	}
	if _, err := b.dir.Stat(ns); IsNotExist(err) {
		return b.notFound(ns)
	}
	unlock, err := b.dir.Lock(ctx, b.path(ns, lockFile))
	if err != nil {
		return err
	}
	defer unlock()
	st, err := b.load(ctx, ns, readLocked)
	if ifRevision > 0 {
		switch {
		case err != nil:
			return err
		case st.rev != ifRevision:
			return fmt.Errorf("%s %q: %w: expected revision %d, found %d", b.f.Noun(), ns, runtime.ErrConflict, ifRevision, st.rev)
		}
	}
	live := err != nil || st.exists()
	if cps, err := b.dir.ReadDir(b.path(ns, b.f.CheckpointDir())); err == nil && len(cps) > 0 {
		live = true
	}
	var r [8]byte
	rand.Read(r[:])
	trash := ".drop-" + ns + "-" + hex.EncodeToString(r[:])
	if err := b.dir.Rename(ns, trash); err != nil {
		return fmt.Errorf("drop %s %q: %w", b.f.Noun(), ns, err)
	}
	if err := b.dir.RemoveAll(trash); err != nil {
		// The namespace is gone all the same: only disk space is left.
		b.logger.Warn("stategen: could not remove a dropped namespace's directory", "dir", b.dir.Join(trash), "error", err)
	}
	if !live {
		return b.notFound(ns)
	}
	return nil
}
