// Command benchratio reads `go test -bench` output on stdin, passes it
// through, and then prints, for each benchmark with sub-benchmarks, every
// sub-benchmark's time as a ratio of the first one (the raw driver call, by
// the convention of stategen's benchmarks), so comparisons come from one run.
// With -count above 1 it uses each benchmark's median.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// line matches "BenchmarkSave/full/raw-2   9393   122348 ns/op ...", pkg
// the "pkg: ..." line go test prints before a package's benchmarks.
var (
	line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)
	pkg  = regexp.MustCompile(`^pkg: (\S+)`)
)

func main() { report(os.Stdin, os.Stdout) }

// report copies r to w, then writes the ratios.
func report(r io.Reader, w io.Writer) {
	var order []string
	times := map[string][]float64{}
	sc := bufio.NewScanner(r)
	current := ""
	for sc.Scan() {
		fmt.Fprintln(w, sc.Text())
		if m := pkg.FindStringSubmatch(sc.Text()); m != nil {
			current = path.Base(m[1]) + "."
			continue
		}
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		name := current + m[1] // same-named benchmarks of two packages stay apart
		if _, seen := times[name]; !seen {
			order = append(order, name)
		}
		times[name] = append(times[name], ns)
	}
	groups := map[string][]string{}
	var parents []string
	for _, name := range order {
		i := strings.LastIndex(name, "/")
		if i < 0 {
			continue
		}
		parent := name[:i]
		if _, seen := groups[parent]; !seen {
			parents = append(parents, parent)
		}
		groups[parent] = append(groups[parent], name)
	}
	if len(parents) == 0 {
		return
	}
	fmt.Fprintln(w, "\nratios to the first sub-benchmark of each group (median ns/op):")
	for _, p := range parents {
		subs := groups[p]
		if len(subs) < 2 {
			continue
		}
		base := median(times[subs[0]])
		fmt.Fprintf(w, "%s\n", p)
		for _, s := range subs {
			t := median(times[s])
			fmt.Fprintf(w, "    %-24s %12.1f ns/op %8.2fx%s\n", s[len(p)+1:], t, t/base, targets[s].verdict(t/base))
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
