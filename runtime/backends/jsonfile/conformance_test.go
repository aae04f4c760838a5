package jsonfile

import (
	"testing"

	"github.com/stategen/stategen/runtime/backends/backendtest"
	"github.com/stategen/stategen/runtime/backends/internal/fstest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

func TestConformance(t *testing.T) { backendtest.Run(t, fstest.Harness("json", "", "state.json")) }

func TestChaos(t *testing.T) { backendtest.Chaos(t, fstest.Harness("json", "", "state.json")) }
