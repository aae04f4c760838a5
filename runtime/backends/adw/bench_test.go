package adw

import (
	"testing"

	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

func BenchmarkADW(b *testing.B) {
	fstest.Bench(b, "adw:"+b.TempDir(), []byte("{\n  \"branch_name\": \"feat-1\"\n}"))
}

// BenchmarkCheckpointList: listing 50 checkpoints of 10 keys and of 1000.
func BenchmarkCheckpointList(b *testing.B) {
	backendtest.BenchCheckpointList(b, func(t testing.TB) string { return "adw:" + t.TempDir() })
}
