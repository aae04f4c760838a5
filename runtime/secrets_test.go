package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stategen/stategen/runtime"
)

const (
	hexKey1 = "1111111111111111111111111111111111111111111111111111111111111111"
	hexKey2 = "2222222222222222222222222222222222222222222222222222222222222222"
)

func mustKeys(t testing.TB, spec string) *runtime.Keyring {
	t.Helper()
	k, err := runtime.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKeyring(t *testing.T) {
	k := mustKeys(t, "new:"+hexKey2+",old:"+hexKey1)
	if k.Primary() != "new" {
		t.Errorf("primary %q, want the first key", k.Primary())
	}
	file := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(file, []byte("# rotated 2026-12\nnew:"+hexKey2+"\n\nold:"+hexKey1+"\n"), 0o600)
	if k := mustKeys(t, file); k.Primary() != "new" {
		t.Errorf("from a file: primary %q", k.Primary())
	}
	line, err := runtime.NewKey("k9")
	if err != nil || mustKeys(t, line).Primary() != "k9" {
		t.Errorf("NewKey: %q, %v", line, err)
	}
	for spec, want := range map[string]string{
		"a:" + hexKey1[:62] + "zz":            "not 64 hexadecimal digits",
		"a:" + hexKey1 + ",a:" + hexKey2:      "given twice",
		"bad id:" + hexKey1:                   "key id",
		filepath.Join(t.TempDir(), "missing"): "no such file",
	} {
		_, err := runtime.ParseKeyring(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.20s...: %v, want an error saying %q", spec, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), hexKey1[:16]) || strings.Contains(err.Error(), hexKey2[:16])) {
			t.Errorf("an error prints key material: %v", err)
		}
	}
}

// secretState has one secret field.
type secretState struct {
	ID    string
	Token string
	Port  int
}

func secretSchema(version int, migrations map[int]runtime.MigrationFunc) *runtime.Schema[secretState] {
	token := "token"
	if version > 1 {
		token = "api_token"
	}
	return &runtime.Schema[secretState]{Name: "Secret", Version: version, Migrations: migrations, Fields: []runtime.Field[secretState]{
		runtime.FieldOf(&runtime.Key[string]{Name: "id", Required: true, Codec: runtime.StringCodec}, func(v *secretState) *string { return &v.ID }),
		runtime.FieldOf(&runtime.Key[string]{Name: token, Secret: true, Codec: runtime.StringCodec}, func(v *secretState) *string { return &v.Token }),
		runtime.FieldOf(&runtime.Key[int]{Name: "port", Codec: runtime.IntCodec}, func(v *secretState) *int { return &v.Port }),
	}}
}

// TestSealedSecrets: sealed on every kind of generated write, opened on
// every kind of read; a migration renaming a secret key sees it in the
// clear and seals it for its new key; errors never show the value.
func TestSealedSecrets(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	st, err := runtime.Open(ctx, url, runtime.WithKeys(mustKeys(t, "k1:"+hexKey1)), runtime.WithoutCache())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, _ := runtime.NewStateStore(st, "ns", secretSchema(1, nil))
	token := &runtime.Key[string]{Name: "token", Secret: true, Codec: runtime.StringCodec}
	sealed := func(what string) {
		t.Helper()
		v, err := st.Get(ctx, "ns", "token")
		if err != nil || !runtime.IsSealed(v.Data) || bytes.Contains(v.Data, []byte("hunter")) {
			t.Fatalf("%s: stored token %s, %v", what, v.Data, err)
		}
	}
	if err := s.Save(ctx, &secretState{ID: "a", Token: "hunter1"}); err != nil {
		t.Fatal(err)
	}
	sealed("whole-struct Save")
	if err := token.Save(ctx, s, "hunter2"); err != nil {
		t.Fatal(err)
	}
	sealed("per-field Save")
	if got, err := token.Load(ctx, s); err != nil || got != "hunter2" {
		t.Fatalf("per-field Load: %q, %v", got, err)
	}
	if _, err := token.Update(ctx, s, func(v string) (string, error) { return v + "3", nil }); err != nil {
		t.Fatal(err)
	}
	sealed("per-field Update")
	if _, err := s.Update(ctx, func(v *secretState) error { v.Token += "4"; return nil }); err != nil {
		t.Fatal(err)
	}
	sealed("whole-struct Update")
	if got, err := s.Load(ctx); err != nil || got.Token != "hunter234" {
		t.Fatalf("Load: %+v, %v", got, err)
	}
	if got, err := runtime.Load(ctx, st, "ns", "token", runtime.StringCodec); err != nil || got != "hunter234" {
		t.Fatalf("runtime.Load: %q, %v", got, err)
	}
	// A sealed value of the wrong type: the error does not show it.
	if _, err := runtime.Load(ctx, st, "ns", "token", runtime.IntCodec); !errors.Is(err, runtime.ErrTypeMismatch) || strings.Contains(err.Error(), "hunter") {
		t.Errorf("type mismatch of a sealed value: %v", err)
	}

	// Version 2 renames the secret key: the step sees it in the clear, the
	// write-back seals it for its new name.
	v2 := secretSchema(2, map[int]runtime.MigrationFunc{1: func(m *runtime.Migration) error {
		raw, _ := m.Get("token")
		if !strings.Contains(string(raw), "hunter") {
			return fmt.Errorf("the migration sees %s, not the value", raw)
		}
		return m.Rename("token", "api_token")
	}})
	s2, _ := runtime.NewStateStore(st, "ns", v2)
	if got, err := s2.Load(ctx); err != nil || got.Token != "hunter234" {
		t.Fatalf("migrated: %+v, %v", got, err)
	}
	if v, _ := st.Get(ctx, "ns", "api_token"); !runtime.IsSealed(v.Data) {
		t.Errorf("renamed secret stored as %s", v.Data)
	}
}

// TestPlainWithoutKeys: without keys a secret is stored as it is, and a
// warning says so once.
func TestPlainWithoutKeys(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	t.Setenv(runtime.EnvKeys, "")
	st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "state.db"), runtime.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, _ := runtime.NewStateStore(st, "ns", secretSchema(1, nil))
	for range 3 {
		if err := s.Save(ctx, &secretState{ID: "a", Token: "hunter1"}); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := st.Get(ctx, "ns", "token"); string(v.Data) != `"hunter1"` {
		t.Errorf("stored %s", v.Data)
	}
	if n := strings.Count(logs.String(), "unencrypted"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

// TestRekey: values sealed under k1, in the state and a checkpoint, and a
// secret stored before keys were configured, all end up under k2.
func TestRekey(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	open := func(opts ...runtime.Option) *runtime.Store {
		st, err := runtime.Open(ctx, url, append(opts, runtime.WithoutCache())...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	t.Setenv(runtime.EnvKeys, "")
	plain := open()
	p, _ := runtime.NewStateStore(plain, "early", secretSchema(1, nil))
	if err := p.Save(ctx, &secretState{ID: "a", Token: "before-keys"}); err != nil {
		t.Fatal(err)
	}
	k1 := open(runtime.WithKeys(mustKeys(t, "k1:"+hexKey1)))
	s, _ := runtime.NewStateStore(k1, "ns", secretSchema(1, nil))
	s.Save(ctx, &secretState{ID: "a", Token: "in-checkpoint"})
	s.Checkpoint(ctx, "cp")
	s.Save(ctx, &secretState{ID: "a", Token: "now"})

	both := open(runtime.WithKeys(mustKeys(t, "k2:"+hexKey2+",k1:"+hexKey1)))
	if err := both.CheckSealed(ctx, "ns"); err == nil || !strings.Contains(err.Error(), "sealed under key k1") {
		t.Errorf("before the rekey: %v", err)
	}
	for ns, want := range map[string]runtime.RekeyResult{"ns": {Values: 1, Checkpoints: 1}, "early": {Values: 1}} {
		res, err := both.Rekey(ctx, ns)
		if err != nil || res.Values != want.Values || res.Checkpoints != want.Checkpoints {
			t.Errorf("rekey %s: %+v, %v", ns, res, err)
		}
		if res, _ := both.Rekey(ctx, ns); res.Values+res.Checkpoints != 0 {
			t.Errorf("rekey %s again did %+v", ns, res)
		}
	}
	k2 := open(runtime.WithKeys(mustKeys(t, "k2:"+hexKey2)))
	for ns, want := range map[string]string{"ns": "now", "early": "before-keys"} {
		if err := k2.CheckSealed(ctx, ns); err != nil {
			t.Errorf("after the rekey: %v", err)
		}
		s, _ := runtime.NewStateStore(k2, ns, secretSchema(1, nil))
		if got, err := s.Load(ctx); err != nil || got.Token != want {
			t.Errorf("%s with k2 alone: %+v, %v", ns, got, err)
		}
	}
	cp, _ := k2.GetCheckpoint(ctx, "ns", "cp")
	if plain, err := k2.Unseal("ns", "token", cp.Values["token"].Data); err != nil || string(plain) != `"in-checkpoint"` {
		t.Errorf("checkpoint with k2 alone: %s, %v", plain, err)
	}
	if _, err := plain.Rekey(ctx, "ns"); !errors.Is(err, runtime.ErrDecrypt) {
		t.Errorf("rekey without keys: %v", err)
	}
}

// TestEnvelope: the sealed form is a JSON string naming its key.
func TestEnvelope(t *testing.T) {
	ctx := context.Background()
	st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "state.db"), runtime.WithKeys(mustKeys(t, "prod-2026:"+hexKey1)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ref := runtime.SchemaRef{Name: "S", Version: 1, Secret: []string{"t"}}
	if _, err := st.Apply(ctx, "ns", &runtime.Batch{Schema: &ref, Puts: []runtime.KV{{Key: "t", Value: json.RawMessage(`{"nested":[1,2]}`)}}}); err != nil {
		t.Fatal(err)
	}
	v, _ := st.Get(ctx, "ns", "t")
	var s string
	if err := json.Unmarshal(v.Data, &s); err != nil || !strings.HasPrefix(s, "stategen:v1:prod-2026:") {
		t.Fatalf("envelope %s", v.Data)
	}
	if id, ok := runtime.SealedKeyID(v.Data); !ok || id != "prod-2026" {
		t.Errorf("key id %q", id)
	}
	if plain, err := st.Unseal("ns", "t", v.Data); err != nil || string(plain) != `{"nested":[1,2]}` {
		t.Errorf("opened %s, %v", plain, err)
	}
	// Truncated: refused, naming the key.
	cut := append(append([]byte(nil), v.Data[:len(v.Data)-10]...), '"')
	if _, err := st.Unseal("ns", "t", cut); !errors.Is(err, runtime.ErrDecrypt) || !strings.Contains(err.Error(), "prod-2026") {
		t.Errorf("truncated: %v", err)
	}
}

// adwState is the example's 12-field ADW state with one secret field, a
// token, declared as generated code declares it.
type adwState struct {
	ADWID, IssueNumber, BranchName, PlanFile, IssueClass, WorktreePath string
	BackendPort, FrontendPort                                          int
	ModelSet                                                           string
	AllADWs, CompletedPhases                                           []string
	Token                                                              string
}

func adwSchema() *runtime.Schema[adwState] {
	str := func(name string, secret bool, f func(*adwState) *string) runtime.Field[adwState] {
		return runtime.FieldOf(&runtime.Key[string]{Name: name, Secret: secret, Codec: runtime.StringCodec}, f)
	}
	num := func(name string, f func(*adwState) *int) runtime.Field[adwState] {
		return runtime.FieldOf(&runtime.Key[int]{Name: name, Codec: runtime.IntCodec}, f)
	}
	list := func(name string, f func(*adwState) *[]string) runtime.Field[adwState] {
		return runtime.FieldOf(&runtime.Key[[]string]{Name: name, Codec: runtime.JSONCodec[[]string]()}, f)
	}
	return &runtime.Schema[adwState]{Name: "ADWState", Version: 1, Fields: []runtime.Field[adwState]{
		str("adw_id", false, func(v *adwState) *string { return &v.ADWID }),
		str("issue_number", false, func(v *adwState) *string { return &v.IssueNumber }),
		str("branch_name", false, func(v *adwState) *string { return &v.BranchName }),
		str("plan_file", false, func(v *adwState) *string { return &v.PlanFile }),
		str("issue_class", false, func(v *adwState) *string { return &v.IssueClass }),
		str("worktree_path", false, func(v *adwState) *string { return &v.WorktreePath }),
		num("backend_port", func(v *adwState) *int { return &v.BackendPort }),
		num("frontend_port", func(v *adwState) *int { return &v.FrontendPort }),
		str("model_set", false, func(v *adwState) *string { return &v.ModelSet }),
		list("all_adws", func(v *adwState) *[]string { return &v.AllADWs }),
		list("completed_phases", func(v *adwState) *[]string { return &v.CompletedPhases }),
		str("token", true, func(v *adwState) *string { return &v.Token }),
	}}
}

// BenchmarkSecretField measures whole-struct Save and Load of the 12-field
// ADW state with one secret field, plain (no keys) first and sealed second,
// on SQLite with synchronous=NORMAL (so that the sync does not hide the
// cost) and without a cache.
func BenchmarkSecretField(b *testing.B) {
	ctx := context.Background()
	v := &adwState{ADWID: "a1b2c3d4", IssueNumber: "42", BranchName: "feature-issue-42-adw-a1b2c3d4", PlanFile: "specs/issue-42-plan.md",
		IssueClass: "/feature", WorktreePath: "trees/a1b2c3d4", BackendPort: 9101, FrontendPort: 9201, ModelSet: "base",
		AllADWs: []string{"a1b2c3d4"}, CompletedPhases: []string{"plan", "build"}, Token: "ghp_0123456789abcdefghijklmnopqrstuvwxyz"}
	stores := []struct {
		name string
		opts []runtime.Option
	}{
		{"plain", nil},
		{"sealed", []runtime.Option{runtime.WithKeys(mustKeys(b, "k1:"+hexKey1))}},
	}
	open := func(b *testing.B, opts []runtime.Option) *runtime.StateStore[adwState] {
		b.Setenv(runtime.EnvKeys, "")
		st, err := runtime.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "state.db")+"?synchronous=normal",
			append(opts, runtime.WithoutCache(), runtime.WithLogger(slog.New(slog.DiscardHandler)))...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		s, err := runtime.NewStateStore(st, "a1b2c3d4", adwSchema())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Save(ctx, v); err != nil {
			b.Fatal(err)
		}
		return s
	}
	b.Run("Save", func(b *testing.B) {
		for _, s := range stores {
			b.Run(s.name, func(b *testing.B) {
				st := open(b, s.opts)
				for b.Loop() {
					if err := st.Save(ctx, v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
	b.Run("Load", func(b *testing.B) {
		for _, s := range stores {
			b.Run(s.name, func(b *testing.B) {
				st := open(b, s.opts)
				for b.Loop() {
					if _, err := st.Load(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}
