package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
)

// TestClassify: which failures are retried, and which of those surely
// changed nothing.
func TestClassify(t *testing.T) {
	b := &Backend{}
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	for _, tc := range []struct {
		name       string
		err        error
		transient  bool
		notApplied bool
	}{
		{"serialization failure", pg("40001"), true, true},
		{"deadlock", pg("40P01"), true, true},
		{"starting up", pg("57P03"), true, true},
		{"too many connections", pg("53300"), true, true},
		{"admin shutdown (pg_terminate_backend)", pg("57P01"), true, false},
		{"crash shutdown", pg("57P02"), true, false},
		{"connection failure", pg("08006"), true, false},
		{"connection lost", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, false},
		{"dial refused", &pgconn.ConnectError{Config: &pgconn.Config{}}, true, true},
		{"bad password", pg("28P01"), false, false},
		{"missing privilege", pg("42501"), false, false},
		{"unique violation", pg("23505"), false, false},
		{"undefined table", pg("42P01"), false, false},
		{"canceled", context.Canceled, false, false},
	} {
		err := b.classify(tc.err)
		if got := runtime.IsTransient(err); got != tc.transient {
			t.Errorf("%s: transient %v, want %v", tc.name, got, tc.transient)
		}
		// NotApplied errors are those a failed write may not report as an
		// unknown outcome: a Store with one attempt tells them apart.
		if tc.transient {
			st := runtime.New(failing{err: tc.err, b: b}, "test", runtime.WithRetry(runtime.NoRetry))
			_, werr := st.Put(context.Background(), "ns", "k", json.RawMessage(`1`))
			if unknown := errors.Is(werr, runtime.ErrUnknownOutcome); unknown == tc.notApplied {
				t.Errorf("%s: a write failing with it is an unknown outcome: %v; want %v", tc.name, unknown, !tc.notApplied)
			}
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: classify lost the error it wraps", tc.name)
		}
	}
}

// failing is a backend whose writes fail with err, classified.
type failing struct {
	runtime.Backend
	err error
	b   *Backend
}

func (f failing) Apply(context.Context, string, *runtime.Batch) (int64, error) {
	return 0, f.b.classify(f.err)
}

// TestListingPages: namespaces and checkpoints are listed whole across
// pages, in order, with emptied namespaces left out and namespaces of
// checkpoints only kept.
func TestListingPages(t *testing.T) {
	defer func(n int) { pageSize = n }(pageSize)
	pageSize = 3
	ctx := context.Background()
	raw := pgtest.URL(t)
	u, _ := url.Parse(raw)
	be, err := Open(ctx, u, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	st := runtime.New(be, "test")
	var want []string
	for i := range 10 {
		ns := fmt.Sprintf("ns%02d", i)
		if _, err := st.Put(ctx, ns, "k", json.RawMessage(`1`)); err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0: // emptied: not listed
			if _, err := st.Delete(ctx, ns, "k"); err != nil {
				t.Fatal(err)
			}
			continue
		case 1: // checkpoints only: listed
			if _, err := st.Checkpoint(ctx, ns, "cp"); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Delete(ctx, ns, "k"); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, ns)
	}
	got, err := be.Namespaces(ctx)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("namespaces across pages: %v, %v; want %v", got, err, want)
	}
	var names []string
	for i := range 8 {
		name := fmt.Sprintf("c%d", i)
		if err := be.PutCheckpoint(ctx, "ns02", &runtime.Checkpoint{CheckpointInfo: runtime.CheckpointInfo{Name: name, Created: time.Unix(1000-int64(i), 0)}}); err != nil {
			t.Fatal(err)
		}
		names = append([]string{name}, names...)
	}
	list, err := be.Checkpoints(ctx, "ns02")
	if err != nil {
		t.Fatal(err)
	}
	var gotNames []string
	for _, cp := range list {
		gotNames = append(gotNames, cp.Name)
	}
	if !slices.Equal(gotNames, names) {
		t.Fatalf("checkpoints across pages: %v, want %v (oldest first)", gotNames, names)
	}
}

// TestListingReadsLiveCheckpoints: listing a namespace's checkpoints reads
// its live checkpoints, not every version of them left in the index until
// the next vacuum (as a bitmap scan does, which the planner picked for a
// grown table without statistics, and the listing then slowed down with
// every checkpoint taken again under its name).
func TestListingReadsLiveCheckpoints(t *testing.T) {
	ctx := context.Background()
	u, _ := url.Parse(pgtest.URL(t))
	be, err := Open(ctx, u, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	st := runtime.New(be, "test")
	if _, err := st.Put(ctx, "ns", "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := st.Checkpoint(ctx, "ns", fmt.Sprintf("cp-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Others' checkpoints grow the table; each rewrite of ns's leaves a
	// dead version of every one, as taking them again would.
	setup := []string{`INSERT INTO ` + be.schema + `.checkpoints (ns, name, created, revision, keys)
		SELECT 'other', 'cp-' || i, i, 1, 0 FROM generate_series(1, 2000) AS i`}
	for range 20 {
		setup = append(setup, `UPDATE `+be.schema+`.checkpoints SET created = created + 1 WHERE ns = 'ns'`)
	}
	for _, q := range setup {
		if _, err := be.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rowsRead := regexp.MustCompile(`actual time=\S+ rows=(\d+)`)
	for range 2 { // the first scan may meet the dead versions once
		rows, err := be.pool.Query(ctx, "EXPLAIN (ANALYZE) "+be.sql.checkpoints, "ns", int64(-1<<63), "")
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range plan {
			if m := rowsRead.FindStringSubmatch(line); m != nil && m[1] != "50" {
				t.Fatalf("listing 50 checkpoints read %s rows in a step:\n%s", m[1], strings.Join(plan, "\n"))
			}
			// A scan that reads others' rows and filters them out (a
			// sequential one) reports 50 too, and these.
			if strings.Contains(line, "Rows Removed by") {
				t.Fatalf("listing 50 checkpoints read rows it threw away:\n%s", strings.Join(plan, "\n"))
			}
		}
	}
}
