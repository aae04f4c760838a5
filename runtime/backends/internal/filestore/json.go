package filestore

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is how deeply a file may nest arrays and objects, the file's own
// object included. Values that would nest deeper are refused when written
// (runtime.ErrInvalidValue) and files that do are refused when read
// (runtime.ErrCorrupt), so that everything written reads back; it is well
// below the depth at which Python's json module gives up (its recursion
// limit, 1000 by default), so the Python programs sharing the files read
// them too.
const MaxDepth = 512

// object is a JSON object as a file holds it: its members in order, each
// with its key and value exactly as written, so that a write changes only
// the members it puts or deletes and every other byte stays as it was
// (numbers as written, escapes such as a lone surrogate "\ud800", members
// whose names stategen does not accept).
type object struct {
	members []member
	index   map[string]int // by key; nil until first needed
}

// member is one key and value of an object.
type member struct {
	key    string // decoded
	rawKey []byte // the key as written, quotes included; nil for a new member
	value  []byte // the value: as written if rawKey != nil, else compact JSON
}

// parseObject parses data, which must hold one JSON object (surrounding
// white space allowed) nested at most MaxDepth deep. A key that appears
// twice keeps its first position and its last value, as Python's json.load
// does. The members' bytes alias data.
func parseObject(data []byte) (*object, error) {
	o := &object{}
	err := eachMember(data, func(rawKey, value []byte) {
		o.add(member{key: decodeString(rawKey), rawKey: rawKey, value: value})
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// eachMember calls f with each member of the JSON object data holds, as
// parseObject reads it, in the order written: its key as written, quotes
// included, and its value as written. It builds nothing, so that reading a
// few members of a small object costs no allocation.
func eachMember(data []byte, f func(rawKey, value []byte)) error {
	i := skipSpace(data, 0)
	if i == len(data) {
		return errors.New("empty file")
	}
	if data[i] != '{' {
		return fmt.Errorf("want a JSON object, found %s", describe(data, i))
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return checkEnd(data, i+1)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return syntaxError(data, i, "an object key")
		}
		kEnd, err := skipString(data, i)
		if err != nil {
			return err
		}
		rawKey := data[i:kEnd]
		i = skipSpace(data, kEnd)
		if i >= len(data) || data[i] != ':' {
			return syntaxError(data, i, "':'")
		}
		i = skipSpace(data, i+1)
		vEnd, err := skipValue(data, i, 1)
		if err != nil {
			return err
		}
		f(rawKey, data[i:vEnd])
		i = skipSpace(data, vEnd)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			return checkEnd(data, i+1)
		}
		return syntaxError(data, i, "',' or '}'")
	}
}

// isKeyNamed reports whether the checked string literal rawKey (quotes
// included) is key.
func isKeyNamed(rawKey []byte, key string) bool {
	if len(rawKey) == len(key)+2 && string(rawKey[1:len(rawKey)-1]) == key {
		return true
	}
	return bytes.IndexByte(rawKey, '\\') >= 0 && decodeString(rawKey) == key
}

// add appends m, or, for a key already present, replaces that member's
// value in its place (a repeated key in a file).
func (o *object) add(m member) {
	if j, dup := o.find(m.key); dup {
		o.members[j] = m
		return
	}
	if o.index != nil {
		o.index[m.key] = len(o.members)
	}
	o.members = append(o.members, m)
}

// find returns the position of key.
func (o *object) find(key string) (int, bool) {
	if o.index == nil {
		if len(o.members) < 16 {
			for i := range o.members {
				if o.members[i].key == key {
					return i, true
				}
			}
			return 0, false
		}
		o.index = make(map[string]int, len(o.members))
		for i, m := range o.members {
			o.index[m.key] = i
		}
	}
	i, ok := o.index[key]
	return i, ok
}

// get returns the value of key (as written, or compact for a new member).
func (o *object) get(key string) ([]byte, bool) {
	if i, ok := o.find(key); ok {
		return o.members[i].value, true
	}
	return nil, false
}

// set puts key's value (compact JSON) in place, or at the end for a new key.
func (o *object) set(key string, value []byte) {
	if i, ok := o.find(key); ok {
		o.members[i].value, o.members[i].rawKey = value, nil
		return
	}
	o.add(member{key: key, value: value})
}

// remove deletes the members whose keys drop reports, keeping the others'
// order.
func (o *object) remove(drop func(key string) bool) {
	kept := o.members[:0]
	for _, m := range o.members {
		if !drop(m.key) {
			kept = append(kept, m)
		}
	}
	clear(o.members[len(kept):])
	o.members, o.index = kept, nil
}

// appendPython appends the object formatted as Python's
// json.dump(obj, f, indent=2) formats it: members as written stay byte for
// byte, new ones are formatted by appendPython.
func (o *object) appendPython(dst []byte) []byte {
	if len(o.members) == 0 {
		return append(dst, "{}"...)
	}
	dst = append(dst, '{')
	for i, m := range o.members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, "\n  "...)
		if m.rawKey != nil {
			dst = append(dst, m.rawKey...)
			dst = append(dst, ": "...)
			dst = append(dst, m.value...)
			continue
		}
		dst = append(append(append(dst, '"'), m.key...), '"') // a name stategen accepts: nothing to escape
		dst = append(dst, ": "...)
		dst = appendPython(dst, m.value, 1)
	}
	return append(dst, "\n}"...)
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func checkEnd(data []byte, i int) error {
	if i = skipSpace(data, i); i != len(data) {
		return fmt.Errorf("data after the JSON value at offset %d", i)
	}
	return nil
}

