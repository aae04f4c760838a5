package backendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stategen/stategen/runtime"
)

// The keys the suite seals with. Fixed, so that worker processes, which
// get them through $STATEGEN_KEYS, have the same.
const (
	testKey1 = "k1:" + "1111111111111111111111111111111111111111111111111111111111111111"
	testKey2 = "k2:" + "2222222222222222222222222222222222222222222222222222222222222222"
)

func keyring(t testing.TB, spec string) *runtime.Keyring {
	t.Helper()
	k, err := runtime.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tokenState is a state type with one secret field, declared as generated
// code declares one.
type tokenState struct {
	ID    string
	Token string
}

func tokenSchema() *runtime.Schema[tokenState] {
	id := &runtime.Key[string]{Name: "id", Required: true, Codec: runtime.StringCodec}
	token := &runtime.Key[string]{Name: "token", Secret: true, Codec: runtime.StringCodec}
	return &runtime.Schema[tokenState]{Name: "Tokens", Version: 1, Fields: []runtime.Field[tokenState]{
		runtime.FieldOf(id, func(v *tokenState) *string { return &v.ID }),
		runtime.FieldOf(token, func(v *tokenState) *string { return &v.Token }),
	}}
}

// secretValue is a token no other part of a store could hold by chance.
func secretValue(i int) string { return fmt.Sprintf("ghp_SECRET_%04d_not_in_the_clear", i) }

// testSecrets: with keys, the values of secret keys are stored sealed, in
// the state and in checkpoints (the store's own client shows no plaintext),
// and typed reads open them. A sealed value moved to another key or run, or
// tampered with, does not open, and a Store without keys says it cannot
// decrypt; neither changes what is stored.
func testSecrets(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	st := open(t, url, runtime.WithKeys(keyring(t, testKey1)))
	s, err := runtime.NewStateStore(st, "run1", tokenSchema())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &tokenState{ID: "visible-id-value", Token: secretValue(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(ctx, "cp"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil || got.Token != secretValue(1) {
		t.Fatalf("typed load: %+v, %v", got, err)
	}
	raw, err := st.Get(ctx, "run1", "token")
	if err != nil || !runtime.IsSealed(raw.Data) {
		t.Fatalf("stored token %s (%v): not sealed", raw.Data, err)
	}
	if id, _ := runtime.SealedKeyID(raw.Data); id != "k1" {
		t.Errorf("sealed under %q, want k1", id)
	}
	if h.Raw != nil {
		dump := h.Raw(t, url)
		if !bytes.Contains(dump, []byte("visible-id-value")) {
			t.Fatalf("the raw store does not show the plain value: the check below would prove nothing\n%.2000s", dump)
		}
		if bytes.Contains(dump, []byte("SECRET")) {
			t.Errorf("the raw store holds the secret in the clear:\n%.2000s", dump)
		}
	}

	// Moved to another key, to another run, or tampered with: refused.
	sealed := raw.Data
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-5] ^= 0x01
	other, _ := runtime.NewStateStore(st, "run2", tokenSchema())
	for what, put := range map[string]func() error{
		"moved to another key": func() error {
			_, err := st.Apply(ctx, "run1", &runtime.Batch{Puts: []runtime.KV{{Key: "id", Value: sealed}}})
			return err
		},
		"moved to another run": func() error {
			_, err := st.Apply(ctx, "run2", &runtime.Batch{Puts: []runtime.KV{{Key: "id", Value: json.RawMessage(`"x"`)}, {Key: "token", Value: sealed}}})
			return err
		},
	} {
		if err := put(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if _, err := s.Load(ctx); !errors.Is(err, runtime.ErrDecrypt) {
		t.Errorf("a sealed value moved to another key: %v, want ErrDecrypt", err)
	}
	if _, err := other.Load(ctx); !errors.Is(err, runtime.ErrDecrypt) {
		t.Errorf("a sealed value moved to another run: %v, want ErrDecrypt", err)
	}
	if _, err := st.Apply(ctx, "run2", &runtime.Batch{Puts: []runtime.KV{{Key: "token", Value: tampered}}}); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Snapshot(ctx, "run2")
	if _, err := other.Load(ctx); !errors.Is(err, runtime.ErrDecrypt) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("a tampered value: %v, want ErrDecrypt without the value", err)
	}
	if after, _ := st.Snapshot(ctx, "run2"); !jsonEqual(t, snapValues(t, before), snapValues(t, after)) {
		t.Error("a refused read changed the stored state")
	}

	// Without keys: the checkpoint's value stays sealed and says so.
	plain := open(t, url, runtime.WithoutCache())
	cpStore, _ := runtime.NewStateStore(plain, "run1", tokenSchema())
	if err := cpStore.Restore(ctx, "cp"); err != nil {
		t.Fatal(err)
	}
	if _, err := cpStore.Load(ctx); !errors.Is(err, runtime.ErrDecrypt) || !strings.Contains(err.Error(), "k1") {
		t.Errorf("a sealed value without keys: %v, want ErrDecrypt naming the key", err)
	}
	if got, err := s.Load(ctx); err != nil || got.Token != secretValue(1) {
		t.Errorf("restored checkpoint, read with the key: %+v, %v", got, err)
	}
}

func snapValues(t testing.TB, snap *runtime.Snapshot) map[string]any {
	out := map[string]any{}
	if snap == nil {
		return out
	}
	for k, v := range snap.Values {
		out[k] = string(v.Data)
	}
	return out
}

// testRekeyAcrossKill: rekeying from k1 to k2, killed with kill -9 mid-way
// three times, loses nothing (every secret value opens with one key or the
// other and is what was written); run again, it finishes, and after it
// every value opens with k2 alone.
func testRekeyAcrossKill(t *testing.T, h Harness) {
	ctx := context.Background()
	url := h.NewURL(t)
	const runs, cps = 12, 3
	old := open(t, url, runtime.WithKeys(keyring(t, testKey1)))
	for r := range runs {
		s, _ := runtime.NewStateStore(old, fmt.Sprintf("run%02d", r), tokenSchema())
		for c := range cps {
			if err := s.Save(ctx, &tokenState{ID: fmt.Sprint(r), Token: secretValue(r*10 + c)}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Checkpoint(ctx, fmt.Sprint("cp", c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv(runtime.EnvKeys, testKey2+","+testKey1)
	both := open(t, url, runtime.WithoutCache()) // keys from the environment
	check := func(when string, st *runtime.Store) {
		t.Helper()
		for r := range runs {
			ns := fmt.Sprintf("run%02d", r)
			s, _ := runtime.NewStateStore(st, ns, tokenSchema())
			if v, err := s.Load(ctx); err != nil || v.Token != secretValue(r*10+cps-1) {
				t.Fatalf("%s: %s: %+v, %v", when, ns, v, err)
			}
			for c := range cps {
				cp, err := st.GetCheckpoint(ctx, ns, fmt.Sprint("cp", c))
				if err != nil {
					t.Fatalf("%s: %v", when, err)
				}
				plain, err := st.Unseal(ns, "token", cp.Values["token"].Data)
				if err != nil || string(plain) != `"`+secretValue(r*10+c)+`"` {
					t.Fatalf("%s: %s checkpoint cp%d: %s, %v", when, ns, c, plain, err)
				}
			}
		}
	}
	for round := range 3 {
		killMidway(t, "rekey", url, "", round)
		check(fmt.Sprint("after kill ", round), both)
	}
	if err := runWorker(ctx, "rekey", url, "", "", ""); err != nil {
		t.Fatal(err)
	}
	k2 := open(t, url, runtime.WithKeys(keyring(t, testKey2)), runtime.WithoutCache())
	for r := range runs {
		if err := k2.CheckSealed(ctx, fmt.Sprintf("run%02d", r)); err != nil {
			t.Errorf("after the rekey: %v", err)
		}
	}
	check("with the new key alone", k2)
}

// rekeyAll is the worker of testRekeyAcrossKill: it rekeys every
// namespace, with the keys of $STATEGEN_KEYS.
func rekeyAll(ctx context.Context, st *runtime.Store) error {
	names, err := st.Namespaces(ctx)
	if err != nil {
		return err
	}
	fmt.Println("started")
	for _, ns := range names {
		if _, err := st.Rekey(ctx, ns); err != nil {
			return err
		}
	}
	return nil
}
