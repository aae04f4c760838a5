package filestore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/stategen/stategen/runtime"
)

// Permissions of what the backend creates: state is private to its owner,
// whatever the umask. A file that exists keeps its mode when rewritten.
const (
	DirPerm  fs.FileMode = 0o700
	FilePerm fs.FileMode = 0o600
)

// URLPath returns the directory a file backend's URL names, scheme:DIR for
// a relative DIR (url.Parse puts it in Opaque) and scheme:/ABS or
// scheme:///ABS for an absolute one (in Path), and its query parameters.
func URLPath(u *url.URL) (string, url.Values, error) {
	if u.Host != "" {
		return "", nil, fmt.Errorf("URL names a host %q: use %s:relative/dir or %s:///absolute/dir", u.Host, u.Scheme, u.Scheme)
	}
	p := u.Opaque
	if p == "" {
		p = u.Path
	}
	if p == "" {
		return "", nil, fmt.Errorf("URL names no directory (%s:DIR)", u.Scheme)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("URL parameters: %w", err)
	}
	return p, q, nil
}

// Dir is a store directory. Every path it is given is relative to the
// directory, slash-separated, and resolved through an os.Root, so that no
// name, symbolic link or ".." ever reaches a file outside it. The directory
// is created by the first write, never by opening or reading. A Dir is safe
// for concurrent use.
type Dir struct {
	path string // absolute, for messages and for the lock library

	mu    sync.Mutex
	root  *os.Root // nil until the directory exists
	locks map[string]*procLock
}

// OpenDir returns the store directory at dir, which need not exist yet.
func OpenDir(dir string) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	d := &Dir{path: abs, locks: map[string]*procLock{}}
	if _, err := d.open(false); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return nil, err
	}
	return d, nil
}

// open returns the directory's root, creating the directory first if
// create is set; a directory that does not exist is an error wrapping
// runtime.ErrNotFound that says there is no store there.
func (d *Dir) open(create bool) (*os.Root, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.root != nil {
		return d.root, nil
	}
	root, err := os.OpenRoot(d.path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err = os.MkdirAll(d.path, DirPerm); err == nil {
			root, err = os.OpenRoot(d.path)
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, d.noStore()
	case err != nil:
		return nil, err
	}
	d.root = root
	return root, nil
}

func (d *Dir) noStore() error { return fmt.Errorf("no store at %s: %w", d.path, runtime.ErrNotFound) }

// Exists reports whether the directory exists.
func (d *Dir) Exists() bool {
	_, err := d.open(false)
	return err == nil
}

// Path is the directory's absolute path.
func (d *Dir) Path() string { return d.path }

// Join returns the full path of name inside the directory, for messages.
func (d *Dir) Join(name string) string { return filepath.Join(d.path, filepath.FromSlash(name)) }

// Close releases the directory.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.root == nil {
		return nil
	}
	return d.root.Close()
}

// ReadFile reads a whole file. A missing file, or a missing store, is an
// error matching fs.ErrNotExist.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	root, err := d.open(false)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: d.Join(name), Err: fs.ErrNotExist}
	}
	return root.ReadFile(name)
}

// ReadFileInfo reads a whole file, and returns what stat said of it when it
// was opened. A missing file, or a missing store, is an error matching
// fs.ErrNotExist.
func (d *Dir) ReadFileInfo(name string) ([]byte, fs.FileInfo, error) {
	fh, err := d.OpenFile(name)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := readAll(fh, fi.Size())
	if err != nil {
		return nil, nil, err
	}
	return data, fi, nil
}

// readAll reads an open regular file to its end, which stat put size bytes
// from its start: in one read, where the file has not grown since (a read
// that returns fewer bytes than asked for ends at the end of a regular
// file), else until a read finds the end.
func readAll(fh *os.File, size int64) ([]byte, error) {
	data := make([]byte, 0, size+512)
	for {
		want := cap(data) - len(data)
		n, err := fh.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF || err == nil && n < want && int64(len(data)) == size {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}

// OpenFile opens a file for reading.
func (d *Dir) OpenFile(name string) (*os.File, error) {
	root, err := d.open(false)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.Join(name), Err: fs.ErrNotExist}
	}
	return root.Open(name)
}

