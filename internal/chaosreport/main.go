// Command chaosreport prints the fault suite's report as a table: it reads
// the JSON lines that backendtest.Chaos appends to $STATEGEN_CHAOS_REPORT
// (one per scenario and backend) from the file named by its argument, and
// prints, for each, the faults injected, the operations acknowledged, the
// writes whose outcome was reported unknown and the promises broken, then
// the totals. It exits 1 when a promise was broken or the report is empty
// (the suite did not run), so that make chaos fails.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/stategen/stategen/runtime/backends/backendtest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: chaosreport REPORT.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaosreport:", err)
		os.Exit(1)
	}
	defer f.Close()
	ok, err := report(f, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaosreport:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// report prints the rows of r as a table on w, and reports whether the
// suite ran and kept every promise.
func report(r io.Reader, w io.Writer) (ok bool, err error) {
	var rows []backendtest.Row
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var row backendtest.Row
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return false, fmt.Errorf("bad report line %q: %v", sc.Text(), err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	if len(rows) == 0 {
		return false, fmt.Errorf("the report is empty: no scenario ran")
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Scenario != rows[j].Scenario {
			return rows[i].Scenario < rows[j].Scenario
		}
		return rows[i].Backend < rows[j].Backend
	})
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tBACKEND\tFAULTS\tACKNOWLEDGED\tUNKNOWN\tVIOLATIONS")
	var total backendtest.Row
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", r.Scenario, r.Backend, r.Faults, r.Acked, r.Unknown, r.Violations)
		total.Faults += r.Faults
		total.Acked += r.Acked
		total.Unknown += r.Unknown
		total.Violations += r.Violations
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\n", total.Faults, total.Acked, total.Unknown, total.Violations)
	if err := tw.Flush(); err != nil {
		return false, err
	}
	return total.Violations == 0, nil
}
