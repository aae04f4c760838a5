package redis_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stategen/stategen/runtime"
	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// records keeps what a Store logs.
type records struct {
	mu   sync.Mutex
	list []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.list = append(r.list, rec)
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// at returns the messages logged at level, that mention redis persistence.
func (r *records) at(level slog.Level) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.list {
		if rec.Level == level && strings.Contains(rec.Message, "redis: ") && !strings.Contains(rec.Message, "connected") {
			out = append(out, rec.Message)
		}
	}
	return out
}

// Open checks how the server keeps writes and warns, once, when a restart
// of Redis would lose acknowledged ones; a server where CONFIG is disabled
// is asked through INFO, and one that says nothing of its fsync is noted,
// not warned about.
func TestPersistenceCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		warn     string // substring of the one warning; "" for none
		info     bool   // the everysec note
		debugOut bool   // the "cannot read" note
	}{
		{"volatile", nil, "(appendonly no) may lose acknowledged writes", false, false},
		{"os-synced", []string{"--appendonly", "yes", "--appendfsync", "no"}, "(appendfsync no) may lose", false, false},
		{"everysec", []string{"--appendonly", "yes", "--appendfsync", "everysec"}, "", true, false},
		{"always", []string{"--appendonly", "yes", "--appendfsync", "always"}, "", false, false},
		{"no-config-volatile", []string{"--rename-command", "CONFIG", ""}, "(appendonly no) may lose", false, false},
		{"no-config-aof", []string{"--rename-command", "CONFIG", "", "--appendonly", "yes"}, "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.StartPrivate(t, tc.args...)
			var logged records
			st, err := runtime.Open(context.Background(), srv.URL(t), runtime.WithLogger(slog.New(&logged)))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			warns := logged.at(slog.LevelWarn)
			switch {
			case tc.warn == "" && len(warns) > 0:
				t.Errorf("warnings %q, want none", warns)
			case tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0], tc.warn) || !strings.Contains(warns[0], srv.Addr()) || !strings.Contains(warns[0], "appendfsync always")):
				t.Errorf("warnings %q, want one naming %s, saying %q and what to set", warns, srv.Addr(), tc.warn)
			}
			if infos := logged.at(slog.LevelInfo); tc.info != (len(infos) == 1) {
				t.Errorf("notes %q; want the everysec note: %v", infos, tc.info)
			}
			if debugs := logged.at(slog.LevelDebug); tc.debugOut != (len(debugs) == 1 && strings.Contains(debugs[0], "cannot read")) {
				t.Errorf("debug notes %q; want the cannot-read note: %v", debugs, tc.debugOut)
			}
		})
	}
}
