package redis

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
)

// feedChannel is the Pub/Sub channel every write script publishes to.
func (b *Backend) feedChannel() string { return b.prefix + ":feed" }

// feedMessage is what the scripts publish (publishLua).
type feedMessage struct {
	NS     string          `json:"ns"`
	Rev    int64           `json:"rev"`
	Put    json.RawMessage `json:"put"`
	Del    json.RawMessage `json:"del"`
	Schema bool            `json:"schema"`
	CP     string          `json:"cp"`
	Op     string          `json:"op"`
}

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
				c, err := decodeFeed(m.Payload)
				if err != nil {
					send(runtime.Change{}, err)
				} else if ns == "" || c.Namespace == ns {
					send(c, nil)
				}
			}
		}
	}()
	return nil
}

// decodeFeed turns a published message into a Change.
func decodeFeed(payload string) (runtime.Change, error) {
	var m feedMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return runtime.Change{}, runtime.Corrupt("feed message", err)
	}
	c := runtime.Change{Namespace: m.NS, Kind: runtime.ChangeWrite, Revision: m.Rev, Schema: m.Schema, Checkpoint: m.CP, CheckpointOp: runtime.CheckpointOp(m.Op)}
	if m.Op == string(runtime.CheckpointCreated) || m.Op == string(runtime.CheckpointDeleted) {
		c.Kind = runtime.ChangeCheckpoint
	}
	c.Keys, c.Deleted = keyList(m.Put), keyList(m.Del)
	return c, nil
}

// keyList decodes an array of keys, sorted; Lua's cjson writes an empty
// one as {}, which is none.
func keyList(raw json.RawMessage) []string {
	var keys []string
	if json.Unmarshal(raw, &keys) != nil {
		return nil
	}
	slices.Sort(keys)
	return keys
}
