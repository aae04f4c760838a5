package fsstore

import (
	"unicode/utf8"
)

// AppendPython appends n formatted exactly as Python's
// json.dump(obj, f, indent=2) formats it with its other defaults: two spaces
// per level, "," between items and ": " after keys, an empty object or array
// as {} or [], every character outside printable ASCII escaped as \uXXXX
// (lower-case hex, a surrogate pair above U+FFFF; ensure_ascii=True), no
// escaping of <, > or &, and no trailing newline. Numbers are written as
// they were parsed.
func AppendPython(dst []byte, n *Node) []byte {
	return appendPython(dst, n, 0)
}

func appendPython(dst []byte, n *Node, level int) []byte {
	switch n.Kind {
	case Object:
		if len(n.Members) == 0 {
			return append(dst, "{}"...)
		}
		dst = append(dst, '{')
		for i, m := range n.Members {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = newline(dst, level+1)
			dst = appendPythonString(dst, m.Key)
			dst = append(dst, ": "...)
			dst = appendPython(dst, m.Value, level+1)
		}
		dst = newline(dst, level)
		return append(dst, '}')
	case Array:
		if len(n.Elems) == 0 {
			return append(dst, "[]"...)
		}
		dst = append(dst, '[')
		for i, e := range n.Elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = newline(dst, level+1)
			dst = appendPython(dst, e, level+1)
		}
		dst = newline(dst, level)
		return append(dst, ']')
	case String:
		return appendPythonString(dst, n.Text)
	}
	return appendScalar(dst, n)
}

func newline(dst []byte, level int) []byte {
	dst = append(dst, '\n')
	for range level {
		dst = append(dst, "  "...)
	}
	return dst
}

func appendScalar(dst []byte, n *Node) []byte {
	switch n.Kind {
	case Null:
		return append(dst, "null"...)
	case Bool:
		if n.Bool {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	}
	return append(dst, n.Text...) // Number
}

const hexDigits = "0123456789abcdef"

// appendPythonString is Python's encode_basestring_ascii: only printable
// ASCII other than '"' and '\' goes out as is.
func appendPythonString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range s { // invalid UTF-8 comes out as U+FFFD, as the decoder made it
		switch {
		case r == '"':
			dst = append(dst, `\"`...)
		case r == '\\':
			dst = append(dst, `\\`...)
		case r >= ' ' && r <= '~':
			dst = append(dst, byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\b':
			dst = append(dst, `\b`...)
		case r == '\f':
			dst = append(dst, `\f`...)
		case r > 0xffff:
			r -= 0x10000
			dst = appendU(dst, 0xd800|(r>>10)&0x3ff)
			dst = appendU(dst, 0xdc00|r&0x3ff)
		default:
			dst = appendU(dst, r)
		}
	}
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// AppendCompact appends n as compact JSON with the least escaping (only '"',
// '\' and control characters): the form values are handed back to callers
// in, whatever the file's formatting.
func AppendCompact(dst []byte, n *Node) []byte {
	switch n.Kind {
	case Object:
		dst = append(dst, '{')
		for i, m := range n.Members {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendCompactString(dst, m.Key)
			dst = append(dst, ':')
			dst = AppendCompact(dst, m.Value)
		}
		return append(dst, '}')
	case Array:
		dst = append(dst, '[')
		for i, e := range n.Elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendCompact(dst, e)
		}
		return append(dst, ']')
	case String:
		return appendCompactString(dst, n.Text)
	}
	return appendScalar(dst, n)
}

func appendCompactString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			dst = utf8.AppendRune(dst, r) // U+FFFD for invalid bytes
			i += size
			continue
		}
		switch {
		case c == '"':
			dst = append(dst, `\"`...)
		case c == '\\':
			dst = append(dst, `\\`...)
		case c >= ' ':
			dst = append(dst, c)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		default:
			dst = appendU(dst, rune(c))
		}
		i++
	}
	return append(dst, '"')
}
