package runtime

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Codec turns one field's values into stored JSON and back. Generated code
// declares one per field, specialised to the field's type, so loads and
// saves do no reflection-driven dispatch.
type Codec[T any] struct {
	Encode func(T) ([]byte, error)
	Decode func([]byte) (T, error)
	// Clone deep-copies a value so that what a caller gets never shares
	// memory with the cache. Nil for types that hold no references.
	Clone func(T) T
}

func (c *Codec[T]) clone(v T) T {
	if c.Clone == nil {
		return v
	}
	return c.Clone(v)
}

// JSONCodec is a Codec through encoding/json, for types the generator has no
// specialised code for. Its Clone (for types that hold references) is a
// JSON round trip.
func JSONCodec[T any]() *Codec[T] {
	c := &Codec[T]{
		Encode: func(v T) ([]byte, error) { return json.Marshal(v) },
		Decode: func(b []byte) (T, error) {
			var v T
			err := json.Unmarshal(b, &v)
			return v, err
		},
	}
	if hasReferences(reflect.TypeFor[T]()) {
		c.Clone = func(v T) T {
			b, err := json.Marshal(v)
			if err != nil {
				return v
			}
			var out T
			if json.Unmarshal(b, &out) != nil {
				return v
			}
			return out
		}
	}
	return c
}