func describe(data []byte, i int) string {
	if i >= len(data) {
		return "the end of the data"
	}
	return fmt.Sprintf("%q at offset %d", data[i], i)
}

func syntaxError(data []byte, i int, want string) error {
	if i >= len(data) {
		return fmt.Errorf("unexpected end of JSON input, want %s", want)
	}
	return fmt.Errorf("invalid JSON: %s, want %s", describe(data, i), want)
}

// skipValue checks the JSON value that starts at data[i] and returns the
// index just past it. depth is how deeply the value is nested: an array or
// object that would nest deeper than MaxDepth is refused.
func skipValue(data []byte, i, depth int) (int, error) {
	if i < len(data) && (data[i] == '{' || data[i] == '[') {
		return skipContainer(data, i, depth)
	}
	return skipScalar(data, i)
}

func skipScalar(data []byte, i int) (int, error) {
	if i >= len(data) {
		return i, syntaxError(data, i, "a value")
	}
	switch c := data[i]; {
	case c == '"':
		return skipString(data, i)
	case c == 't':
		return skipLiteral(data, i, "true")
	case c == 'f':
		return skipLiteral(data, i, "false")
	case c == 'n':
		return skipLiteral(data, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(data, i)
	}
	return i, syntaxError(data, i, "a value")
}

func closer(open byte) byte {
	if open == '{' {
		return '}'
	}
	return ']'
}

// skipContainer skips the array or object at data[i] without recursion,
// keeping a stack of the open containers.
func skipContainer(data []byte, i, depth int) (int, error) {
	var stack []byte // the open containers' '{' or '['
	var ok bool
	for {
		// A value starts at i.
		if c := data[i]; c == '{' || c == '[' {
			if depth+len(stack) >= MaxDepth {
				return i, fmt.Errorf("JSON nested deeper than %d levels", MaxDepth)
			}
			stack = append(stack, c)
			i = skipSpace(data, i+1)
			if i < len(data) && data[i] == closer(c) {
				stack = stack[:len(stack)-1]
				i++
			} else {
				if c == '{' {
					if i, ok = objectKey(data, i); !ok {
						return i, syntaxError(data, i, "an object key")
					}
				}
				if i >= len(data) {
					return i, syntaxError(data, i, "a value")
				}
				continue
			}
		} else {
			end, err := skipScalar(data, i)
			if err != nil {
				return end, err
			}
			i = end
		}
		// After a value: close the containers that end here, then go on
		// to the next value.
		for {
			if len(stack) == 0 {
				return i, nil
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return i, syntaxError(data, i, "',' or a closing bracket")
			}
			top := stack[len(stack)-1]
			if data[i] == closer(top) {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if data[i] != ',' {
				return i, syntaxError(data, i, "',' or a closing bracket")
			}
			i = skipSpace(data, i+1)
			if top == '{' {
				if i, ok = objectKey(data, i); !ok {
					return i, syntaxError(data, i, "an object key")
				}
			}
			if i >= len(data) {
				return i, syntaxError(data, i, "a value")
			}
			break
		}
	}
}

// objectKey skips `"key" :` and the white space after it.
func objectKey(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return i, false
	}
	end, err := skipString(data, i)
	if err != nil {
		return i, false
	}
	i = skipSpace(data, end)
	if i >= len(data) || data[i] != ':' {
		return i, false
	}
	return skipSpace(data, i+1), true
}

func skipLiteral(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, syntaxError(data, i, "a value")
	}
	return i + len(lit), nil
}

