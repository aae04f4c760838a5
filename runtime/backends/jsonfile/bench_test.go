package jsonfile

import (
	"testing"

	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

func BenchmarkJSONFile(b *testing.B) {
	state := []byte(`{
  "branch_name": {
    "value": "feat-1",
    "timestamp": "2026-11-23T22:14:19.000000"
  }
}`)
	fstest.Bench(b, "json:"+b.TempDir(), state)
}

// BenchmarkCheckpointList: listing 50 checkpoints of 10 keys and of 1000.
func BenchmarkCheckpointList(b *testing.B) {
	backendtest.BenchCheckpointList(b, func(t testing.TB) string { return "json:" + t.TempDir() })
}
