package adw

import (
	"testing"

	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// TestConformance runs the suite with the default Python keys, none of
// which it uses: every key lives in the bookkeeping beside adw_state.json.
// The path through the data file is the one the json backend's suite runs
// (both are runtime/backends/internal/filestore), and this package's own
// tests run it against Python.
func TestConformance(t *testing.T) {
	backendtest.Run(t, fstest.Harness("adw", "", ".stategen/meta.json"))
}

// TestChaos runs the fault suite with the default Python keys.
func TestChaos(t *testing.T) {
	backendtest.Chaos(t, fstest.Harness("adw", "", ".stategen/meta.json"))
}
