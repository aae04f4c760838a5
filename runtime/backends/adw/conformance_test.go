package adw

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stategen/stategen/runtime/backends/backendtest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		NewURL: func(t testing.TB) string { return "adw:" + filepath.Join(t.TempDir(), "agents") },
		Corrupt: func(t testing.TB, url, ns, key string) func() []byte {
			// One file per ADW id: damaging the key damages the file. Cut
			// it in the middle of the key's member.
			path := filepath.Join(strings.TrimPrefix(url, "adw:"), ns, dataFile)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			i := strings.Index(string(data), `"`+key+`"`)
			if i < 0 {
				t.Fatalf("key %q not in %s", key, path)
			}
			if err := os.WriteFile(path, data[:i+len(key)+4], 0o600); err != nil {
				t.Fatal(err)
			}
			return func() []byte {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				return data
			}
		},
		Dir: func(url string) string { return strings.TrimPrefix(url, "adw:") },
	})
}
