package fsstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stategen/stategen/runtime"
)

// CheckNames refuses the names the Store refuses. The backends check again
// so that a caller that skips the Store still cannot address a path outside
// a namespace directory, or stategen's reserved names.
func CheckNames(ns string, keys ...string) error {
	if err := runtime.ValidateName("namespace", ns); err != nil {
		return err
	}
	for _, k := range keys {
		if err := runtime.ValidateName("key", k); err != nil {
			return err
		}
	}
	return nil
}

// IsKey reports whether name is one stategen accepts as a key. A file's
// members with other names are not stategen's: backends neither show nor
// drop them.
func IsKey(name string) bool { return runtime.ValidateName("key", name) == nil }

// Namespaces lists, sorted, the subdirectories of the store whose names
// stategen accepts as namespaces and that hold at least one of the files or
// directories named by markers (paths relative to the subdirectory).
func (d *Dir) Namespaces(markers ...string) ([]string, error) {
	ents, err := d.ReadDir(".")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents { // sorted by ReadDir
		ns := e.Name()
		if runtime.ValidateName("namespace", ns) != nil {
			continue
		}
		for _, m := range markers {
			if _, err := d.Stat(ns + "/" + m); err == nil {
				out = append(out, ns)
				break
			}
		}
	}
	return out, nil
}

// Checkpoints lists namespace ns's checkpoints, kept in dir as NAME.json files, with
// names stategen accepts, reading each with read. A missing dir holds none;
// a checkpoint deleted since the listing is left out; one that read reports
// corrupt is listed with its name and that error, as runtime.Backend says.
func (d *Dir) Checkpoints(ns, dir string, read func(name string) (*runtime.Checkpoint, error)) ([]runtime.CheckpointInfo, error) {
	if err := CheckNames(ns); err != nil {
		return nil, err
	}
	ents, err := d.ReadDir(dir)
	if IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.Join(dir), err)
	}
	var out []runtime.CheckpointInfo
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || runtime.ValidateName("checkpoint", name) != nil {
			continue
		}
		cp, err := read(name)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			continue
		case errors.Is(err, runtime.ErrCorrupt):
			out = append(out, runtime.CheckpointInfo{Name: name, Err: err})
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, cp.CheckpointInfo)
	}
	return out, nil
}

// DeleteCheckpoint removes checkpoint name of namespace ns, the file path,
// while holding the lock lockFile; a missing one is runtime.ErrNotFound.
func (d *Dir) DeleteCheckpoint(ctx context.Context, ns, name, lockFile, path string) error {
	if err := CheckNames(ns); err != nil {
		return err
	}
	if err := runtime.ValidateName("checkpoint", name); err != nil {
		return err
	}
	err := d.RemoveLocked(ctx, lockFile, path)
	if IsNotExist(err) {
		return fmt.Errorf("checkpoint %q (%s): %w", name, d.Join(path), runtime.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete checkpoint %s: %w", d.Join(path), err)
	}
	return nil
}

// RemoveLocked removes the file name while holding the lock lockFile. A
// missing file is an error matching fs.ErrNotExist, found before locking so
// that removing nothing creates no lock file.
func (d *Dir) RemoveLocked(ctx context.Context, lockFile, name string) error {
	if _, err := d.Stat(name); err != nil {
		return err
	}
	unlock, err := d.Lock(ctx, lockFile)
	if err != nil {
		return err
	}
	defer unlock()
	return d.Remove(name)
}

// ParseBatch checks a batch's names (the Store did, but a backend used
// directly must not let a bad name reach a path) and parses the values to
// store. It returns them by key, the last one winning for a repeated key,
// and the keys in first-seen order.
func ParseBatch(ns string, b *runtime.Batch) (map[string]*Node, []string, error) {
	if err := CheckNames(ns, b.Deletes...); err != nil {
		return nil, nil, err
	}
	for _, c := range b.Conds {
		if c.Key != "" {
			if err := CheckNames(ns, c.Key); err != nil {
				return nil, nil, err
			}
		}
	}
	vals := make(map[string]*Node, len(b.Puts))
	var order []string
	for _, kv := range b.Puts {
		if err := CheckNames(ns, kv.Key); err != nil {
			return nil, nil, err
		}
		n, err := Parse(kv.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: value of key %q: %v", runtime.ErrInvalidValue, kv.Key, err)
		}
		if _, dup := vals[kv.Key]; !dup {
			order = append(order, kv.Key)
		}
		vals[kv.Key] = n
	}
	return vals, order, nil
}

// Existing keeps, of the namespaces listed, those with a checkpoint in
// ns/cpDir or for which holds reports that they hold a key or a schema: an
// emptied namespace is not listed, as on every backend.
func (d *Dir) Existing(namespaces []string, cpDir string, holds func(ns string) bool) []string {
	out := namespaces[:0]
	for _, ns := range namespaces {
		if ents, err := d.ReadDir(ns + "/" + cpDir); err == nil && len(ents) > 0 || holds(ns) {
			out = append(out, ns)
		}
	}
	return out
}
