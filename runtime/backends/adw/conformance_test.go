package adw

import (
	"testing"

	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// TestConformance runs the suite with the default Python keys, none of
// which it uses: every key lives in the bookkeeping beside adw_state.json.
func TestConformance(t *testing.T) {
	backendtest.Run(t, fstest.Harness("adw", "", ".stategen/meta.json"))
}

// TestConformanceInFile runs it with every key in adw_state.json.
func TestConformanceInFile(t *testing.T) {
	backendtest.Run(t, fstest.Harness("adw", "?python_keys=*", "adw_state.json"))
}

// TestChaos runs the fault suite with the default Python keys.
func TestChaos(t *testing.T) {
	backendtest.Chaos(t, fstest.Harness("adw", "", ".stategen/meta.json"))
}
