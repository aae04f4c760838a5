package schema

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

const directivePrefix = "stategen:"

// ParseVersion finds the schema version in a type's doc comment. doc holds
// the comment's raw lines joined by "\n", each with its "//" (go/ast's
// CommentGroup.Text drops directive lines, so the generator passes the
// lines of CommentGroup.List).
//
// A directive is a line "//stategen:NAME ARGS", with no space after the
// slashes; leading white space on the line is ignored, and so is a missing
// "//" (a line that starts with "stategen:" right away). The only directive
// is
//
//	//stategen:version N
//
// where N is a positive decimal integer. found is false, and version 0,
// when there is none. It is an error when N is missing or not a positive
// integer, when the directive appears twice, when another //stategen:
// directive appears (a typo like //stategen:versoin must not pass
// silently), and when a line reads "// stategen:..." with a space, which Go
// does not treat as a directive.
func ParseVersion(doc string) (version int, found bool, err error) {
	for line := range strings.Lines(doc) {
		line = strings.TrimLeftFunc(strings.TrimRight(line, "\r\n"), unicode.IsSpace)
		body, slashes := strings.CutPrefix(line, "//")
		if !strings.HasPrefix(body, directivePrefix) {
			if slashes && strings.HasPrefix(strings.TrimLeftFunc(body, unicode.IsSpace), directivePrefix) {
				return 0, false, fmt.Errorf("%q is not a directive, because of the space after //: write //%s", line, strings.TrimLeftFunc(body, unicode.IsSpace))
			}
			continue
		}
		body = strings.TrimPrefix(body, directivePrefix)
		name := body
		if k := strings.IndexFunc(body, func(r rune) bool { return !isDirectiveNameRune(r) }); k >= 0 {
			name = body[:k]
		}
		arg := body[len(name):]
		if name != "version" {
			return 0, false, fmt.Errorf("unknown directive %q in %q%s: the only stategen directive is //stategen:version N",
				"//"+directivePrefix+name, line, suggestDirective(name))
		}
		n, err := parseVersionArg(line, arg)
		if err != nil {
			return 0, false, err
		}
		if found {
			return 0, false, fmt.Errorf("//stategen:version appears twice (%d and %d): keep one", version, n)
		}
		version, found = n, true
	}
	return version, found, nil
}

// parseVersionArg parses the N of "//stategen:version N" from arg, what
// follows "version" on the line.
func parseVersionArg(line, arg string) (int, error) {
	const want = "N must be a positive integer, e.g. //stategen:version 2"
	if arg != "" && !unicode.IsSpace(rune(arg[0])) {
		return 0, fmt.Errorf("malformed directive %q: write //stategen:version N with a space before N; %s", line, want)
	}
	fields := strings.Fields(arg)
	switch len(fields) {
	case 0:
		return 0, fmt.Errorf("%q has no version number: %s", line, want)
	case 1:
	default:
		return 0, fmt.Errorf("%q has more than a version number after it (%q): %s, alone on its line", line, strings.Join(fields[1:], " "), want)
	}
	s := fields[0]
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q has version %q: %s", line, s, want)
	}
	return n, nil
}

func isDirectiveNameRune(r rune) bool {
	return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// suggestDirective returns ` (did you mean //stategen:version?)` when name
// is close to "version".
func suggestDirective(name string) string {
	if editDistance(strings.ToLower(name), "version") <= 2 {
		return " (did you mean //stategen:version?)"
	}
	return ""
}
