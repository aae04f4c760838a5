// Package redact decides which stored values stategen's tools (the CLI, the
// web view) may print, so that every one of them hides the same ones.
//
// A value is hidden when its key is secret: marked so by a schema recorded
// with the state or its checkpoints (runtime.SchemaRef.Secret), or by the
// schema of that name registered in this program (runtime.LookupSchema).
// It prints as Redacted. A value stored sealed (encrypted at rest) that this
// program has no keys to open prints as Encrypted; one it opens is a secret
// like the others. A Redactor made to show secrets hides nothing it can open.
package redact

import (
	"encoding/json"

	"github.com/stategen/stategen/runtime"
)

// What a hidden value prints as.
const (
	// Redacted stands for a secret value not to be printed.
	Redacted = "[redacted]"
	// Encrypted stands for a sealed value no key of this program opens.
	Encrypted = "[encrypted]"
)

// Redactor knows which values of one namespace (with its checkpoints) are
// not to be printed. It is not safe for concurrent use: Open records the
// keys it found sealed.
type Redactor struct {
	secret    map[string]bool
	encrypted map[string]bool
	show      bool
}

// New returns a Redactor hiding the secret keys of the schemas refs (and of
// the schemas of the same names registered in this program), unless show
// says to print them.
func New(show bool, refs ...runtime.SchemaRef) *Redactor {
	r := &Redactor{secret: map[string]bool{}, encrypted: map[string]bool{}, show: show}
	if show {
		return r
	}
	for _, ref := range refs {
		for _, k := range ref.Secret {
			r.secret[k] = true
		}
		if ref.Name == "" {
			continue
		}
		if info, ok := runtime.LookupSchema(ref.Name); ok {
			for _, k := range info.Secret {
				r.secret[k] = true
			}
		}
	}
	return r
}

// Hidden returns what key's value prints as instead of itself (Redacted or
// Encrypted), and whether it is hidden.
func (r *Redactor) Hidden(key string) (string, bool) {
	switch {
	case r.encrypted[key]:
		return Encrypted, true
	case r.secret[key]:
		return Redacted, true
	}
	return "", false
}

// Value is v, or the JSON string of what it prints as when key is hidden.
func (r *Redactor) Value(key string, v json.RawMessage) json.RawMessage {
	if h, ok := r.Hidden(key); ok {
		return json.RawMessage(`"` + h + `"`)
	}
	return v
}

// Open returns vals with their sealed values opened with the store's keys
// (an error, naming the key, when one does not open), each then a secret.
// Without keys it leaves them sealed, to print as Encrypted. vals is not
// modified.
func (r *Redactor) Open(st *runtime.Store, ns string, vals map[string]runtime.Value) (map[string]runtime.Value, error) {
	out := make(map[string]runtime.Value, len(vals))
	for k, v := range vals {
		out[k] = v
		if !runtime.IsSealed(v.Data) {
			continue
		}
		if st.Keyring() == nil {
			r.encrypted[k] = true
			continue
		}
		plain, err := st.Unseal(ns, k, v.Data)
		if err != nil {
			return nil, err
		}
		if !r.show {
			r.secret[k] = true
		}
		v.Data = plain
		out[k] = v
	}
	return out, nil
}
