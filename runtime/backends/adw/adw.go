// Package adw is the stategen backend for the state files of the Python ADW
// (AI Developer Workflow) scripts, so that a Go port and the Python phases
// it replaces share one workflow run's state while the port is under way.
// Importing the package registers the URL scheme "adw": adw:DIR for a
// directory relative to the working directory (the Python scripts use
// adw:agents), adw:/ABS/DIR or adw:///ABS/DIR for an absolute one.
//
// # Layout
//
//	DIR/<adw_id>/adw_state.json                      the Python model's fields, as Python writes them
//	DIR/<adw_id>/.stategen/meta.json                 stategen's bookkeeping, and the keys Python does not know
//	DIR/<adw_id>/.stategen/checkpoints/<name>.json   checkpoints
//	DIR/<adw_id>/.stategen/lock                      the writers' lock file
//
// A namespace is one ADW id. adw_state.json is the flat JSON object of the
// Python model ADWStateData (adws/adw_modules/data_types.py), each member
// one key, written exactly as Python's ADWState.save writes it
// (json.dump(model.model_dump(), f, indent=2)): two-space indentation,
// non-ASCII escaped as \uXXXX, null for None, no trailing newline. Members a
// write does not touch stay byte for byte, in their order; new ones go at
// the end in the order the write gives them (a generated Save: the
// struct's). Members whose names stategen refuses (see
// runtime.ValidateName) are kept and not shown.
//
// Python's save builds its model from the state, so it drops every key the
// model does not declare. stategen therefore keeps only the model's keys in
// adw_state.json and every other key (a Go port's own, such as the phases
// it completed) in .stategen/meta.json, and presents both as one namespace,
// read and written atomically together. The model's keys are, by default,
// ADWStateData's fields (DefaultPythonKeys); a store whose Python model has
// others names them in the URL, adw:agents?python_keys=adw_id,issue_number,...
// (python_keys=* keeps every key in adw_state.json, for Python code that
// does not drop what it does not declare).
//
// With keys configured (STATEGEN_KEYS), the values of secret keys are
// stored sealed, here as in every store: a sealed value is a JSON string,
// which Python cannot read but its model still accepts where a str is
// expected. A store whose Python code needs a secret in the clear says so
// in its URL, adw:agents?secrets=plain, and keeps every secret value in
// plain text.
// A key in adw_state.json that the model does not declare (an earlier
// release's, or a hand edit's) is read from there and moved beside it by
// the next write of it.
//
// Python's save truncates adw_state.json and writes it in place, with no
// lock: a read that finds it empty or half written reads it again until it
// is whole; one that Python rewrote since stategen last described it gets a
// new revision, so that a compare-and-set based on anything read before it
// fails (see the filestore package, the one implementation both file
// backends share, for the bookkeeping and the atomic writes).
//
// Checkpoints are in the shape of the Python StateManager's JSON files, in
// .stategen/checkpoints where the ADW scripts never look. The backend cannot
// expire data by itself: the runtime applies a TTL
// (runtime.WithTTL), reading an idle run as not found and dropping it in
// Store.GC.
package adw

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/filestore"
)

func init() { runtime.Register("adw", open) }

// DefaultPythonKeys are the fields of the Python ADW model ADWStateData:
// the keys kept in adw_state.json unless the URL says otherwise.
var DefaultPythonKeys = []string{
	"adw_id", "issue_number", "branch_name", "plan_file", "issue_class",
	"worktree_path", "backend_port", "frontend_port", "model_set", "all_adws",
}

// format is the ADW scripts': the Python model's keys in a flat
// adw_state.json, the others beside it.
type format struct {
	python map[string]bool
	all    bool // every key in the file
	plain  bool // secrets=plain: secret values in the clear
}

// PlainSecrets reports whether the store keeps secret values in the clear
// (?secrets=plain), for Python code that reads them.
func (f format) PlainSecrets() bool { return f.plain }

func (format) Noun() string                                    { return "ADW id" }
func (format) DataFile() string                                { return "adw_state.json" }
func (format) CheckpointDir() string                           { return ".stategen/checkpoints" }
func (f format) InFile(key string) bool                        { return f.all || f.python[key] }
func (format) Unwrap(member []byte) ([]byte, time.Time, error) { return member, time.Time{}, nil }
func (format) Wrap(value []byte, _ time.Time) []byte           { return value }

func open(_ context.Context, u *url.URL, cfg runtime.Config) (runtime.Backend, error) {
	dir, q, err := filestore.URLPath(u)
	if err != nil {
		return nil, fmt.Errorf("adw: %w", err)
	}
	o := Options{PythonKeys: DefaultPythonKeys}
	for name, vals := range q {
		switch name {
		case "python_keys":
			o.PythonKeys = nil
			for _, v := range vals {
				for k := range strings.SplitSeq(v, ",") {
					if k != "*" {
						if err := runtime.ValidateName("key", k); err != nil {
							return nil, fmt.Errorf("adw: python_keys: %w", err)
						}
					}
					o.PythonKeys = append(o.PythonKeys, k)
				}
			}
		case "secrets":
			switch v := q.Get(name); v {
			case "plain":
				o.PlainSecrets = true
			case "sealed":
			default:
				return nil, fmt.Errorf("adw: secrets=%q: want sealed (the default) or plain", v)
			}
		default:
			return nil, fmt.Errorf("adw: unknown URL parameter %q (known: python_keys, secrets)", name)
		}
	}
	return Open(dir, o, cfg)
}

// Options are what an adw: URL's parameters say.
type Options struct {
	// PythonKeys are the keys the Python model declares, kept in
	// adw_state.json (DefaultPythonKeys for ADWStateData's); "*" keeps
	// every key there, for Python code that does not drop undeclared keys.
	PythonKeys []string
	// PlainSecrets keeps the values of secret keys in the clear even when
	// the Store has keys, for Python code that needs them (?secrets=plain).
	PlainSecrets bool
}

// Open opens the store in dir (the ADW scripts' agents directory), which
// the first write creates.
func Open(dir string, o Options, cfg runtime.Config) (runtime.Backend, error) {
	f := format{python: make(map[string]bool, len(o.PythonKeys)), plain: o.PlainSecrets}
	for _, k := range o.PythonKeys {
		f.python[k] = true
		f.all = f.all || k == "*"
	}
	b, err := filestore.Open(dir, f, cfg)
	if err != nil {
		return nil, fmt.Errorf("adw: %w", err)
	}
	return b, nil
}
