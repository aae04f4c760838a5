package redis

import (
	"context"
	"errors"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/feedmsg"
)

// feedChannel is the Pub/Sub channel every write script publishes to.
func (b *Backend) feedChannel() string { return b.prefix + ":feed" }

// feedPing is how long the feed waits for a message before it pings the
// server, to find a connection that died without a word.
const feedPing = 30 * time.Second

// Feed subscribes to the store's feed channel and sends the changes of ns
// (of every namespace when ns is empty); see Feed in the package doc.
func (b *Backend) Feed(ctx context.Context, ns string, send func(runtime.Change, error)) error {
	ps := b.client.Subscribe(ctx, b.feedChannel())
	// Receive returns the subscription's confirmation: from then on every
	// message published is delivered.
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return classify(err)
	}
	// Receive does not watch ctx: closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	go func() {
		defer stop()
		defer ps.Close()
		backoff := time.Duration(0)
		for {
			msg, err := ps.ReceiveTimeout(ctx, feedPing)
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			switch m := msg.(type) {
			case nil:
				if errors.As(err, &ne) && ne.Timeout() {
					err = ps.Ping(ctx) // a dead connection fails, and is replaced
				}
				if err != nil {
					send(runtime.Change{}, classify(err))
					backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
					select {
					case <-ctx.Done():
						return
					case <-time.After(backoff):
					}
				}
			case *goredis.Subscription:
				// A confirmation after the first: go-redis subscribed again
				// on a new connection. What was published meanwhile is lost.
				backoff = 0
				send(runtime.Change{Namespace: ns, Kind: runtime.ChangeGap}, nil)
			case *goredis.Message:
				feedmsg.Send([]byte(m.Payload), ns, send)
			}
		}
	}()
	return nil
}
