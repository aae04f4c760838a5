package runtime

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Codecs for the scalar kinds, written out by hand so that the commonest
// fields are encoded and decoded without encoding/json's reflection. Their
// output is byte for byte what encoding/json writes (HTML escaping aside:
// they do not escape <, > and &, which JSON does not need), and like it they
// read null as the zero value: Python ADW writes null for unset fields.
var (
	StringCodec  = StringOf[string]()
	StringsCodec = StringsOf[string]()
	BoolCodec    = BoolOf[bool]()
	IntCodec     = IntOf[int]()
	Int64Codec   = IntOf[int64]()
	Float64Codec = FloatOf[float64]()
)

// StringOf is the codec of a string type, named or not.
func StringOf[S ~string]() *Codec[S] {
	return &Codec[S]{
		Encode: func(v S) ([]byte, error) { return encodeString(string(v)) },
		Decode: func(b []byte) (S, error) {
			s, err := decodeString(b)
			return S(s), err
		},
	}
}

// StringsOf is the codec of a slice of a string type: JSON's array of
// strings, null for a nil slice.
func StringsOf[S ~string]() *Codec[[]S] {
	other := JSONCodec[[]S]()
	return &Codec[[]S]{
		Encode: func(v []S) ([]byte, error) {
			if v == nil {
				return []byte("null"), nil
			}
			b := append(make([]byte, 0, 2+len(v)*16), '[')
			for i, s := range v {
				if i > 0 {
					b = append(b, ',')
				}
				b = AppendJSONString(b, string(s))
			}
			return append(b, ']'), nil
		},
		Decode: func(b []byte) ([]S, error) {
			if v, ok := decodePlainStrings[S](b); ok {
				return v, nil
			}
			return other.Decode(b)
		},
		Clone: slices.Clone[[]S],
	}
}

// decodePlainStrings reads an array of strings as this package and
// encoding/json write one when none needs escaping: no space, no
// backslash. ok is false for anything else, which encoding/json reads.
func decodePlainStrings[S ~string](b []byte) (v []S, ok bool) {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	b = b[1 : len(b)-1]
	v = []S{}
	for len(b) > 0 {
		if b[0] != '"' {
			return nil, false
		}
		end := 1
		for end < len(b) && b[end] != '"' {
			if c := b[end]; c == '\\' || c < 0x20 {
				return nil, false
			}
			end++
		}
		if end == len(b) || !utf8.Valid(b[1:end]) {
			return nil, false
		}
		v = append(v, S(b[1:end]))
		b = b[end+1:]
		if len(b) > 0 {
			if b[0] != ',' || len(b) == 1 {
				return nil, false
			}
			b = b[1:]
		}
	}
	return v, true
}

// BoolOf is the codec of a boolean type, named or not.
func BoolOf[B ~bool]() *Codec[B] {
	return &Codec[B]{
		Encode: func(v B) ([]byte, error) { return encodeBool(bool(v)) },
		Decode: func(b []byte) (B, error) {
			v, err := decodeBool(b)
			return B(v), err
		},
	}
}

// IntOf is the codec of a signed integer type, named or not.
func IntOf[I ~int | ~int8 | ~int16 | ~int32 | ~int64]() *Codec[I] {
	return &Codec[I]{
		Encode: func(v I) ([]byte, error) { return strconv.AppendInt(nil, int64(v), 10), nil },
		Decode: func(b []byte) (I, error) {
			if string(b) == "null" {
				return 0, nil
			}
			n, err := strconv.ParseInt(string(b), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%q is not a JSON integer", b)
			}
			if int64(I(n)) != n {
				return 0, fmt.Errorf("%s overflows the field", b)
			}
			return I(n), nil
		},
	}
}

// UintOf is the codec of an unsigned integer type, named or not.
func UintOf[U ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr]() *Codec[U] {
	return &Codec[U]{
		Encode: func(v U) ([]byte, error) { return strconv.AppendUint(nil, uint64(v), 10), nil },
		Decode: func(b []byte) (U, error) {
			if string(b) == "null" {
				return 0, nil
			}
			n, err := strconv.ParseUint(string(b), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%q is not a JSON unsigned integer", b)
			}
			if uint64(U(n)) != n {
				return 0, fmt.Errorf("%s overflows the field", b)
			}
			return U(n), nil
		},
	}
}

