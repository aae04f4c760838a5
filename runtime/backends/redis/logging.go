package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// SetClientLogger sends go-redis's own diagnostics (failed dials, Sentinel
// and cluster topology changes), which go-redis otherwise prints to standard
// error, to l at debug level; a nil l discards them. go-redis has one such
// logger per process, so this is process-wide: a program such as the
// stategen CLI, which promises one clear line on stderr per failure, calls it
// once at start. The backend's own errors are unaffected.
func SetClientLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	goredis.SetLogger(clientLogger{l})
}

type clientLogger struct{ l *slog.Logger }

func (c clientLogger) Printf(ctx context.Context, format string, v ...any) {
	if !c.l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	c.l.DebugContext(ctx, "go-redis: "+msg)
}
