package redact_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stategen/stategen/internal/redact"
	"github.com/stategen/stategen/runtime"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)

// TestSecretKeys: the keys a recorded schema marks secret are hidden, unless
// secrets are to be shown.
func TestSecretKeys(t *testing.T) {
	ref := runtime.SchemaRef{Name: "unregistered", Version: 1, Secret: []string{"token"}}
	r := redact.New(false, ref)
	if h, ok := r.Hidden("token"); !ok || h != redact.Redacted {
		t.Errorf("Hidden(token) = %q, %v; want %q", h, ok, redact.Redacted)
	}
	if _, ok := r.Hidden("branch"); ok {
		t.Error("a key no schema marks secret is hidden")
	}
	if got := string(r.Value("token", json.RawMessage(`"hunter2"`))); got != `"[redacted]"` {
		t.Errorf("Value(token) = %s", got)
	}
	if got := string(r.Value("branch", json.RawMessage(`"main"`))); got != `"main"` {
		t.Errorf("Value(branch) = %s", got)
	}
	if _, ok := redact.New(true, ref).Hidden("token"); ok {
		t.Error("a Redactor told to show secrets hides one")
	}
}

// TestSealed: a sealed value prints as [encrypted] without keys; with them
// it is opened and is a secret.
func TestSealed(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	keys, err := runtime.ParseKeyring("k1:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	withKeys, err := runtime.Open(ctx, url, runtime.WithKeys(keys), runtime.WithoutCache())
	if err != nil {
		t.Fatal(err)
	}
	defer withKeys.Close()
	schema := runtime.SchemaRef{Name: "s", Version: 1, Keys: []string{"token"}, Secret: []string{"token"}}
	if _, err := withKeys.Apply(ctx, "ns", &runtime.Batch{Puts: []runtime.KV{{Key: "token", Value: json.RawMessage(`"hunter2"`)}}, Schema: &schema}); err != nil {
		t.Fatal(err)
	}
	snap, err := withKeys.Snapshot(ctx, "ns")
	if err != nil || !runtime.IsSealed(snap.Values["token"].Data) {
		t.Fatalf("stored %s, %v; want sealed", snap.Values["token"].Data, err)
	}
	// No schema given: a value opened is a secret all the same.
	r := redact.New(false)
	vals, err := r.Open(withKeys, "ns", snap.Values)
	if err != nil {
		t.Fatal(err)
	}
	if string(vals["token"].Data) != `"hunter2"` || !runtime.IsSealed(snap.Values["token"].Data) {
		t.Errorf("opened %s (input now %s)", vals["token"].Data, snap.Values["token"].Data)
	}
	if h, _ := r.Hidden("token"); h != redact.Redacted {
		t.Errorf("an opened value prints as %q", h)
	}
	shown := redact.New(true)
	if vals, err := shown.Open(withKeys, "ns", snap.Values); err != nil || string(shown.Value("token", vals["token"].Data)) != `"hunter2"` {
		t.Errorf("shown: %s, %v", vals["token"].Data, err)
	}

	without, err := runtime.Open(ctx, url, runtime.WithKeys(nil), runtime.WithoutCache())
	if err != nil {
		t.Fatal(err)
	}
	defer without.Close()
	r = redact.New(true)
	if _, err := r.Open(without, "ns", snap.Values); err != nil {
		t.Fatal(err)
	}
	if h, _ := r.Hidden("token"); h != redact.Encrypted {
		t.Errorf("a value without keys prints as %q, want %q", h, redact.Encrypted)
	}
}
