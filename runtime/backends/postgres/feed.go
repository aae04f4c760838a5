package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/internal/feedmsg"
)

// feedChannel is the channel every write notifies (see Feed in the package
// doc): one per schema, so that stores in one database do not mix.
func (b *Backend) feedChannel() string { return "stategen_feed:" + b.schema }

// Feed LISTENs on the store's channel, on a connection of its own, and
// sends the changes of ns (of every namespace when ns is empty).
func (b *Backend) Feed(ctx context.Context, ns string, send func(runtime.Change, error)) error {
	conn, err := b.listen(ctx)
	if err != nil {
		return err
	}
	go func() {
		defer func() {
			if conn != nil {
				conn.Close(context.Background())
			}
		}()
		backoff := time.Duration(0)
		for {
			if conn == nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				if conn, err = b.listen(ctx); err != nil {
					if ctx.Err() != nil {
						return
					}
					send(runtime.Change{}, err)
					backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
					continue
				}
				// Listening again: what was notified meanwhile is lost.
				backoff = 0
				send(runtime.Change{Namespace: ns, Kind: runtime.ChangeGap}, nil)
			}
			n, err := conn.WaitForNotification(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				send(runtime.Change{}, b.fail(err))
				conn.Close(context.Background())
				conn = nil
				continue
			}
			feedmsg.Send([]byte(n.Payload), ns, send)
		}
	}()
	return nil
}

// listen opens a connection, as the pool's are configured, and LISTENs.
func (b *Backend) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, b.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, b.fail(err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{b.feedChannel()}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, b.fail(err)
	}
	return conn, nil
}
