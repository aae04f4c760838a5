package runtime

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// This file is encryption at rest of the values of secret keys: the keys
// that encrypt them, the envelope a sealed value is stored in, and where the
// Store seals and opens values.
//
// A sealed value is a JSON string, so that a program that validates the
// field's presence or type as a string (Python's pydantic) still accepts the
// state around it:
//
//	"stategen:v1:<key id>:<base64url(nonce || ciphertext || tag)>"
//
// The cipher is AES-256-GCM from the standard library: authenticated, fast
// where the processor has AES instructions (every amd64 and arm64 server),
// and needing no dependency. Each value gets a fresh random 96-bit nonce; the
// additional authenticated data is "stategen:v1", the namespace and the key,
// so a sealed value copied to another key or another run does not open.
// The plaintext is the value's JSON.

// EnvKeys names the environment variable Open reads keys from when no
// WithKeys option is given: inline keys or the path of a key file (see
// ParseKeyring).
const EnvKeys = "STATEGEN_KEYS"

const sealPrefix = "stategen:v1:"

// Keyring holds the keys that seal and open secret values: one primary,
// which seals, and any number of others, which only open (keys being
// retired: `stategen rekey` reseals their values under the primary).
type Keyring struct {
	primary string
	keys    map[string]cipher.AEAD
}

// NewKeyring makes a keyring of 32-byte keys by id; primary names the one
// that seals.
func NewKeyring(primary string, keys map[string][]byte) (*Keyring, error) {
	k := &Keyring{primary: primary, keys: make(map[string]cipher.AEAD, len(keys))}
	for id, key := range keys {
		if err := checkKeyID(id); err != nil {
			return nil, err
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("key %s: %d bytes, want 32 (AES-256)", id, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", id, err)
		}
		if k.keys[id], err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("key %s: %w", id, err)
		}
	}
	if _, ok := k.keys[primary]; !ok {
		return nil, fmt.Errorf("primary key %q is not among the keys", primary)
	}
	return k, nil
}

func checkKeyID(id string) error {
	if id == "" || len(id) > 64 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
	}) >= 0 {
		return fmt.Errorf("key id %q: want 1 to 64 of the characters A-Z a-z 0-9 _ - and dot", id)
	}
	return nil
}

// Primary is the id of the key that seals.
func (k *Keyring) Primary() string { return k.primary }

// ParseKeyring reads keys written as "ID:HEX", HEX being 64 hexadecimal
// digits (32 bytes), separated by commas or on lines of their own (blank
// lines and lines starting with # are skipped); the first is the primary.
// spec is either such keys inline or the path of a file holding them (a
// file should be readable by its owner only; a path with a colon in it
// needs a slash, as in ./name:x).
func ParseKeyring(spec string) (*Keyring, error) {
	text, where := spec, "inline keys"
	if !looksInline(spec) {
		data, err := os.ReadFile(spec)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err) // the path, never a key
		}
		text, where = string(data), "key file "+spec
	}
	keys := map[string][]byte{}
	primary := ""
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, hexKey, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s: an entry without ID:HEX", where)
		}
		key, err := hex.DecodeString(strings.TrimSpace(hexKey))
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("%s: key %s is not 64 hexadecimal digits", where, id)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("%s: key %s given twice", where, id)
		}
		if primary == "" {
			primary = id
		}
		keys[id] = key
	}
	if primary == "" {
		return nil, fmt.Errorf("%s: no key", where)
	}
	return NewKeyring(primary, keys)
}

