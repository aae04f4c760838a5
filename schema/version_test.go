package schema

import (
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		version int
		found   bool
	}{
		{"empty", "", 0, false},
		{"no directive", "// ADWState is the state of one ADW run.", 0, false},
		{"design example", "// ADWState is the state of one ADW run.\n//\n//stategen:version 2", 2, true},
		{"first line", "//stategen:version 1\n// ADWState is...", 1, true},
		{"large", "//stategen:version 1234", 1234, true},
		{"leading zero", "//stategen:version 07", 7, true},
		{"trailing spaces", "//stategen:version 3  \t", 3, true},
		{"tab before N", "//stategen:version\t3", 3, true},
		{"CRLF", "// T is.\r\n//stategen:version 4\r\n", 4, true},
		{"indented", "\t//stategen:version 5", 5, true},
		{"without slashes", "T is a state.\n\nstategen:version 6", 6, true},
		{"other directives ignored", "//go:generate stategen gen\n//lint:ignore X y\n//stategen:version 2", 2, true},
		{"mentioned in prose", "// Bump it with //stategen:version N when keys change.", 0, false},
		{"quoted in comment", "// //stategen:version 9", 0, false},
		{"prose word", "// stategenerator:version 2 is not ours", 0, false},
	}
	for _, tt := range tests {
		v, found, err := ParseVersion(tt.doc)
		if err != nil {
			t.Errorf("%s: ParseVersion(%q): %v", tt.name, tt.doc, err)
			continue
		}
		if v != tt.version || found != tt.found {
			t.Errorf("%s: ParseVersion(%q) = %d, %v; want %d, %v", tt.name, tt.doc, v, found, tt.version, tt.found)
		}
	}
}

func TestParseVersionErrors(t *testing.T) {
	tests := []struct {
		doc  string
		want []string
	}{
		{"//stategen:version 0", []string{`"//stategen:version 0" has version "0"`, "N must be a positive integer"}},
		{"//stategen:version -1", []string{`has version "-1"`, "N must be a positive integer"}},
		{"//stategen:version +2", []string{`has version "+2"`}},
		{"//stategen:version two", []string{`has version "two"`, "e.g. //stategen:version 2"}},
		{"//stategen:version 1.5", []string{`has version "1.5"`}},
		{"//stategen:version 99999999999999999999999", []string{`has version "99999999999999999999999"`}},
		{"//stategen:version", []string{`"//stategen:version" has no version number`, "N must be a positive integer"}},
		{"//stategen:version   ", []string{"has no version number"}},
		{"//stategen:version 2 3", []string{`has more than a version number after it ("3")`}},
		{"//stategen:version 2 // bump", []string{`("// bump")`}},
		{"//stategen:version=2", []string{`malformed directive "//stategen:version=2"`, "with a space before N"}},
		{"//stategen:version2", []string{`unknown directive "//stategen:version2"`, "did you mean //stategen:version?"}},
		{"//stategen:versoin 2", []string{`unknown directive "//stategen:versoin"`, `in "//stategen:versoin 2"`, "did you mean //stategen:version?", "the only stategen directive is //stategen:version N"}},
		{"//stategen:Version 2", []string{`unknown directive "//stategen:Version"`, "did you mean"}},
		{"//stategen:type ADWState", []string{`unknown directive "//stategen:type"`, "the only stategen directive"}},
		{"//stategen:", []string{`unknown directive "//stategen:"`}},
		{"//stategen:version 2\n// more\n//stategen:version 3", []string{"//stategen:version appears twice (2 and 3)", "keep one"}},
		{"//stategen:version 2\n//stategen:version 2", []string{"appears twice (2 and 2)"}},
		{"// stategen:version 2", []string{`"// stategen:version 2" is not a directive`, "space after //", "write //stategen:version 2"}},
		{"//\tstategen:version 2", []string{"is not a directive", "write //stategen:version 2"}},
	}
	for _, tt := range tests {
		v, found, err := ParseVersion(tt.doc)
		if err == nil {
			t.Errorf("ParseVersion(%q) = %d, %v; want an error", tt.doc, v, found)
			continue
		}
		if v != 0 || found {
			t.Errorf("ParseVersion(%q) = %d, %v with its error; want 0, false", tt.doc, v, found)
		}
		msg := err.Error()
		for _, part := range tt.want {
			if !strings.Contains(msg, part) {
				t.Errorf("ParseVersion(%q) error %q\ndoes not contain %q", tt.doc, msg, part)
			}
		}
		checkErrorStyle(t, msg)
	}
}
