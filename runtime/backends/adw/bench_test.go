package adw

import (
	"testing"

	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

func BenchmarkADW(b *testing.B) {
	fstest.Bench(b, "adw:"+b.TempDir(), []byte("{\n  \"branch_name\": \"feat-1\"\n}"))
}
