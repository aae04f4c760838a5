package postgres_test

import (
	"context"
	neturl "net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/postgres/pgtest"
)

// TestFeedCut: the server ends the feed's LISTEN connection
// (pg_terminate_backend, as a restart or a failover would).
func TestFeedCut(t *testing.T) {
	url := pgtest.URL(t)
	backendtest.FeedCut(t, url, func(t testing.TB) {
		ctx := context.Background()
		u, err := neturl.Parse(url)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Del("schema") // stategen's, not libpq's
		u.RawQuery = q.Encode()
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`).Scan(&n)
		if err != nil || n == 0 {
			t.Fatalf("terminate the listener: %d ended, %v", n, err)
		}
	})
}
