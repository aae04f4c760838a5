package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := `pkg: x/sqlite
BenchmarkLoad/raw-2  10  100 ns/op
BenchmarkLoad/ours-2  10  150 ns/op
BenchmarkLoad/raw-2  10  300 ns/op
BenchmarkLoad/ours-2  10  140 ns/op
BenchmarkLoad/raw-2  10  110 ns/op
BenchmarkLoad/ours-2  10  160 ns/op
pkg: x/redis
BenchmarkLoad/raw-2  10  10 ns/op
BenchmarkLoad/ours-2  10  30 ns/op
BenchmarkAlone-2  10  5 ns/op
`
	var out strings.Builder
	report(strings.NewReader(in), &out)
	got := out.String()
	if !strings.HasPrefix(got, in) {
		t.Errorf("input not passed through:\n%s", got)
	}
	// Medians: sqlite raw 110, ours 150 (1.36x); redis 10 and 30 (3.00x):
	// the two packages' BenchmarkLoad stay apart.
	for _, want := range []string{"sqlite.BenchmarkLoad\n", "1.36x", "redis.BenchmarkLoad\n", "3.00x"} {
		if !strings.Contains(got[len(in):], want) {
			t.Errorf("report lacks %q:\n%s", want, got[len(in):])
		}
	}
	if strings.Contains(got[len(in):], "Alone") {
		t.Errorf("a benchmark without sub-benchmarks got a ratio:\n%s", got[len(in):])
	}
}
