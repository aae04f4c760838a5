package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// persistence is what a server says of how it keeps writes.
type persistence struct {
	addr        string
	appendonly  string // "yes", "no", or "" when it could not be read
	appendfsync string // "always", "everysec", "no", or ""
}

// readPersistence asks one server for its AOF settings: CONFIG GET, or,
// where CONFIG is disabled (managed services rename it, ACLs deny it),
// INFO persistence, which says whether the AOF is on but not how it syncs.
func readPersistence(ctx context.Context, c *goredis.Client, addr string) persistence {
	p := persistence{addr: addr}
	if m, err := c.ConfigGet(ctx, "append*").Result(); err == nil {
		p.appendonly, p.appendfsync = m["appendonly"], m["appendfsync"]
		return p
	}
	info, err := c.Info(ctx, "persistence").Result()
	if err != nil {
		return p
	}
	for line := range strings.SplitSeq(info, "\n") {
		switch strings.TrimSpace(line) {
		case "aof_enabled:1":
			p.appendonly = "yes"
		case "aof_enabled:0":
			p.appendonly = "no"
		}
	}
	return p
}

// checkPersistence logs, once, how far the server(s) can keep acknowledged
// writes: a warning when a restart of Redis would lose them (no AOF, or an
// AOF the OS syncs when it likes), a note for appendfsync everysec (a crash
// of the machine can lose the last second), nothing when every write is
// synced. A server that will not say is noted at debug level: it may keep
// writes by means of its own (a managed service). where names the server
// of a client that is not a cluster's.
func (b *Backend) checkPersistence(ctx context.Context, where string) {
	var found []persistence
	switch c := b.client.(type) {
	case *goredis.ClusterClient:
		var mu sync.Mutex
		err := c.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			p := readPersistence(ctx, c, c.Options().Addr)
			mu.Lock()
			found = append(found, p)
			mu.Unlock()
			return nil
		})
		if err != nil {
			b.logger.Debug("stategen: redis: cannot check the servers' persistence", "error", err)
			return
		}
	case *goredis.Client:
		found = append(found, readPersistence(ctx, c, where))
	}
	var lose, window, unknown []string
	for _, p := range found {
		switch {
		case p.appendonly == "no":
			lose = append(lose, p.addr+" (appendonly no)")
		case p.appendonly == "yes" && p.appendfsync == "no":
			lose = append(lose, p.addr+" (appendfsync no)")
		case p.appendonly == "yes" && p.appendfsync == "everysec":
			window = append(window, p.addr)
		case p.appendonly == "" || p.appendfsync == "":
			unknown = append(unknown, p.addr)
		}
	}
	const advice = "set appendonly yes and appendfsync always (or everysec, which can lose the last second)"
	if len(lose) > 0 {
		b.logger.LogAttrs(ctx, slog.LevelWarn,
			fmt.Sprintf("stategen: redis: %s may lose acknowledged writes when Redis restarts: %s", strings.Join(lose, ", "), advice),
			slog.String("servers", strings.Join(lose, ", ")))
	}
	if len(window) > 0 {
		b.logger.LogAttrs(ctx, slog.LevelInfo,
			fmt.Sprintf("stategen: redis: %s sync(s) the AOF every second (appendfsync everysec): a crash of the machine can lose the last second of acknowledged writes", strings.Join(window, ", ")))
	}
	if len(unknown) > 0 {
		b.logger.LogAttrs(ctx, slog.LevelDebug,
			fmt.Sprintf("stategen: redis: cannot read the persistence settings of %s (CONFIG is disabled?): make sure they keep acknowledged writes (%s)", strings.Join(unknown, ", "), advice))
	}
}
