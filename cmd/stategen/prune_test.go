package main

import (
	"strings"
	"testing"
	"time"
)

// TestParseAge: Go durations, plus d for days of 24 hours.
func TestParseAge(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string // a substring; "" for no error
	}{
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"12h1d", 36 * time.Hour, ""},
		{"1.5d", 36 * time.Hour, ""},
		{".5d", 12 * time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"1h30m10s", time.Hour + 30*time.Minute + 10*time.Second, ""},
		{"1500ms", 1500 * time.Millisecond, ""},
		{"1d1d", 48 * time.Hour, ""},
		{"", 0, "empty"},
		{"0d", 0, "not positive"},
		{"0s", 0, "not positive"},
		{"-1h", 0, "not positive"},
		{"+1h", 0, `no number before "+1h"`},
		{"7", 0, "no unit after 7"},
		{"d", 0, `no number before "d"`},
		{"7x", 0, `unknown unit "x"`},
		{"7 d", 0, "no unit after 7"},
		{"1000000d", 0, "too long"},
	} {
		got, err := parseAge(tc.in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("parseAge(%q): %v", tc.in, err)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("parseAge(%q) = %v, want %v", tc.in, got, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("parseAge(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
		}
	}
}
