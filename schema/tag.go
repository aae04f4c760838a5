package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tag is a parsed `state:"..."` struct tag.
type Tag struct {
	Key      string          // "" means: use SnakeCase of the field name
	Skip     bool            // the tag was "-": the field is not persisted
	Required bool            // the option required was given
	Secret   bool            // the option secret was given
	NullZero bool            // the option nullzero was given
	Default  json.RawMessage // compact JSON of default=..., nil when none
}

const (
	optRequired = "required"
	optSecret   = "secret"
	optNullZero = "nullzero"
	optDefault  = "default"
)

// knownOptions lists the options for error messages.
const knownOptions = "required, secret, nullzero and default=JSON"

// ParseTag parses the value of a `state:"..."` struct tag, as
// reflect.StructTag.Get("state") returns it (already unquoted), following
// the grammar KEY[,OPTION...] described in the package documentation.
//
// "default=" must be the last option: it takes the rest of the tag as its
// JSON value, commas and quotes included. ParseTag does not check the key's
// characters; Type.Check does.
func ParseTag(tag string) (Tag, error) {
	key, rest, hasOpts := strings.Cut(tag, ",")
	if err := checkSpaces("key", key); err != nil {
		return Tag{}, err
	}
	if key == "-" {
		if hasOpts {
			return Tag{}, fmt.Errorf("tag %s: \"-\" cannot take options: write state:\"-\" alone to skip the field, or choose a real key", quote(tag))
		}
		return Tag{Skip: true}, nil
	}
	switch {
	case key == optRequired || key == optSecret || key == optNullZero:
		return Tag{}, fmt.Errorf("key %q is spelled like an option: write state:\",%s\" to keep the default key, or choose another key", key, key)
	case strings.HasPrefix(key, optDefault+"="):
		return Tag{}, fmt.Errorf("key %s is spelled like an option: the first element of a tag is the key, so write state:\",%s\" to keep the default key", quote(key), tag)
	}

	t := Tag{Key: key}
	for hasOpts {
		if after, ok := strings.CutPrefix(rest, optDefault+"="); ok {
			def, err := parseDefault(after)
			if err != nil {
				return Tag{}, err
			}
			t.Default = def
			break
		}
		var opt string
		opt, rest, hasOpts = strings.Cut(rest, ",")
		if opt == "" {
			return Tag{}, fmt.Errorf("tag %s has an empty option (two commas in a row or a trailing comma): remove it", quote(tag))
		}
		if err := checkSpaces("option", opt); err != nil {
			return Tag{}, err
		}
		name, _, hasValue := strings.Cut(opt, "=")
		if strings.TrimSpace(name) != name {
			return Tag{}, fmt.Errorf("option %s has spaces around '=': write %s=... with none", quote(opt), strings.TrimSpace(name))
		}
		switch name {
		case optRequired, optSecret, optNullZero:
			if hasValue {
				return Tag{}, fmt.Errorf("option %s takes no value: write just %s", quote(opt), name)
			}
			seen := map[string]*bool{optRequired: &t.Required, optSecret: &t.Secret, optNullZero: &t.NullZero}[name]
			if *seen {
				return Tag{}, fmt.Errorf("option %q is given twice: remove one", name)
			}
			*seen = true
		case optDefault: // without '=': "default=" was handled above
			return Tag{}, fmt.Errorf("option \"default\" needs a value: write default=JSON as the last option, e.g. default=\"base\" or default=0")
		default:
			return Tag{}, fmt.Errorf("unknown option %s%s: the known options are %s", quote(opt), suggest(name, optRequired, optSecret, optNullZero, optDefault), knownOptions)
		}
	}
	if t.Required && t.Default != nil {
		return Tag{}, fmt.Errorf("options required and default= conflict: a required key is never absent, so its default would never be used: choose one")
	}
	if t.Required && t.NullZero {
		return Tag{}, fmt.Errorf("options required and nullzero conflict: a required key never holds null, so its zero value could never be stored: choose one")
	}
	return t, nil
}

// parseDefault validates and compacts the JSON after "default=".
func parseDefault(s string) (json.RawMessage, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("default= has no value: write default=JSON, e.g. default=\"base\", default=0 or default=[]")
	}
	var buf bytes.Buffer
	err := json.Compact(&buf, []byte(s))
	if err == nil {
		return json.RawMessage(buf.Bytes()), nil
	}
	// Something that looks like options after a valid JSON value: default=
	// was not written last.
	for i := 0; i < len(s); i++ {
		if s[i] != ',' || !json.Valid([]byte(s[:i])) {
			continue
		}
		return nil, fmt.Errorf("default value %s is not valid JSON (%v): default= must be the last option, as it takes the rest of the tag: move %s before default=",
			quote(s), err, quote(s[i+1:]))
	}
	hint := ""
	if r, _ := utf8.DecodeRuneInString(strings.TrimSpace(s)); unicode.IsLetter(r) {
		hint = fmt.Sprintf(": a string default needs JSON quotes, e.g. default=%s (escaped as default=\\\"...\\\" inside the Go struct tag)", strconv.Quote(strings.TrimSpace(s)))
	}
	return nil, fmt.Errorf("default value %s is not valid JSON: %v%s", quote(s), err, hint)
}

// checkSpaces refuses leading or trailing white space in a key or option.
func checkSpaces(what, s string) error {
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("%s %q has spaces around it: remove them (struct tags take no spaces)", what, s)
	}
	return nil
}

// quote shows a tag fragment that usually holds double quotes readably: in
// backquotes when it can, else Go-quoted.
func quote(s string) string {
	if strconv.CanBackquote(s) {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

// suggest returns ` (did you mean "x"?)` for the candidate closest to s, if
// it is within two edits, else "".
func suggest(s string, candidates ...string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	if best == optDefault {
		best += "=JSON"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Closest returns the candidate closest to s, compared without case, when
// it is close enough to be what s meant (a typo: within two edits, or a
// quarter of s's length for long names), for "did you mean" hints.
func Closest(s string, candidates []string) (string, bool) {
	best, bestDist := "", max(2, len(s)/4)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist || d == bestDist && c < best {
			best, bestDist = c, d
		}
	}
	return best, best != ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
