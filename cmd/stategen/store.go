package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stategen/stategen/internal/redact"
	"github.com/stategen/stategen/internal/statediff"
	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/all" // every backend, chosen by the URL
)

// This file holds what the store commands share (opening the store, names,
// not-found errors, redaction, output) and the simple commands: namespaces,
// keys, load, save, delete and dump. checkpoint.go, diff.go and prune.go hold
// the others.

// withStore opens the store the global flags name, runs f on it with the
// env's context (which ends on SIGINT or SIGTERM), and closes the store.
func (e *env) withStore(f func(ctx context.Context, st *runtime.Store) error) error {
	return e.open(false, f)
}

// withReader is withStore for commands that only read: the store is opened
// read-only, so that one that does not exist is reported ("no store at")
// instead of being created, and nothing can be written.
func (e *env) withReader(f func(ctx context.Context, st *runtime.Store) error) error {
	return e.open(true, f)
}

func (e *env) open(readOnly bool, f func(ctx context.Context, st *runtime.Store) error) (err error) {
	ctx := e.ctx
	if ctx == nil { // an env made by a test
		ctx = context.Background()
	}
	st, err := openStore(ctx, e.Store, readOnly, e.stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", st.Name(), cerr)
		}
	}()
	err = f(ctx, st)
	if err != nil && ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return err
}

// openStore opens a store for one command: without a cache (a command
// reads once), read-only when it only reads, and with the store's warnings,
// such as a Redis server that would lose acknowledged writes on a restart,
// printed on stderr.
func openStore(ctx context.Context, rawURL string, readOnly bool, stderr io.Writer) (*runtime.Store, error) {
	opts := []runtime.Option{runtime.WithoutCache(), runtime.WithLogger(slog.New(warnings{stderr}))}
	if readOnly {
		opts = append(opts, runtime.ReadOnly())
	}
	st, err := runtime.Open(ctx, rawURL, opts...)
	if err != nil {
		return nil, openError(rawURL, err)
	}
	return st, nil
}

// openError rewords the runtime's error for a store that does not exist,
// and for a scheme no backend handles: its advice to import a backend
// package is for programs, not for users of this binary, which links them
// all.
func openError(rawURL string, err error) error {
	if rawURL == "" {
		rawURL = os.Getenv(runtime.EnvStore)
	}
	if rawURL == "" {
		rawURL = runtime.DefaultURL
	}
	if errors.Is(err, runtime.ErrNotFound) {
		return noStoreError(fmt.Sprintf("no store at %s: nothing was created (is the URL right?)", runtime.RedactURL(rawURL)))
	}
	if !errors.Is(err, runtime.ErrUnknownScheme) {
		return err
	}
	scheme := ""
	if u, perr := url.Parse(rawURL); perr == nil {
		scheme = u.Scheme
	}
	known := strings.Join(runtime.Schemes(), ", ")
	if scheme == "" {
		return fmt.Errorf("store URL %q has no scheme (known: %s)", runtime.RedactURL(rawURL), known)
	}
	return fmt.Errorf("unknown store scheme %q (known: %s)", scheme, known)
}

// noStoreError is the message for a store that does not exist; it matches
// runtime.ErrNotFound.
type noStoreError string

func (e noStoreError) Error() string { return string(e) }
func (e noStoreError) Unwrap() error { return runtime.ErrNotFound }

