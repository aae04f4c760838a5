// Package fstest holds the small helpers the file backends' tests share.
package fstest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stategen/stategen/runtime"
)

// KV makes a put of a JSON value given as text.
func KV(key, value string) runtime.KV { return runtime.KV{Key: key, Value: json.RawMessage(value)} }

// Apply applies batch to ns and returns the new revision, failing the test
// on error.
func Apply(t testing.TB, b runtime.Backend, ns string, batch *runtime.Batch) int64 {
	t.Helper()
	rev, err := b.Apply(context.Background(), ns, batch)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return rev
}

// ReadFile returns a file's content, failing the test if it cannot.
func ReadFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// WriteFile writes a file as another program would, creating its directory.
func WriteFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
