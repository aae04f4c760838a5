package peers

import (
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{300, 100, 200}, 200},
		{[]float64{40, 10, 30, 20}, 25},
		{[]float64{5, 1, 9, 1000, 3}, 5}, // one slow round does not move it
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestTable(t *testing.T) {
	results := []Result{
		{Workload: "save", System: "stategen sqlite FULL", Durability: "fsync per commit", Rounds: []float64{2e6, 1e6, 1.5e6}},
		{Workload: "save", System: "stategen sqlite NORMAL", Durability: "none per commit", Rounds: []float64{120e3, 100e3, 110e3}},
		{Workload: "save", System: "python json", Durability: "none", Baseline: "stategen sqlite NORMAL", Rounds: []float64{990e3, 3e6, 880e3}},
		{Workload: "save", System: "langgraph sqlite", Durability: "fsync per commit", Baseline: "stategen sqlite FULL", Rounds: []float64{1.2e6, 1.8e6}},
		{Workload: "save", System: "langgraph postgres", Durability: "server", Baseline: "stategen postgres", Rounds: []float64{500}},
		{Workload: "8 writers", System: "stategen sqlite FULL", Durability: "fsync per commit", Parallel: 8, Rounds: []float64{4e6}},
		{Workload: "8 writers", System: "python sqlite", Durability: "fsync per commit", Baseline: "stategen sqlite FULL", Parallel: 8, Rounds: []float64{40e6, 30e6}},
	}
	var b strings.Builder
	if err := Table(&b, results); err != nil {
		t.Fatal(err)
	}
	// Medians: 1.5 ms; 110 µs; 990 µs (the 3 ms round discarded), 9.00x
	// NORMAL's; 1.5 ms (the mean of two), 1.00x; no baseline row, no
	// ratio. The writers' rate counts all 8: 8 / 4 ms = 2000 per second.
	want := `| workload  | system                 | durability       |  median | per second | ratio | compared with          |
| --------- | ---------------------- | ---------------- | ------: | ---------: | ----: | ---------------------- |
| save      | stategen sqlite FULL   | fsync per commit | 1.50 ms |        667 |     - | -                      |
| save      | stategen sqlite NORMAL | none per commit  |  110 µs |       9091 |     - | -                      |
| save      | python json            | none             |  990 µs |       1010 | 9.00x | stategen sqlite NORMAL |
| save      | langgraph sqlite       | fsync per commit | 1.50 ms |        667 | 1.00x | stategen sqlite FULL   |
| save      | langgraph postgres     | server           |  500 ns |    2000000 |     - | -                      |
| 8 writers | stategen sqlite FULL   | fsync per commit | 4.00 ms |       2000 |     - | -                      |
| 8 writers | python sqlite          | fsync per commit | 35.0 ms |        229 | 8.75x | stategen sqlite FULL   |
`
	if got := b.String(); got != want {
		t.Errorf("Table wrote\n%s\nwant\n%s", got, want)
	}
}