// checkNames validates kind, name pairs before the store is even opened, so
// that a bad name changes nothing, not even by creating a database file.
func checkNames(kindNames ...string) error {
	for i := 0; i+1 < len(kindNames); i += 2 {
		if err := runtime.ValidateName(kindNames[i], kindNames[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// keyValue reads namespace ns and its key: the snapshot (which carries the
// schema, and so which keys are secret) and the key's value, or an error
// naming what is absent.
func keyValue(ctx context.Context, st *runtime.Store, ns, key string) (*runtime.Snapshot, runtime.Value, error) {
	snap, err := statediff.Current(ctx, st, ns)
	if err != nil {
		return nil, runtime.Value{}, err
	}
	v, ok := snap.Values[key]
	if !ok {
		return nil, runtime.Value{}, fmt.Errorf("key %s not found in namespace %s", key, ns)
	}
	return snap, v, nil
}

// checkpointNotFound is the error for a checkpoint the runtime did not
// find: the namespace's own absence when that is the reason.
func checkpointNotFound(ctx context.Context, st *runtime.Store, ns, name string) error {
	if _, err := statediff.Current(ctx, st, ns); err != nil {
		return err
	}
	return fmt.Errorf("checkpoint %s not found in namespace %s", name, ns)
}

// secretFlags is the flag of the commands that print values.
type secretFlags struct {
	ShowSecrets bool `help:"Print the values of secret keys instead of [redacted]. Which keys are secret is recorded with the stored state's schema by the program that wrote it (and known for schemas linked into this binary); keys of state written without a schema print as stored."`
}

// schemaJSON is a schema as --json prints it: its name and version, null
// when none is recorded.
func schemaJSON(ref runtime.SchemaRef) *schemaName {
	if ref.Name == "" && ref.Version == 0 {
		return nil
	}
	return &schemaName{Name: ref.Name, Version: ref.Version}
}

// schemaName is a schema in --json output.
type schemaName struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// schemaText is a schema as tables print it.
func schemaText(ref runtime.SchemaRef) string {
	if ref.Name == "" && ref.Version == 0 {
		return "-"
	}
	return fmt.Sprintf("%s v%d", ref.Name, ref.Version)
}

// plural is "1 key", "2 keys": n and the noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// timeJSON is t in UTC for --json (RFC 3339 with its fraction), or null
// when the backend does not know it.
func timeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// timeText is t in UTC for tables (RFC 3339 to the second), or "-".
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// writeJSON prints v as indented JSON, values as they are (no HTML escaping).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// compactJSON is v on one line.
func compactJSON(v json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return string(v)
	}
	return b.String()
}

// newTable returns a tabwriter for aligned columns; Flush prints them.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

// keysCmd is 'stategen keys NS'.
type keysCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run) to list."`
}

func (keysCmd) Help() string {
	return `Prints a table of KEY, REVISION (the namespace revision that last wrote
the key) and UPDATED (when, in UTC; - where the backend does not record it),
sorted by key.

--json prints [{"key": "...", "revision": 7, "updated": "2025-01-02T03:04:05.123Z"}, ...],
with "updated" null where unknown.`
}

type keyJSON struct {
	Key      string     `json:"key"`
	Revision int64      `json:"revision"`
	Updated  *time.Time `json:"updated"`
}

func (c *keysCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace); err != nil {
		return err
	}
	return e.withReader(func(ctx context.Context, st *runtime.Store) error {
		snap, err := statediff.Current(ctx, st, c.Namespace)
		if err != nil {
			return err
		}
		keys := snap.Keys()
		if e.JSON {
			out := make([]keyJSON, 0, len(keys))
			for _, k := range keys {
				v := snap.Values[k]
				out = append(out, keyJSON{Key: k, Revision: v.Revision, Updated: timeJSON(v.Updated)})
			}
			return writeJSON(e.stdout, out)
		}
		tw := newTable(e.stdout)
		fmt.Fprintln(tw, "KEY\tREVISION\tUPDATED")
		for _, k := range keys {
			v := snap.Values[k]
			fmt.Fprintf(tw, "%s\t%d\t%s\n", k, v.Revision, timeText(v.Updated))
		}
		return tw.Flush()
	})
}

// loadCmd is 'stategen load NS KEY'.
type loadCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run)."`
	Key       string `arg:"" name:"KEY" help:"Key to print."`
	secretFlags
}

func (loadCmd) Help() string {
	return `Prints the key's stored JSON value: indented by two spaces when it is an
object or an array, as stored otherwise (a string keeps its quotes). A
secret key prints as [redacted] without --show-secrets.

--json prints the value itself as JSON ("[redacted]" for a secret).

An absent key or namespace fails with exit status 1.`
}

func (c *loadCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace, "key", c.Key); err != nil {
		return err
	}
	return e.withReader(func(ctx context.Context, st *runtime.Store) error {
		snap, v, err := keyValue(ctx, st, c.Namespace, c.Key)
		if err != nil {
			return err
		}
		red := redact.New(c.ShowSecrets, snap.Schema)
		vals, err := red.Open(st, c.Namespace, map[string]runtime.Value{c.Key: v})
		if err != nil {
			return err
		}
		v = vals[c.Key]
		if e.JSON {
			return writeJSON(e.stdout, red.Value(c.Key, v.Data))
		}
		if h, ok := red.Hidden(c.Key); ok {
			_, err := fmt.Fprintln(e.stdout, h)
			return err
		}
		data := bytes.TrimSpace(v.Data)
		if len(data) > 0 && (data[0] == '{' || data[0] == '[') {
			var b bytes.Buffer
			if err := json.Indent(&b, data, "", "  "); err == nil {
				data = b.Bytes()
			}
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", data)
		return err
	})
}

// saveCmd is 'stategen save NS KEY JSON'.
type saveCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run); created by its first key."`
	Key       string `arg:"" name:"KEY" help:"Key to write."`
	Value     string `arg:"" name:"JSON" help:"The value, as JSON: a string needs its quotes ('\"feat-1\"'); - reads it from standard input."`
}

func (saveCmd) Help() string {
	return `Stores the JSON value under the key, replacing what it held, and prints
"saved NS/KEY (revision N)" with the namespace's new revision. The value
must be valid JSON: quote a string for the shell and for JSON alike, as in
stategen save a1b2c3d4 branch_name '"feat-1"'. Nothing is stored when it is
not. save records no schema: the namespace keeps the one it had. The value
of a key that schema marks secret is stored sealed when keys are configured
(STATEGEN_KEYS), as the program that owns the state stores it.

--json prints {"namespace": "...", "key": "...", "revision": 7}.`
}