func skipNumber(data []byte, i int) (int, error) {
	start := i
	if data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case digits() == 0:
		return i, syntaxError(data, start, "a number")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if digits() == 0 {
			return i, syntaxError(data, i, "a digit")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, syntaxError(data, i, "a digit")
		}
	}
	return i, nil
}

// skipString checks the string literal at data[i] (at its opening quote)
// and returns the index past its closing quote. Bytes that are not UTF-8
// are accepted, as the value may have been written by anyone; escapes must
// be JSON's.
func skipString(data []byte, i int) (int, error) {
	start := i
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			i++
			if i >= len(data) {
				break
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(data)-i < 5 || !isHex4(data[i+1:i+5]) {
					return i, fmt.Errorf("invalid JSON: bad \\u escape at offset %d", i-1)
				}
				i += 4
			default:
				return i, fmt.Errorf("invalid JSON: bad escape \\%c at offset %d", data[i], i-1)
			}
		case c < ' ':
			return i, fmt.Errorf("invalid JSON: control character %q in a string at offset %d", c, i)
		}
	}
	return i, fmt.Errorf("unexpected end of JSON input in the string at offset %d", start)
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if hexVal(c) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unit reads the code unit of the \u escape at lit[i] (at the backslash).
func unit(lit []byte, i int) rune {
	var r rune
	for _, c := range lit[i+2 : i+6] {
		r = r<<4 | rune(hexVal(c))
	}
	return r
}

// decodeString returns the text of a checked string literal (quotes
// included). A lone surrogate becomes U+FFFD, as in encoding/json.
func decodeString(lit []byte) string {
	body := lit[1 : len(lit)-1]
	plain := true
	for _, c := range body {
		if c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(body)
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			out = append(out, body[i])
			continue
		}
		switch body[i+1] {
		case 'u':
			r := unit(body, i)
			i += 5
			if utf16.IsSurrogate(r) {
				if i+6 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
					if r2 := unit(body, i+1); utf16.DecodeRune(r, r2) != utf8.RuneError {
						r = utf16.DecodeRune(r, r2)
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			out = append(out, unescape(body[i+1]))
			i++
		}
	}
	return string(out)
}

// unescape is the byte a two-character escape stands for.
func unescape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // '"', '\\', '/'
}