// Stat describes a file, following symbolic links that stay inside the
// directory.
func (d *Dir) Stat(name string) (fs.FileInfo, error) {
	root, err := d.open(false)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: d.Join(name), Err: fs.ErrNotExist}
	}
	return root.Stat(name)
}

// ReadDir lists a directory, sorted by name.
func (d *Dir) ReadDir(name string) ([]fs.DirEntry, error) {
	root, err := d.open(false)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: d.Join(name), Err: fs.ErrNotExist}
	}
	return fs.ReadDir(root.FS(), name)
}

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
		tmp, _, err := d.writeTemp(f)
		if err != nil {
			return err
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

// tempName is the one temporary name of a file. A leading dot keeps it out
// of every listing (names may not start with '.').
func tempName(name string) string {
	dir, base := path.Split(name)
	return dir + "." + base + ".tmp"
}

// writeTemp writes f's data to its temporary file, synced, with the mode of
// the file it will replace (FilePerm for a new one), and returns the
// temporary file's name and identity. Its modification time is set to now
// with nanosecond precision, and always later than the file it replaces, so
// that the identity changes on every write even within one tick of the
// kernel's clock.
func (d *Dir) writeTemp(f File) (string, fileID, error) {
	root, err := d.open(true)
	if err != nil {
		return "", fileID{}, err
	}
	if dir := path.Dir(f.Name); dir != "." {
		if err := root.MkdirAll(dir, DirPerm); err != nil {
			return "", fileID{}, fmt.Errorf("write %s: %w", d.Join(f.Name), err)
		}
	}
	tmp := tempName(f.Name)
	mode, mtime := FilePerm, time.Now()
	if old, err := root.Stat(f.Name); err == nil {
		mode = old.Mode().Perm()
		if !mtime.After(old.ModTime()) {
			mtime = old.ModTime().Add(time.Nanosecond)
		}
	}
	id, err := d.createTemp(root, tmp, f.Data, mode, mtime)
	if err != nil {
		root.Remove(tmp)
		return "", fileID{}, fmt.Errorf("write %s: %w", d.Join(f.Name), err)
	}
	return tmp, id, nil
}

func (d *Dir) createTemp(root *os.Root, tmp string, data []byte, mode fs.FileMode, mtime time.Time) (fileID, error) {
	fh, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fileID{}, err
	}
	defer fh.Close()
	if _, err := fh.Write(data); err != nil {
		return fileID{}, err
	}
	// The mode of the file replaced, whatever the umask (and a temporary
	// file left behind with another mode).
	if err := fh.Chmod(mode); err != nil {
		return fileID{}, err
	}
	if err := fh.Sync(); err != nil {
		return fileID{}, err
	}
	if err := root.Chtimes(tmp, mtime, mtime); err != nil {
		return fileID{}, err
	}
	fi, err := fh.Stat() // as the file system keeps it: its time may be coarser
	if err != nil {
		return fileID{}, err
	}
	return identify(fi, data), nil
}

// Remove deletes a file and syncs its directory. A missing file is an
// error matching fs.ErrNotExist.
func (d *Dir) Remove(name string) error {
	root, err := d.open(false)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: d.Join(name), Err: fs.ErrNotExist}
	}
	if err := root.Remove(name); err != nil {
		return err
	}
	return d.syncDir(path.Dir(name))
}

// Rename renames a file or directory and syncs the directory of each name.
func (d *Dir) Rename(from, to string) error {
	root, err := d.open(false)
	if err != nil {
		return &fs.PathError{Op: "rename", Path: d.Join(from), Err: fs.ErrNotExist}
	}
	if err := root.Rename(from, to); err != nil {
		return err
	}
	if err := d.syncDir(path.Dir(from)); err != nil {
		return err
	}
	if path.Dir(to) != path.Dir(from) {
		return d.syncDir(path.Dir(to))
	}
	return nil
}

// RemoveAll deletes name and everything under it.
func (d *Dir) RemoveAll(name string) error {
	root, err := d.open(false)
	if err != nil {
		return nil
	}
	return root.RemoveAll(name)
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

// IsNotExist reports whether err says a file or directory does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