func hasReferences(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return false
	case reflect.Array:
		return hasReferences(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasReferences(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true
}

// Key is one field's typed key: its storage name, options and codec. The
// per-field accessors of generated code call its methods with their store
// as the View, so that every write records the schema and every read of
// state an older version stored sees it migrated.
type Key[V any] struct {
	Name string
	// Required says the key must hold a value: not be absent, null, or an
	// empty string, array or object. A number or boolean is a value
	// whatever it is (0 and false included). Writes that would leave it
	// without one fail with ErrMissing, as loads of such state do.
	Required bool
	// Secret keys are never printed by stategen: their values are
	// redacted by the CLI and left out of error messages.
	Secret bool
	// Default is the JSON used when the key is absent; nil for none.
	Default json.RawMessage
	Codec   *Codec[V]
}

// Load reads the key, or its default when it is absent; without a default
// an absent key is ErrNotFound. Stored state of an older schema version is
// migrated first, as StateStore.Load does.
func (k *Key[V]) Load(ctx context.Context, view View) (V, error) {
	sc := view.view()
	v, err := k.load(ctx, sc)
	if errors.Is(err, ErrNotFound) && k.Default != nil {
		return k.defaultValue(sc.st, sc.ns)
	}
	return v, err
}

func (k *Key[V]) load(ctx context.Context, sc *scope) (V, error) {
	st := sc.st
	read := func() (Value, bool, error) {
		val, ref, err := st.getWithSchema(ctx, sc.ns, k.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Value{}, false, err
		}
		if (ref.Name == "" && ref.Version == 0) || ref.SameVersion(sc.ref) {
			return val, true, err
		}
		// Another version: migrate older state, refuse the rest.
		snap, err := sc.current(ctx)
		if err != nil {
			return Value{}, false, err
		}
		if err := sc.checkSchema(snap.Schema); err != nil {
			return Value{}, false, err
		}
		v, ok := snap.Values[k.Name]
		if !ok {
			return Value{}, false, st.wrap("get", sc.ns, k.Name, ErrNotFound)
		}
		return v, false, nil
	}
	return cachedLoad(ctx, st, sc.ns, k.Name, k.Codec, true, read, func(data []byte) (V, error) {
		var zero V
		data, err := st.Unseal(sc.ns, k.Name, data)
		if err != nil {
			return zero, err
		}
		if k.Required && emptyJSON(data) {
			return zero, st.wrap("load", sc.ns, k.Name, missingError([]string{k.Name}))
		}
		return k.decode(st, sc.ns, data)
	})
}

func (k *Key[V]) defaultValue(st *Store, ns string) (V, error) {
	v, err := k.Codec.Decode(k.Default)
	if err != nil {
		return v, st.wrap("decode default", ns, k.Name, fmt.Errorf("%w: default %s: %v", ErrInvalidValue, k.Default, err))
	}
	return v, nil
}

// decode decodes a stored value of the key, opening it first if it is
// sealed; a value its type cannot hold is ErrTypeMismatch, which prints the
// value only for a key not secret.
func (k *Key[V]) decode(st *Store, ns string, data []byte) (V, error) {
	data, err := st.Unseal(ns, k.Name, data)
	if err != nil {
		var zero V
		return zero, err
	}
	v, err := k.Codec.Decode(data)
	if err != nil {
		return v, st.wrap("decode", ns, k.Name, k.mismatch(data, err))
	}
	return v, nil
}

func (k *Key[V]) mismatch(data []byte, err error) error {
	return typeMismatch[V](k.Name, k.Secret, data, err)
}

// encode encodes v for storage, refusing no value for a required key.
func (k *Key[V]) encode(sc *scope, v V) ([]byte, error) {
	data, err := k.Codec.Encode(v)
	if err != nil {
		return nil, sc.st.wrap("encode", sc.ns, k.Name, fmt.Errorf("%w: %v", ErrInvalidValue, err))
	}
	if k.Required && emptyJSON(data) {
		return nil, sc.st.wrap("save", sc.ns, k.Name, missingError([]string{k.Name}))
	}
	return data, nil
}

// Save stores v under the key, and the schema, in one write. Stored state
// of an older schema version is migrated first; newer state is refused.
func (k *Key[V]) Save(ctx context.Context, view View, v V) error {
	sc := view.view()
	data, err := k.encode(sc, v)
	if err != nil {
		return err
	}
	return sc.st.keepWritten(sc.ns, k.Name, func() any { return checked[V]{k.Codec.clone(v)} }, func() (int64, error) {
		return sc.write(ctx, "save", k.Name, &Batch{Puts: []KV{{Key: k.Name, Value: data}}}, true)
	})
}

// Delete removes the key; an absent key is no error. A required key cannot
// be deleted (ErrMissing): loads would refuse the state it leaves.
func (k *Key[V]) Delete(ctx context.Context, view View) error {
	sc := view.view()
	if k.Required {
		return sc.st.wrap("delete", sc.ns, k.Name, fmt.Errorf("%w: key %s is required, so it cannot be deleted", ErrMissing, k.Name))
	}
	// Checked against the schema, but recording none: deleting from a
	// namespace that holds nothing must not make it exist.
	_, err := sc.write(ctx, "delete", k.Name, &Batch{Deletes: []string{k.Name}}, false)
	return err
}

// Update applies fn to the key's value (its default, or the zero value,
// when absent) and stores the result, with the schema, on condition that
// nobody wrote the key meanwhile, starting over on conflict until ctx ends.
// Stored state of an older schema version is migrated first.
func (k *Key[V]) Update(ctx context.Context, view View, fn func(V) (V, error)) (V, error) {
	sc := view.view()
	st := sc.st
	var out V
	err := st.retryConflicts(ctx, "update", sc.ns, k.Name, func() (int64, bool, error) {
		cur, ref, err := st.getWithSchema(ctx, sc.ns, k.Name)
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, false, err
		}
		if (ref.Name != "" || ref.Version != 0) && !ref.SameVersion(sc.ref) {
			snap, err := sc.current(ctx)
			if err != nil {
				return 0, false, err
			}
			if err := sc.checkSchema(snap.Schema); err != nil {
				return 0, true, err
			}
			cur, found = snap.Values[k.Name]
		}
		rev := int64(0)
		if found {
			rev = cur.Revision
		}
		var v V
		switch {
		case found:
			if v, err = k.decode(st, sc.ns, cur.Data); err != nil {
				return rev, true, err
			}
		case k.Default != nil:
			if v, err = k.defaultValue(st, sc.ns); err != nil {
				return rev, true, err
			}
		}
		next, err := fn(v)
		if err != nil {
			return rev, true, err
		}
		data, err := k.encode(sc, next)
		if err != nil {
			return rev, true, err
		}
		_, err = sc.apply(ctx, "update", k.Name, &Batch{
			Puts:   []KV{{Key: k.Name, Value: data}},
			Conds:  []Cond{{Key: k.Name, Revision: rev}},
			Schema: &sc.ref, IfSchema: &sc.ref,
		})
		out = next
		return rev, false, err
	})
	if err != nil {
		var zero V
		return zero, err
	}
	return out, nil
}

// getWithSchema reads one key and the schema its namespace records, in one
// read: natively where the backend is a SchemaGetter, from a snapshot
// otherwise. An absent key is ErrNotFound, with the schema all the same.
func (s *Store) getWithSchema(ctx context.Context, ns, key string) (Value, SchemaRef, error) {
	if err := validateKey(ns, key); err != nil {
		return Value{}, SchemaRef{}, s.wrap("get", ns, key, err)
	}
	var v Value
	var ref SchemaRef
	if sg, ok := s.be.(SchemaGetter); ok {
		err := s.do(ctx, "get", ns, key, func() (err error) {
			v, ref, err = sg.GetWithSchema(ctx, ns, key)
			return err
		})
		return v, ref, err
	}
	snap, err := s.Snapshot(ctx, ns)
	if err != nil {
		return v, ref, err
	}
	v, ok := snap.Values[key]
	if !ok {
		return v, snap.Schema, s.wrap("get", ns, key, ErrNotFound)
	}
	return v, snap.Schema, nil
}

// Load reads one key and decodes it with c, through the Store's cache,
// without looking at the namespace's schema (generated code uses Key's
// methods, which do). An absent key is ErrNotFound; a value c cannot
// decode is ErrTypeMismatch.
func Load[T any](ctx context.Context, s *Store, ns, key string, c *Codec[T]) (T, error) {
	read := func() (Value, bool, error) {
		v, err := s.Get(ctx, ns, key)
		return v, true, err
	}
	return cachedLoad(ctx, s, ns, key, c, false, read, func(data []byte) (T, error) { return decode(s, ns, key, c, data) })
}

func decode[T any](s *Store, ns, key string, c *Codec[T], data []byte) (T, error) {
	sealed := IsSealed(data) // a secret, whatever the caller knows of it
	data, err := s.Unseal(ns, key, data)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := c.Decode(data)
	if err != nil {
		return v, s.wrap("decode", ns, key, typeMismatch[T](key, sealed, data, err))
	}
	return v, nil
}

// typeMismatch is ErrTypeMismatch for a stored value of key that a V
// cannot hold, naming the key, the stored JSON kind and the Go type. The
// decoder's own message, which may quote the value, is left out for a
// secret key.
func typeMismatch[V any](key string, secret bool, data []byte, err error) error {
	t := reflect.TypeFor[V]()
	have := jsonKindOf(data)
	if want := wantedKind(t); want != "" && want != have {
		return fmt.Errorf("%w: key %s holds a JSON %s, but its field is a Go %s, which holds a JSON %s", ErrTypeMismatch, key, have, t, want)
	}
	if secret {
		return fmt.Errorf("%w: key %s holds a JSON %s that its field, a Go %s, cannot hold (the key is secret: its value is not shown)", ErrTypeMismatch, key, have, t)
	}
	return fmt.Errorf("%w: key %s holds a JSON %s that its field, a Go %s, cannot hold: %v", ErrTypeMismatch, key, have, t, err)
}

// jsonKindOf names the kind of a JSON value by its first byte.
func jsonKindOf(data []byte) string {
	d := trimJSONSpace(data)
	if len(d) == 0 {
		return "nothing"
	}
	switch c := d[0]; {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	}
	return "number"
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// wantedKind is the JSON kind encoding/json decodes into t, "" when t
// decodes itself (and could take any).
func wantedKind(t reflect.Type) string {
	p := reflect.PointerTo(t)
	switch {
	case t.Implements(jsonUnmarshaler) || p.Implements(jsonUnmarshaler):
		return ""
	case t.Implements(textUnmarshaler) || p.Implements(textUnmarshaler):
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string" // base64
		}
		return "array"
	case reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Pointer:
		return wantedKind(t.Elem())
	}
	return ""
}

// Save encodes v with c and stores it under key, without recording a
// schema (generated code uses Key's methods, which do).
func Save[T any](ctx context.Context, s *Store, ns, key string, v T, c *Codec[T]) error {
	data, err := c.Encode(v)
	if err != nil {
		return s.wrap("encode", ns, key, fmt.Errorf("%w: %v", ErrInvalidValue, err))
	}
	return s.keepWritten(ns, key, func() any { return c.clone(v) }, func() (int64, error) { return s.Put(ctx, ns, key, data) })
}

// Update reads key (found is false when absent, with v the zero value),
// applies fn and stores the result on condition that nobody wrote the key
// meanwhile, starting over on conflict until ctx ends. It returns the value
// stored.
func Update[T any](ctx context.Context, s *Store, ns, key string, c *Codec[T], fn func(v T, found bool) (T, error)) (T, error) {
	var out T
	_, err := s.UpdateKey(ctx, ns, key, func(cur Value, found bool) (json.RawMessage, error) {
		var v T
		if found {
			var err error
			if v, err = decode(s, ns, key, c, cur.Data); err != nil {
				return nil, err
			}
		}
		next, err := fn(v, found)
		if err != nil {
			return nil, err
		}
		out = next
		data, err := c.Encode(next)
		if err != nil {
			return nil, s.wrap("encode", ns, key, fmt.Errorf("%w: %v", ErrInvalidValue, err))
		}
		return data, nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}
