package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := `{"scenario":"lossy network","backend":"redis","faults":30,"acked":100,"unknown":2,"violations":0}
{"scenario":"a corrupt checkpoint","backend":"sqlite","faults":1,"acked":3,"unknown":0,"violations":0}
`
	var out strings.Builder
	ok, err := report(strings.NewReader(in), &out)
	if err != nil || !ok {
		t.Fatalf("report: %v, %v", ok, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "a corrupt checkpoint") || strings.Join(strings.Fields(lines[3]), " ") != "total 31 103 2 0" {
		t.Errorf("table:\n%s", out.String())
	}
	ok, err = report(strings.NewReader(`{"scenario":"x","backend":"y","violations":1}`), &out)
	if err != nil || ok {
		t.Errorf("a violation: ok %v, err %v; want not ok", ok, err)
	}
	if _, err := report(strings.NewReader(""), &out); err == nil {
		t.Error("an empty report is no error")
	}
}