// appendCompact appends the checked JSON value v without white space
// between tokens, each string with the least escaping ('"', '\' and control
// characters; other escapes turned into the UTF-8 they stand for), except
// that an escaped lone surrogate stays escaped: UTF-8 cannot hold it, and
// whoever wrote it gets it back. This is the form values are handed to
// callers in, whatever the file's formatting.
func appendCompact(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			end, _ := skipString(v, i) // checked
			dst = appendCompactString(dst, v[i:end])
			i = end - 1
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendCompactString(dst, lit []byte) []byte {
	dst = append(dst, '"')
	body := lit[1 : len(lit)-1]
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		if body[i+1] != 'u' {
			switch e := body[i+1]; e {
			case '/':
				dst = append(dst, '/')
			default:
				dst = append(dst, '\\', e)
			}
			i++
			continue
		}
		r := unit(body, i)
		switch {
		case utf16.IsSurrogate(r):
			if r < 0xdc00 && i+11 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
				if r2 := unit(body, i+6); r2 >= 0xdc00 && r2 <= 0xdfff {
					dst = utf8.AppendRune(dst, utf16.DecodeRune(r, r2))
					i += 11
					continue
				}
			}
			dst = append(dst, body[i:i+6]...) // a lone surrogate stays escaped
		case r < ' ' || r == '"' || r == '\\':
			dst = appendEscape(dst, r)
		default:
			dst = utf8.AppendRune(dst, r)
		}
		i += 5
	}
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscape appends the escape JSON (and Python) use for a control
// character, '"' or '\', or any code unit as \uXXXX.
func appendEscape(dst []byte, r rune) []byte {
	switch r {
	case '"':
		return append(dst, `\"`...)
	case '\\':
		return append(dst, `\\`...)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	}
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// appendPython appends the checked JSON value v formatted as Python's
// json.dump(obj, f, indent=2) formats it with its other defaults, for a
// value at nesting level (the object holding it is at level-1): two spaces
// per level, "," between items and ": " after keys, empty containers as {}
// and [], strings with every character outside printable ASCII escaped as
// \uXXXX (lower-case hex, a surrogate pair above U+FFFF; ensure_ascii=True),
// no escaping of <, > or &, numbers as written, no trailing newline.
func appendPython(dst, v []byte, level int) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			end, _ := skipString(v, i) // checked
			dst = appendPythonString(dst, v[i:end])
			i = end - 1
		case '{', '[':
			j := skipSpace(v, i+1)
			if v[j] == '}' || v[j] == ']' {
				dst = append(dst, c, v[j])
				i = j
				continue
			}
			level++
			dst = newline(append(dst, c), level)
		case '}', ']':
			level--
			dst = append(newline(dst, level), c)
		case ',':
			dst = newline(append(dst, ','), level)
		case ':':
			dst = append(dst, ": "...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func newline(dst []byte, level int) []byte {
	dst = append(dst, '\n')
	for range level {
		dst = append(dst, "  "...)
	}
	return dst
}

// appendPythonString is Python's encode_basestring_ascii over a checked
// string literal: printable ASCII other than '"' and '\' as is, everything
// else escaped, code unit by code unit, so that a lone surrogate written by
// Python comes out as Python wrote it. Bytes that are not UTF-8 come out as
// U+FFFD, which is what Python would have read.
func appendPythonString(dst, lit []byte) []byte {
	dst = append(dst, '"')
	body := lit[1 : len(lit)-1]
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\':
			var r rune
			if body[i+1] == 'u' {
				r = unit(body, i)
				i += 6
			} else {
				r = rune(unescape(body[i+1]))
				i += 2
			}
			if r >= ' ' && r <= '~' && r != '"' && r != '\\' {
				dst = append(dst, byte(r))
			} else {
				dst = appendEscape(dst, r)
			}
		case c >= ' ' && c <= '~' && c != '"':
			dst = append(dst, c)
			i++
		case c < utf8.RuneSelf:
			dst = appendEscape(dst, rune(c))
			i++
		default:
			r, size := utf8.DecodeRune(body[i:])
			i += size
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				dst = appendEscape(appendEscape(dst, r1), r2)
			} else {
				dst = appendEscape(dst, r)
			}
		}
	}
	return append(dst, '"')
}

// depth returns how deeply the checked JSON value v nests arrays and
// objects (0 for a scalar).
func depth(v []byte) int {
	d, most := 0, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			end, _ := skipString(v, i)
			i = end - 1
		case '{', '[':
			d++
			most = max(most, d)
		case '}', ']':
			d--
		}
	}
	return most
}
