package redis_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// TestFeedReconnect: a feed whose subscription is cut by the server (as a
// restart or a network failure cuts it) subscribes again and reports a gap
// for what may have been published meanwhile, then goes on.
func TestFeedReconnect(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := runtime.Open(ctx, srv.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	changes := make(chan runtime.Change, 100)
	errs := make(chan error, 100)
	feed := st.Watch(ctx, "ns") // subscribed from here on
	go func() {
		for c, err := range feed {
			if err != nil {
				errs <- err
				continue
			}
			changes <- c
		}
	}()
	next := func(what string) runtime.Change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing reported", what)
			return runtime.Change{}
		}
	}
	rev, err := st.Put(ctx, "ns", "a", json.RawMessage(`1`))
	if err != nil {
		t.Fatal(err)
	}
	if c := next("a write"); c.Kind != runtime.ChangeWrite || c.Revision != rev {
		t.Fatalf("first change %+v, want the write of revision %d", c, rev)
	}
	if err := srv.Client(t).Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	lost, err := st.Put(ctx, "ns", "b", json.RawMessage(`2`))
	if err != nil {
		t.Fatal(err)
	}
	// The write made while the feed was cut is reported, or covered by the gap.
	var sawGap bool
	for !sawGap {
		c := next("after the subscription was cut")
		switch {
		case c.Kind == runtime.ChangeGap && c.Namespace == "ns" && c.FromRevision >= rev:
			sawGap = true
		case c.Kind == runtime.ChangeWrite && c.Revision == lost:
		default:
			t.Fatalf("after the subscription was cut: change %+v, want a gap", c)
		}
	}
	after, err := st.Put(ctx, "ns", "c", json.RawMessage(`3`))
	if err != nil {
		t.Fatal(err)
	}
	for {
		c := next("a write after the gap")
		if c.Kind == runtime.ChangeWrite && c.Revision == after {
			break
		}
		if c.Kind != runtime.ChangeWrite || c.Revision != lost {
			t.Fatalf("after the gap: change %+v, want the write of revision %d", c, after)
		}
	}
	if len(errs) == 0 {
		t.Log("the cut was not reported as an error (go-redis reconnected first)")
	}
}
