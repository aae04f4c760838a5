package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stategen/stategen/runtime/backends/redis/redistest"
)

// A store command on a Redis server that would lose acknowledged writes
// when it restarts says so on stderr, once, and still does its work; on a
// server that keeps them it says nothing.
func TestDurabilityWarning(t *testing.T) {
	volatile := redistest.StartPrivate(t) // no AOF
	durable := redistest.Start(t)         // appendfsync everysec
	for _, tc := range []struct {
		url  string
		warn bool
	}{{volatile.URL(t), true}, {durable.URL(t), false}} {
		var stdout, stderr bytes.Buffer
		status := run([]string{"--store", tc.url, "save", "a1b2c3d4", "branch_name", `"feat"`}, nil, &stdout, &stderr)
		if status != exitOK {
			t.Fatalf("save on %s: exit %d, stderr %q", tc.url, status, stderr.String())
		}
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		switch {
		case tc.warn && (len(lines) != 1 || !strings.HasPrefix(lines[0], "stategen: warning: redis: ") || !strings.Contains(lines[0], "appendonly no")):
			t.Errorf("on a server without AOF, stderr %q; want one warning line", stderr.String())
		case !tc.warn && stderr.Len() > 0:
			t.Errorf("on a server with AOF, stderr %q; want nothing", stderr.String())
		}
	}
}
