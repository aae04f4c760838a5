package schema

import (
	"strings"
	"unicode"
)

// initialisms are the all-capital words SnakeCase recognises at the end of
// a longer run of capitals, so that ADWID reads as ADW+ID. They are the
// initialisms of Go's own naming conventions (the golint list, less those
// with digits) plus a few of stategen's domain. The list is part of the key
// contract: changing it changes derived keys.
var initialisms = map[string]bool{
	"ACL": true, "ADW": true, "API": true, "ASCII": true, "CPU": true,
	"CSS": true, "DNS": true, "EOF": true, "GUID": true, "HTML": true,
	"HTTP": true, "HTTPS": true, "ID": true, "IP": true, "JSON": true,
	"LHS": true, "PR": true, "QPS": true, "RAM": true, "RHS": true,
	"RPC": true, "SHA": true, "SLA": true, "SMTP": true, "SQL": true,
	"SSH": true, "TCP": true, "TLS": true, "TTL": true, "UDP": true,
	"UI": true, "UID": true, "UUID": true, "URI": true, "URL": true,
	"VM": true, "XML": true, "XMPP": true, "XSRF": true, "XSS": true,
}

// SnakeCase returns the storage key derived from a Go field name: its
// words, lower-cased, joined by '_'. Words are split the way a Go
// programmer reads names with initialisms:
//
//   - A capital starts a word; lower-case letters continue it
//     (IssueNumber → issue_number, userName → user_name).
//   - A run of capitals is one word (PlanURL → plan_url, ID → id). When
//     lower-case letters follow the run, its last capital starts the next
//     word (HTTPServer → http_server, and, by the same rule,
//     IPv6Addr → i_pv6_addr).
//   - A run of capitals followed by a single 's' that ends the word (end of
//     name, a capital, a digit or '_' follows) is a plural initialism and
//     stays one word (URLs → urls, AllADWs → all_adws, IDsByName →
//     ids_by_name).
//   - A run of capitals that ends in a known initialism is split before it
//     when both parts have at least two letters (ADWID → adw_id,
//     HTTPURLParser → http_url_parser; but PID → pid, UUID → uuid). The
//     known initialisms are Go's usual ones (ID, URL, HTTP, JSON, API...)
//     plus ADW, PR and SHA.
//   - Digits stay with the word before them, and lower-case letters after
//     digits continue that word (V2Config → v2_config, Field1 → field1,
//     HTTP2Server → http2_server).
//   - '_' separates words and is not doubled (Issue_Number → issue_number).
//
// Letters are lower-cased with unicode.ToLower; a key that is not a valid
// runtime key name (a non-ASCII letter, say) is refused by Type.Check.
func SnakeCase(goName string) string {
	r := []rune(goName)
	n := len(r)
	var words [][]rune
	// tail extends words' last word with the digits and lower-case letters
	// from i on, and returns the index after them.
	tail := func(i int) int {
		j := i
		for j < n && (unicode.IsDigit(r[j]) || isLower(r[j])) {
			j++
		}
		last := len(words) - 1
		words[last] = append(words[last], r[i:j]...)
		return j
	}
	for i := 0; i < n; {
		c := r[i]
		switch {
		case c == '_':
			i++
		case unicode.IsUpper(c):
			j := i
			for j < n && unicode.IsUpper(r[j]) {
				j++
			}
			run := r[i:j:j] // capped: appending to a word must copy
			switch {
			case len(run) == 1:
				words = append(words, []rune{c})
				i = tail(j)
			case j < n && isLower(r[j]):
				if r[j] == 's' && (j+1 == n || !isLower(r[j+1])) {
					words = append(words, splitRun(run)...)
					words[len(words)-1] = append(words[len(words)-1], 's')
					i = tail(j + 1)
				} else {
					words = append(words, splitRun(run[:len(run)-1])...)
					i = j - 1
				}
			default: // end, digit or '_'
				words = append(words, splitRun(run)...)
				i = tail(j)
			}
		default: // a lower-case letter or digit starting a name or after '_'
			words = append(words, nil)
			i = tail(i)
		}
	}
	var b strings.Builder
	for k, w := range words {
		if k > 0 {
			b.WriteByte('_')
		}
		for _, c := range w {
			b.WriteRune(unicode.ToLower(c))
		}
	}
	return b.String()
}

// isLower reports whether c continues a word: any letter that is not a
// capital (so also letters without case).
func isLower(c rune) bool {
	return c != '_' && !unicode.IsUpper(c) && !unicode.IsDigit(c)
}

// splitRun splits a run of capitals before the longest known initialism
// that ends it, when both parts have at least two letters, and so on for
// the part before it.
func splitRun(run []rune) [][]rune {
	if !initialisms[string(run)] {
		for l := len(run) - 2; l >= 2; l-- {
			if head, suffix := run[:len(run)-l], run[len(run)-l:]; initialisms[string(suffix)] {
				return append(splitRun(head), suffix)
			}
		}
	}
	return [][]rune{run}
}
