package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/gofrs/flock"
)

// procLock lets one goroutine of this process at a time go for a lock file:
// flock locks belong to open file descriptions and a flock.Flock is not
// meant to be shared between goroutines, so the process takes its own turn
// before it asks the kernel. A buffered channel rather than a sync.Mutex,
// so that waiting can end with the context.
type procLock struct {
	ch   chan struct{}
	refs int // waiters and holder; the entry is dropped at zero
}

// Lock takes the write lock kept in the file lockFile (such as "ns/.lock"),
// creating the file and its directory if needed, and waits until it is free
// or ctx ends. The lock holds against other goroutines of this process and
// against other processes. The lock file is never replaced, only locked, so
// that every writer locks the same inode. unlock releases the lock.
func (d *Dir) Lock(ctx context.Context, lockFile string) (unlock func(), err error) {
	pl, err := d.lockProc(ctx, lockFile)
	if err != nil {
		return nil, err
	}
	fl, err := d.lockFile(ctx, lockFile)
	for tries := 0; err == errMoved && tries < 100; tries++ {
		fl, err = d.lockFile(ctx, lockFile)
	}
	if err != nil {
		d.unlockProc(lockFile, pl)
		return nil, err
	}
	return func() {
		fl.Unlock() // closing the descriptor releases the lock even if this fails
		d.unlockProc(lockFile, pl)
	}, nil
}

func (d *Dir) lockProc(ctx context.Context, name string) (*procLock, error) {
	d.mu.Lock()
	pl := d.locks[name]
	if pl == nil {
		pl = &procLock{ch: make(chan struct{}, 1)}
		d.locks[name] = pl
	}
	pl.refs++
	d.mu.Unlock()
	select {
	case pl.ch <- struct{}{}:
		return pl, nil
	case <-ctx.Done():
		d.mu.Lock()
		d.release(name, pl)
		d.mu.Unlock()
		return nil, fmt.Errorf("wait for lock %s: %w", d.Join(name), ctx.Err())
	}
}

func (d *Dir) unlockProc(name string, pl *procLock) {
	<-pl.ch
	d.mu.Lock()
	d.release(name, pl)
	d.mu.Unlock()
}

// release drops one reference; d.mu is held.
func (d *Dir) release(name string, pl *procLock) {
	if pl.refs--; pl.refs == 0 {
		delete(d.locks, name)
	}
}

func (d *Dir) lockFile(ctx context.Context, name string) (*flock.Flock, error) {
	root, err := d.open(true)
	if err != nil {
		return nil, err
	}
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, DirPerm); err != nil {
			return nil, fmt.Errorf("lock %s: %w", d.Join(name), err)
		}
	}
	// Create the file through the root, so that it cannot land outside the
	// directory, and remember which file that is.
	fh, err := root.OpenFile(name, os.O_RDONLY|os.O_CREATE, FilePerm)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", d.Join(name), err)
	}
	want, err := fh.Stat()
	fh.Close()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", d.Join(name), err)
	}
	// flock opens the file by path. Without O_CREATE it can create nothing,
	// and the identity check below refuses a path that was swapped for a
	// link to somewhere else in between.
	fl := flock.New(d.Join(name), flock.SetFlag(os.O_RDONLY))
	ok, err := fl.TryLock()
	if err == nil && !ok {
		err = waitLock(ctx, fl)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", d.Join(name), err)
	}
	got, err := fl.Stat()
	if err != nil || !os.SameFile(want, got) {
		fl.Unlock()
		return nil, fmt.Errorf("lock %s: the lock file was replaced while locking it (%v)", d.Join(name), err)
	}
	// A Drop renames the namespace's directory away, lock file and all,
	// while holding the lock: a writer that waited on that file holds a
	// lock nobody else will ask for, and must take the new one.
	if now, err := root.Stat(name); err != nil || !os.SameFile(now, got) {
		fl.Unlock()
		return nil, errMoved
	}
	return fl, nil
}

// errMoved says the lock file was moved away (its namespace dropped) while
// waiting for it: locking starts over on the file now at its path.
var errMoved = errors.New("the lock file was moved away while waiting for it")

// waitLock blocks in flock(2), which wakes the waiters in turn as soon as
// the holder lets go (polling would add latency and starve unlucky
// processes), and gives up when ctx ends. The kernel call cannot be
// interrupted, so an abandoned wait finishes in the background and lets go
// at once.
func waitLock(ctx context.Context, fl *flock.Flock) error {
	done := make(chan error, 1)
	go func() { done <- fl.Lock() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		go func() {
			if <-done == nil {
				fl.Unlock()
			}
		}()
		return ctx.Err()
	}
}
