// Package fsstore holds what stategen's file backends (jsonfile, adw) share:
// a store directory confined with os.Root, per-namespace write locks that
// hold across goroutines and processes, atomic file replacement, cheap file
// stamps, and an order-preserving JSON tree with a writer that emits exactly
// what Python's json.dump(obj, f, indent=2) emits.
package fsstore

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"
)

// Permissions of everything a file backend creates: state is private to its
// owner, whatever the umask.
const (
	DirPerm  fs.FileMode = 0o700
	FilePerm fs.FileMode = 0o600
)

// URLPath returns the directory a file backend's URL names: scheme:DIR for a
// relative DIR (url.Parse puts it in Opaque) and scheme:/ABS or
// scheme:///ABS for an absolute one (in Path).
func URLPath(u *url.URL) (string, error) {
	if u.Host != "" {
		return "", fmt.Errorf("URL names a host %q: use %s:relative/dir or %s:///absolute/dir", u.Host, u.Scheme, u.Scheme)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", fmt.Errorf("URL has parameters %q; this backend takes none", u.RawQuery)
	}
	p := u.Opaque
	if p == "" {
		p = u.Path
	}
	if p == "" {
		return "", fmt.Errorf("URL names no directory (%s:DIR)", u.Scheme)
	}
	return p, nil
}

// Dir is a store directory. Every path it is given is relative to the
// directory, slash-separated, and resolved through an os.Root, so that no
// name, symbolic link or ".." ever reaches a file outside it. A Dir is safe
// for concurrent use.
type Dir struct {
	path string // absolute, for messages and for the lock library
	root *os.Root

	mu    sync.Mutex
	locks map[string]*procLock
}

// Open opens the directory at dir, creating it (and its parents) if needed.
func Open(dir string) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, DirPerm); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, err
	}
	return &Dir{path: abs, root: root, locks: map[string]*procLock{}}, nil
}

// Path is the directory's absolute path.
func (d *Dir) Path() string { return d.path }

// Join returns the full path of name inside the directory, for messages.
func (d *Dir) Join(name string) string { return filepath.Join(d.path, filepath.FromSlash(name)) }

// Close releases the directory.
func (d *Dir) Close() error { return d.root.Close() }

// ReadFile reads a whole file.
func (d *Dir) ReadFile(name string) ([]byte, error) { return d.root.ReadFile(name) }

// Stat describes a file, following symbolic links that stay inside the
// directory.
func (d *Dir) Stat(name string) (fs.FileInfo, error) { return d.root.Stat(name) }

// ReadDir lists a directory, sorted by name.
func (d *Dir) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(d.root.FS(), name) }

// File is one file of an atomic write.
type File struct {
	Name string
	Data []byte
}

// WriteFiles replaces each file atomically: its data goes to a temporary
// file in the same directory, which is synced and renamed over the target,
// and then the directory is synced, so that after a crash a reader finds
// either the old or the new content, never a mix. Files are renamed in the
// order given; parent directories are created as needed.
//
// The caller holds the lock that covers the files: each file has one
// temporary name, ".NAME.tmp", so that one left behind by a writer that was
// killed is reused by the next write instead of piling up.
//
// Each new file's modification time is set to now with nanosecond precision,
// and always later than the file it replaces: the file's identity then
// changes on every write even within one tick of the kernel's clock, which
// is what FileStamp relies on.
func (d *Dir) WriteFiles(files ...File) (err error) {
	tmps := make([]string, 0, len(files))
	defer func() {
		if err != nil {
			for _, t := range tmps {
				if t != "" {
					d.root.Remove(t) // best effort: a leftover temp file is harmless
				}
			}
		}
	}()
	for _, f := range files {
		tmp, err := d.writeTemp(f)
		if err != nil {
			return fmt.Errorf("write %s: %w", d.Join(f.Name), err)
		}
		tmps = append(tmps, tmp)
	}
	dirs := map[string]bool{}
	for i, f := range files {
		if err := d.root.Rename(tmps[i], f.Name); err != nil {
			return fmt.Errorf("write %s: %w", d.Join(f.Name), err)
		}
		tmps[i] = ""
		dirs[path.Dir(f.Name)] = true
	}
	for dir := range dirs {
		if err := d.syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dir) writeTemp(f File) (string, error) {
	dir, base := path.Split(f.Name)
	if dir != "" {
		if err := d.root.MkdirAll(dir, DirPerm); err != nil {
			return "", err
		}
	}
	// A leading dot keeps temporary files out of every listing (names may
	// not start with '.').
	tmp := dir + "." + base + ".tmp"
	fh, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, FilePerm)
	if err != nil {
		return "", err
	}
	_, err = fh.Write(f.Data)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		mtime := time.Now()
		if old, serr := d.root.Stat(f.Name); serr == nil && !mtime.After(old.ModTime()) {
			mtime = old.ModTime().Add(time.Nanosecond)
		}
		err = d.root.Chtimes(tmp, mtime, mtime)
	}
	if err != nil {
		d.root.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// Remove deletes a file and syncs its directory. A missing file is an
// error matching fs.ErrNotExist.
func (d *Dir) Remove(name string) error {
	if err := d.root.Remove(name); err != nil {
		return err
	}
	return d.syncDir(path.Dir(name))
}

// syncDir makes a rename or removal in dir durable.
func (d *Dir) syncDir(dir string) error {
	if goruntime.GOOS == "windows" {
		// A directory handle cannot be synced there; NTFS journals the
		// rename itself.
		return nil
	}
	fh, err := d.root.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", d.Join(dir), err)
	}
	err = fh.Sync()
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", d.Join(dir), err)
	}
	return nil
}

// WriteSmall overwrites the start of an existing file in place, without
// replacing it: for a few bytes of advisory data kept in a lock file, which
// must never be renamed over.
func (d *Dir) WriteSmall(name string, data []byte) error {
	fh, err := d.root.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fh.WriteAt(data, 0)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// IsNotExist reports whether err says a file or directory does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