func (c *saveCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace, "key", c.Key); err != nil {
		return err
	}
	raw := []byte(c.Value)
	if c.Value == "-" {
		var err error
		if raw, err = io.ReadAll(e.stdin); err != nil {
			return fmt.Errorf("read the value for %s from standard input: %w", c.Key, err)
		}
	}
	value, err := parseValue(c.Key, raw)
	if err != nil {
		return err
	}
	return e.withStore(func(ctx context.Context, st *runtime.Store) error {
		b := &runtime.Batch{Puts: []runtime.KV{{Key: c.Key, Value: value}}}
		// A key the recorded schema marks secret is written as its program
		// writes it: sealed, when there are keys (on condition that the
		// schema is still that one).
		if schema, err := st.Schema(ctx, c.Namespace); err == nil && schema.IsSecret(c.Key) {
			b.Schema, b.IfSchema = &schema, &schema
		}
		rev, err := st.Apply(ctx, c.Namespace, b)
		if err != nil {
			return err
		}
		if e.JSON {
			return writeJSON(e.stdout, keyResult{Namespace: c.Namespace, Key: c.Key, Revision: rev})
		}
		_, err = fmt.Fprintf(e.stdout, "saved %s/%s (revision %d)\n", c.Namespace, c.Key, rev)
		return err
	})
}

// parseValue checks that raw is one JSON value and returns it compacted. Its
// error names the key and, for what looks like a bare word, shows how to
// quote it as a JSON string.
func parseValue(key string, raw []byte) (json.RawMessage, error) {
	var v json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		msg := fmt.Sprintf("value for %s is not valid JSON: %v", key, err)
		// A value that does not start like JSON is most likely a string
		// the shell unquoted.
		if s := strings.TrimSpace(string(raw)); s == "" || !strings.ContainsAny(s[:1], `{["-0123456789`) {
			quoted, _ := json.Marshal(s)
			msg += fmt.Sprintf("; a JSON string needs quotes: '%s'", quoted)
		}
		return nil, errors.New(msg)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// keyResult is what save and delete print with --json.
type keyResult struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Revision  int64  `json:"revision"`
}

// deleteCmd is 'stategen delete NS KEY'.
type deleteCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run)."`
	Key       string `arg:"" name:"KEY" help:"Key to remove."`
}

func (deleteCmd) Help() string {
	return `Removes the key and prints "deleted NS/KEY (revision N)" with the
namespace's new revision. An absent key or namespace fails with exit
status 1.

--json prints {"namespace": "...", "key": "...", "revision": 8}.`
}

func (c *deleteCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace, "key", c.Key); err != nil {
		return err
	}
	return e.withStore(func(ctx context.Context, st *runtime.Store) error {
		if _, _, err := keyValue(ctx, st, c.Namespace, c.Key); err != nil {
			return err
		}
		rev, err := st.Delete(ctx, c.Namespace, c.Key)
		if err != nil {
			return err
		}
		if e.JSON {
			return writeJSON(e.stdout, keyResult{Namespace: c.Namespace, Key: c.Key, Revision: rev})
		}
		_, err = fmt.Fprintf(e.stdout, "deleted %s/%s (revision %d)\n", c.Namespace, c.Key, rev)
		return err
	})
}

// dumpCmd is 'stategen dump NS'.
type dumpCmd struct {
	Namespace string `arg:"" name:"NS" help:"Namespace (workflow run) to print."`
	secretFlags
}

func (dumpCmd) Help() string {
	return `Prints a table of KEY and VALUE (compact JSON), sorted by key; secret
keys print as [redacted] without --show-secrets.

--json prints {"namespace": "...", "revision": 7, "schema": {"name": "ADWState",
"version": 2}, "values": {"key": value, ...}}, with "schema" null when the
state records none.`
}

type dumpJSON struct {
	Namespace string                     `json:"namespace"`
	Revision  int64                      `json:"revision"`
	Schema    *schemaName                `json:"schema"`
	Values    map[string]json.RawMessage `json:"values"`
}

func (c *dumpCmd) Run(e *env) error {
	if err := checkNames("namespace", c.Namespace); err != nil {
		return err
	}
	return e.withReader(func(ctx context.Context, st *runtime.Store) error {
		snap, err := statediff.Current(ctx, st, c.Namespace)
		if err != nil {
			return err
		}
		red := redact.New(c.ShowSecrets, snap.Schema)
		values, err := red.Open(st, c.Namespace, snap.Values)
		if err != nil {
			return err
		}
		if e.JSON {
			out := dumpJSON{Namespace: c.Namespace, Revision: snap.Revision, Schema: schemaJSON(snap.Schema), Values: map[string]json.RawMessage{}}
			for k, v := range values {
				out.Values[k] = red.Value(k, v.Data)
			}
			return writeJSON(e.stdout, out)
		}
		tw := newTable(e.stdout)
		fmt.Fprintln(tw, "KEY\tVALUE")
		for _, k := range snap.Keys() {
			val, hide := red.Hidden(k)
			if !hide {
				val = compactJSON(values[k].Data)
			}
			fmt.Fprintf(tw, "%s\t%s\n", k, val)
		}
		return tw.Flush()
	})
}
