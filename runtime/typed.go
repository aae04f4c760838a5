package runtime

import (
	"context"
	"encoding/json"
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

// Load reads one key and decodes it with c, through the Store's cache.
// An absent key is ErrNotFound; undecodable data is ErrCorrupt.
func Load[T any](ctx context.Context, s *Store, ns, key string, c *Codec[T]) (T, error) {
	var zero T
	if s.cache == nil {
		v, err := s.Get(ctx, ns, key)
		if err != nil {
			return zero, err
		}
		return decode(s, ns, key, c, v.Data)
	}
	return loadCached(ctx, s, ns, key, c)
}

func decode[T any](s *Store, ns, key string, c *Codec[T], data []byte) (T, error) {
	v, err := c.Decode(data)
	if err != nil {
		return v, s.wrap("decode", ns, key, Corrupt("value of key "+key, err))
	}
	return v, nil
}

// Save encodes v with c and stores it under key.
func Save[T any](ctx context.Context, s *Store, ns, key string, v T, c *Codec[T]) error {
	data, err := c.Encode(v)
	if err != nil {
		return s.wrap("encode", ns, key, fmt.Errorf("%w: %v", ErrInvalidValue, err))
	}
	if s.cache != nil && s.cache.mode == cacheRelaxed {
		return saveCached(ctx, s, ns, key, v, data, c)
	}
	_, err = s.Put(ctx, ns, key, data)
	return err
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