// FloatOf is the codec of a floating-point type, named or not.
func FloatOf[F ~float32 | ~float64]() *Codec[F] {
	bits := 64
	if unsafe.Sizeof(F(0)) == 4 {
		bits = 32
	}
	return &Codec[F]{
		Encode: func(v F) ([]byte, error) { return encodeFloat(float64(v), bits) },
		Decode: func(b []byte) (F, error) {
			f, err := decodeFloat(b, bits)
			return F(f), err
		},
	}
}

func encodeString(s string) ([]byte, error) {
	return AppendJSONString(make([]byte, 0, len(s)+2), s), nil
}

// AppendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, as
// encoding/json does.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript; encoding/json escapes them.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}

func decodeString(b []byte) (string, error) {
	if string(b) == "null" {
		return "", nil
	}
	// Fast path: a quoted string without escapes is its own content.
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		inner := b[1 : len(b)-1]
		plain := utf8.Valid(inner)
		for _, c := range inner {
			if c == '\\' || c == '"' || c < 0x20 {
				plain = false
				break
			}
		}
		if plain {
			return string(inner), nil
		}
	}
	return JSONCodec[string]().Decode(b)
}

func encodeBool(v bool) ([]byte, error) { return strconv.AppendBool(nil, v), nil }

func decodeBool(b []byte) (bool, error) {
	switch string(b) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a JSON boolean", b)
}

var errNonFinite = errors.New("NaN and infinities have no JSON form")

// encodeFloat writes a float as encoding/json does: shortest form for its
// size, exponent only for very small or large magnitudes, "e-07" as "e-7".
func encodeFloat(f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errNonFinite
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b := strconv.AppendFloat(nil, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

func decodeFloat(b []byte, bits int) (float64, error) {
	if string(b) == "null" {
		return 0, nil
	}
	if len(b) == 0 || b[0] == '"' || string(b) == "true" || string(b) == "false" {
		return 0, fmt.Errorf("%q is not a JSON number", b)
	}
	f, err := strconv.ParseFloat(string(b), bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not a JSON number", b)
	}
	return f, nil
}

// NullZero makes c store its type's zero value as JSON null, and read null
// as the zero value: a field tagged nullzero, the Go side of Python's
// Optional[X] = None without a pointer field.
func NullZero[V comparable](c *Codec[V]) *Codec[V] {
	return storeAs(c, "null", func(v V) bool {
		var zero V
		return v == zero
	}, true)
}

// NullZeroSlice is NullZero for a slice type: nil and empty store as null,
// and null reads as nil.
func NullZeroSlice[S ~[]E, E any](c *Codec[S]) *Codec[S] {
	return storeAs(c, "null", func(v S) bool { return len(v) == 0 }, true)
}

// NullZeroMap is NullZero for a map type: nil and empty store as null,
// and null reads as nil.
func NullZeroMap[M ~map[K]E, K comparable, E any](c *Codec[M]) *Codec[M] {
	return storeAs(c, "null", func(v M) bool { return len(v) == 0 }, true)
}

// EmptySlice makes c store a nil slice as [] instead of null, so that a
// slice field never holds null (Python's List[str] = [] refuses None); the
// codec of slice fields not tagged nullzero.
func EmptySlice[S ~[]E, E any](c *Codec[S]) *Codec[S] {
	return storeAs(c, "[]", func(v S) bool { return v == nil }, false)
}

// EmptyMap makes c store a nil map as {} instead of null; the codec of map
// fields not tagged nullzero.
func EmptyMap[M ~map[K]E, K comparable, E any](c *Codec[M]) *Codec[M] {
	return storeAs(c, "{}", func(v M) bool { return v == nil }, false)
}

// storeAs is c, except that values for which is reports true are stored as
// the JSON literal; with nullIsZero, null reads as the zero value without
// asking c (so a type with its own UnmarshalJSON never sees it).
func storeAs[V any](c *Codec[V], literal string, is func(V) bool, nullIsZero bool) *Codec[V] {
	out := &Codec[V]{
		Encode: func(v V) ([]byte, error) {
			if is(v) {
				return []byte(literal), nil
			}
			return c.Encode(v)
		},
		Decode: c.Decode,
		Clone:  c.Clone,
	}
	if nullIsZero {
		out.Decode = func(b []byte) (V, error) {
			if string(trimJSONSpace(b)) == "null" {
				var zero V
				return zero, nil
			}
			return c.Decode(b)
		}
	}
	return out
}
