package redis_test

import (
	"context"
	"testing"

	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// TestFeedCut: the server cuts the feed's subscription (CLIENT KILL).
func TestFeedCut(t *testing.T) {
	srv := redistest.Start(t)
	backendtest.FeedCut(t, srv.URL(t), func(t testing.TB) {
		if err := srv.Client(t).Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
	})
}
