package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// warnings is a slog handler that prints the store's warnings, one line
// each, as "stategen: warning: ...". Its notes of retries are left out: a
// command that fails after them prints its error, and one that succeeds
// after them needs to say nothing.
type warnings struct{ w io.Writer }

func (h warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h warnings) Handle(_ context.Context, r slog.Record) error {
	msg := strings.TrimPrefix(r.Message, "stategen: ")
	if strings.HasPrefix(msg, "retrying") {
		return nil
	}
	_, err := fmt.Fprintf(h.w, "stategen: warning: %s\n", strings.ReplaceAll(msg, "\n", " "))
	return err
}

func (h warnings) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnings) WithGroup(string) slog.Handler      { return h }
