package peers

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// A Result is one system's times on one workload, one per round.
type Result struct {
	Workload   string
	System     string
	Durability string
	// Baseline names the stategen system of equal durability that the
	// ratio compares with; empty for stategen's own rows.
	Baseline string
	// Parallel is how many callers ran at once, each timing its own
	// operations: the rate per second is Parallel over the time. 0 is 1.
	Parallel int
	// Rounds holds nanoseconds per operation, one per round.
	Rounds []float64
}

// Median is the middle of xs (the mean of the two middle values when
// their number is even); 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Ratio is r's median time over that of its baseline in results (the
// result of the same workload whose System is r.Baseline): above 1,
// stategen is the faster. ok is false for stategen's own rows and when the
// baseline did not run.
func Ratio(r Result, results []Result) (ratio float64, ok bool) {
	if r.Baseline == "" || len(r.Rounds) == 0 {
		return 0, false
	}
	for _, b := range results {
		if b.Workload == r.Workload && b.System == r.Baseline && len(b.Rounds) > 0 {
			return Median(r.Rounds) / Median(b.Rounds), true
		}
	}
	return 0, false
}

// columns of the table; right marks the numeric ones, aligned right.
var columns = []struct {
	name  string
	right bool
}{
	{"workload", false}, {"system", false}, {"durability", false},
	{"median", true}, {"per second", true}, {"ratio", true}, {"compared with", false},
}

// Table writes results as one table, markdown with its columns aligned,
// one row per result in the order given.
func Table(w io.Writer, results []Result) error {
	rows := [][]string{}
	for _, r := range results {
		med := Median(r.Rounds)
		rate, ratio, against := "-", "-", "-"
		if med > 0 {
			rate = formatRate(float64(max(r.Parallel, 1)) * 1e9 / med)
		}
		if x, ok := Ratio(r, results); ok {
			ratio, against = fmt.Sprintf("%.2fx", x), r.Baseline
		}
		rows = append(rows, []string{r.Workload, r.System, r.Durability, formatDuration(med), rate, ratio, against})
	}
	width := make([]int, len(columns))
	for i, c := range columns {
		width[i] = utf8.RuneCountInString(c.name)
		for _, row := range rows {
			width[i] = max(width[i], utf8.RuneCountInString(row[i]))
		}
	}
	var b strings.Builder
	line := func(cell func(i int) string) {
		for i := range columns {
			b.WriteString("| ")
			b.WriteString(cell(i))
			b.WriteString(" ")
		}
		b.WriteString("|\n")
	}
	line(func(i int) string { return pad(columns[i].name, width[i], columns[i].right) })
	line(func(i int) string {
		if columns[i].right {
			return strings.Repeat("-", width[i]-1) + ":"
		}
		return strings.Repeat("-", width[i])
	})
	for _, row := range rows {
		line(func(i int) string { return pad(row[i], width[i], columns[i].right) })
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pad(s string, width int, right bool) string {
	fill := strings.Repeat(" ", width-utf8.RuneCountInString(s))
	if right {
		return fill + s
	}
	return s + fill
}

// formatDuration writes ns with three significant digits in the unit that
// keeps it between 1 and 1000.
func formatDuration(ns float64) string {
	if ns <= 0 {
		return "-"
	}
	units := []string{"ns", "µs", "ms", "s"}
	u := 0
	for ns >= 1000 && u < len(units)-1 {
		ns /= 1000
		u++
	}
	return threeDigits(ns) + " " + units[u]
}

// formatRate writes operations per second, to three significant digits
// below 1000 and whole above.
func formatRate(perSecond float64) string {
	if perSecond >= 1000 {
		return fmt.Sprintf("%.0f", perSecond)
	}
	return threeDigits(perSecond)
}

func threeDigits(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