// looksInline tells inline keys (ID:HEX, which hold a colon and never a
// slash) from a path (which, holding a colon, holds a slash too: write
// ./name:x for a file of that name), so that a mistyped key is reported as
// one, never echoed as a missing file's name.
func looksInline(spec string) bool {
	return strings.Contains(spec, ":") && !strings.ContainsAny(spec, `/\`)
}

// NewKey returns a line for a key file: id, a colon and 32 random bytes in
// hexadecimal.
func NewKey(id string) (string, error) {
	if err := checkKeyID(id); err != nil {
		return "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return id + ":" + hex.EncodeToString(b[:]), nil
}

// IsSealed reports whether a stored value is a sealed secret.
func IsSealed(data []byte) bool {
	return len(data) > len(sealPrefix)+1 && data[0] == '"' && bytes.HasPrefix(data[1:], []byte(sealPrefix))
}

// SealedKeyID returns the id of the key that sealed a value.
func SealedKeyID(data []byte) (string, bool) {
	if !IsSealed(data) {
		return "", false
	}
	rest := data[1+len(sealPrefix):]
	i := bytes.IndexByte(rest, ':')
	if i < 0 {
		return "", false
	}
	return string(rest[:i]), true
}

func aad(ns, key string) []byte { return []byte("stategen:v1\x00" + ns + "\x00" + key) }

// seal encrypts a value of ns/key under the primary key.
func (k *Keyring) seal(ns, key string, value []byte) []byte {
	aead := k.keys[k.primary]
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(value)+aead.Overhead())
	rand.Read(buf)
	buf = aead.Seal(buf, buf, value, aad(ns, key))
	out := make([]byte, 0, 2+len(sealPrefix)+len(k.primary)+1+base64.RawURLEncoding.EncodedLen(len(buf)))
	out = append(out, '"')
	out = append(out, sealPrefix...)
	out = append(out, k.primary...)
	out = append(out, ':')
	out = base64.RawURLEncoding.AppendEncode(out, buf)
	return append(out, '"')
}

// open decrypts a sealed value of ns/key. Errors wrap ErrDecrypt and name
// the key id, never the value.
func (k *Keyring) open(ns, key string, sealed []byte) ([]byte, error) {
	id, ok := SealedKeyID(sealed)
	if !ok {
		return nil, fmt.Errorf("%w: not a sealed value", ErrDecrypt)
	}
	if k == nil {
		return nil, fmt.Errorf("%w: the value is sealed under key %s and no keys are configured (%s or runtime.WithKeys)", ErrDecrypt, id, EnvKeys)
	}
	aead, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: the value is sealed under key %s, which is not configured", ErrDecrypt, id)
	}
	body := sealed[1+len(sealPrefix)+len(id)+1 : len(sealed)-1]
	raw, err := base64.RawURLEncoding.DecodeString(string(body))
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: the envelope under key %s is damaged", ErrDecrypt, id)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad(ns, key))
	if err != nil {
		return nil, fmt.Errorf("%w: key %s does not open it: the envelope was changed, or moved from another key or run", ErrDecrypt, id)
	}
	if !json.Valid(plain) {
		return nil, fmt.Errorf("%w: what key %s opened is not JSON", ErrDecrypt, id)
	}
	return plain, nil
}

// WithKeys makes the Store seal the values of secret keys (those the
// schema of a write names secret) and open them on typed reads. Without
// it, Open uses the keys of $STATEGEN_KEYS, if set.
func WithKeys(k *Keyring) Option { return func(o *options) { o.keys = k } }

// Keyring is the keyring the Store seals and opens with; nil without keys.
func (s *Store) Keyring() *Keyring { return s.opts.keys }

// PlainSecrets is implemented by backends that keep secret values in plain
// text by configuration (the ADW layout with ?secrets=plain, for Python
// code that needs them): the Store does not seal for them.
type PlainSecrets interface {
	PlainSecrets() bool
}

// seal returns b with the values of the keys its schema marks secret
// sealed, when the Store has keys (a copy: the caller's batch stays as it
// was). Values already sealed stay as they are. Without keys it warns,
// once per Store, that secret values are stored in plain text.
func (s *Store) seal(ns string, b *Batch) *Batch {
	if b.Schema == nil || len(b.Schema.Secret) == 0 || len(b.Puts) == 0 || s.plainSecrets {
		return b
	}
	k := s.opts.keys
	if k == nil {
		s.warnPlain.Do(func() {
			s.opts.logger.Warn("stategen: secret values are stored unencrypted: no keys are configured (" + EnvKeys + " or runtime.WithKeys)")
		})
		return b
	}
	var puts []KV
	for i, kv := range b.Puts {
		if !b.Schema.IsSecret(kv.Key) || IsSealed(kv.Value) {
			continue
		}
		if puts == nil {
			puts = append([]KV(nil), b.Puts...)
		}
		puts[i].Value = k.seal(ns, kv.Key, kv.Value)
	}
	if puts == nil {
		return b
	}
	c := *b
	c.Puts = puts
	return &c
}

// Unseal returns a stored value of ns/key in the clear: the value itself
// if it is not sealed, else what the Store's keys open. An error wraps
// ErrDecrypt.
func (s *Store) Unseal(ns, key string, data []byte) ([]byte, error) {
	if !IsSealed(data) {
		return data, nil
	}
	plain, err := s.opts.keys.open(ns, key, data)
	if err != nil {
		return nil, s.wrap("decrypt", ns, key, err)
	}
	return plain, nil
}

// unsealAll opens the sealed values of a snapshot's or checkpoint's
// values, returning them in the clear (the same map if none is sealed).
func (s *Store) unsealAll(ns string, values map[string]Value) (map[string]Value, error) {
	var out map[string]Value
	for k, v := range values {
		if !IsSealed(v.Data) {
			continue
		}
		plain, err := s.Unseal(ns, k, v.Data)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make(map[string]Value, len(values))
			for k2, v2 := range values {
				out[k2] = v2
			}
		}
		v.Data = plain
		out[k] = v
	}
	if out == nil {
		return values, nil
	}
	return out, nil
}

// RekeyResult says what Rekey did to a namespace.
type RekeyResult struct {
	// Values is how many values of the namespace's state were sealed anew.
	Values int
	// Checkpoints is how many checkpoints were rewritten.
	Checkpoints int
	// Unreadable names the checkpoints that could not be read, and so
	// were left as they are.
	Unreadable []string
}

// Rekey seals every secret value of namespace ns, in its state and in its
// checkpoints, under the primary key: values sealed under another key are
// opened and sealed again, and values the recorded schema marks secret that
// are in the clear are sealed. What is sealed under the primary already is
// left alone, so Rekey can be run again, and interrupted: each write
// (the state, each checkpoint) is atomic, and a value is always sealed
// under one key or the other, never lost. After it succeeds, the
// namespace needs no key but the primary (CheckSealed says so).
func (s *Store) Rekey(ctx context.Context, ns string) (RekeyResult, error) {
	var res RekeyResult
	k := s.opts.keys
	if k == nil {
		return res, s.wrap("rekey", ns, "", fmt.Errorf("%w: no keys are configured (%s or runtime.WithKeys)", ErrDecrypt, EnvKeys))
	}
	err := s.retryConflicts(ctx, "rekey", ns, "", func() (int64, bool, error) {
		snap, err := s.Snapshot(ctx, ns)
		if errors.Is(err, ErrNotFound) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		puts, err := s.reseal(ns, snap.Schema, snap.Values)
		if err != nil || len(puts) == 0 {
			return snap.Revision, true, err
		}
		b := &Batch{Conds: []Cond{{Revision: snap.Revision}}}
		for _, key := range slices.Sorted(maps.Keys(puts)) {
			b.Puts = append(b.Puts, KV{Key: key, Value: puts[key]})
		}
		_, err = s.apply(ctx, "rekey", ns, "", b)
		res.Values = len(puts)
		return snap.Revision, false, err
	})
	if err != nil {
		return res, err
	}
	list, err := s.Checkpoints(ctx, ns)
	if err != nil {
		return res, err
	}
	for _, info := range list {
		if info.Err != nil {
			res.Unreadable = append(res.Unreadable, info.Name)
			continue
		}
		cp, err := s.GetCheckpoint(ctx, ns, info.Name)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return res, err
		}
		puts, err := s.reseal(ns, cp.Schema, cp.Values)
		if err != nil {
			return res, err
		}
		if len(puts) == 0 {
			continue
		}
		for key, v := range puts {
			val := cp.Values[key]
			val.Data = v
			cp.Values[key] = val
		}
		if err := s.putCheckpoint(ctx, ns, cp); err != nil {
			return res, err
		}
		res.Checkpoints++
	}
	return res, nil
}

// reseal returns, for the values that need it, their value sealed under
// the primary key.
func (s *Store) reseal(ns string, schema SchemaRef, values map[string]Value) (map[string][]byte, error) {
	k := s.opts.keys
	out := map[string][]byte{}
	for key, v := range values {
		id, sealed := SealedKeyID(v.Data)
		switch {
		case sealed && id == k.primary:
		case sealed:
			plain, err := s.Unseal(ns, key, v.Data)
			if err != nil {
				return nil, err
			}
			out[key] = k.seal(ns, key, plain)
		case schema.IsSecret(key):
			out[key] = k.seal(ns, key, v.Data)
		}
	}
	return out, nil
}

// CheckSealed verifies that every secret value of namespace ns, in its
// state and in its checkpoints, is sealed under the primary key and opens:
// what Rekey promises. The error names every value that is not so.
func (s *Store) CheckSealed(ctx context.Context, ns string) error {
	var bad []string
	check := func(where string, schema SchemaRef, values map[string]Value) {
		for key, v := range values {
			id, sealed := SealedKeyID(v.Data)
			switch {
			case !sealed && schema.IsSecret(key):
				bad = append(bad, where+key+" is in the clear")
			case sealed && s.opts.keys != nil && id != s.opts.keys.primary:
				bad = append(bad, where+key+" is sealed under key "+id)
			case sealed:
				if _, err := s.Unseal(ns, key, v.Data); err != nil {
					bad = append(bad, where+key+" does not open")
				}
			}
		}
	}
	snap, err := s.Snapshot(ctx, ns)
	switch {
	case err == nil:
		check("", snap.Schema, snap.Values)
	case !errors.Is(err, ErrNotFound):
		return err
	}
	list, err := s.Checkpoints(ctx, ns)
	if err != nil {
		return err
	}
	for _, info := range list {
		if info.Err != nil {
			bad = append(bad, "checkpoint "+info.Name+" cannot be read")
			continue
		}
		cp, err := s.GetCheckpoint(ctx, ns, info.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if cp != nil {
			check("checkpoint "+info.Name+": ", cp.Schema, cp.Values)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return s.wrap("check sealed", ns, "", fmt.Errorf("%w: %s", ErrDecrypt, strings.Join(bad, "; ")))
	}
	return nil
}
