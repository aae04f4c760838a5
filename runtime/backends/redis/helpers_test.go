package redis_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// prefixOf returns the key prefix a store URL names.
func prefixOf(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("prefix")
}

// countWarnings counts the warnings a Store logs about retrying, one per retry.
type countWarnings struct{ n atomic.Int64 }

func (c *countWarnings) Enabled(context.Context, slog.Level) bool { return true }
func (c *countWarnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && strings.Contains(r.Message, "retrying") {
		c.n.Add(1)
	}
	return nil
}
func (c *countWarnings) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countWarnings) WithGroup(string) slog.Handler      { return c }

func slogOf(h slog.Handler) *slog.Logger { return slog.New(h) }
