package runtime

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Codecs for the scalar kinds, written out by hand so that the commonest
// fields are encoded and decoded without encoding/json's reflection. Their
// output is byte for byte what encoding/json writes (HTML escaping aside:
// they do not escape <, > and &, which JSON does not need), and like it they
// read null as the zero value: Python ADW writes null for unset fields.
var (
	StringCodec  = &Codec[string]{Encode: encodeString, Decode: decodeString}
	BoolCodec    = &Codec[bool]{Encode: encodeBool, Decode: decodeBool}
	IntCodec     = &Codec[int]{Encode: encodeInt[int], Decode: decodeInt[int]}
	Int64Codec   = &Codec[int64]{Encode: encodeInt[int64], Decode: decodeInt[int64]}
	Float64Codec = &Codec[float64]{Encode: encodeFloat, Decode: decodeFloat}
)

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

func encodeInt[I int | int64](v I) ([]byte, error) { return strconv.AppendInt(nil, int64(v), 10), nil }

func decodeInt[I int | int64](b []byte) (I, error) {
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
}

var errNonFinite = errors.New("NaN and infinities have no JSON form")

// encodeFloat writes a float64 as encoding/json does: shortest form,
// exponent only for very small or large magnitudes, "e-07" as "e-7".
func encodeFloat(f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errNonFinite
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(nil, f, format, -1, 64)
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

func decodeFloat(b []byte) (float64, error) {
	if string(b) == "null" {
		return 0, nil
	}
	if len(b) == 0 || b[0] == '"' || string(b) == "true" || string(b) == "false" {
		return 0, fmt.Errorf("%q is not a JSON number", b)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a JSON number", b)
	}
	return f, nil
}
