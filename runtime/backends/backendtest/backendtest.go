// Package backendtest is the conformance suite every stategen backend passes:
// one set of tests, over the public runtime.Store, for every promise of the
// design (round trips, revisions, atomic batches, compare-and-set, no lost
// update across goroutines and processes, exact checkpoint and restore,
// pruning, listing, refused names, corrupt data left alone, cache coherence,
// which errors are retried, schemas kept whole and conditioned on,
// read-only opening, copies of checkpoint-only namespaces, the change feed, leases and
// fenced writes, a holder stopped past its TTL included).
//
// A backend's tests call it with a Harness:
//
//	func TestMain(m *testing.M) { backendtest.Main(m) }
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{NewURL: ..., Corrupt: ...})
//	}
//
//	func TestChaos(t *testing.T) { backendtest.Chaos(t, harness) }
//
// Chaos is the fault suite (lossy networks, server restarts and the other
// faults an outside campaign found promises broken by), quick by default
// and whole under make chaos.
//
// Main lets the suite re-execute the test binary as a worker process, so
// that the package's own backend is registered in the child too.
package backendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stategen/stategen/runtime"
)

// Harness describes the backend under test.
type Harness struct {
	// NewURL returns the URL of a new, empty store that no other test sees.
	NewURL func(t testing.TB) string
	// Corrupt damages what is stored for ns/key (a value that is not JSON, a
	// truncated file) and returns a function that reads the raw bytes of
	// what it damaged, so the suite can check that nothing rewrites them.
	Corrupt func(t testing.TB, url, ns, key string) (raw func() []byte)
	// CorruptCheckpoint damages what is stored for checkpoint name of ns so
	// that reading it fails with ErrCorrupt (a value that is not JSON, a
	// truncated file, bookkeeping that is not a number: whatever the
	// backend's own listing reads, so that the listing sees it too) and
	// returns a function that reads the raw bytes of what it damaged.
	CorruptCheckpoint func(t testing.TB, url, ns, name string) (raw func() []byte)
	// Proxy, for a backend that talks to a server over TCP, returns the
	// server's address for a store URL and a function that gives the same
	// URL through addr instead (a fault proxy in front of the server). Nil
	// for embedded backends.
	Proxy func(url string) (server string, via func(addr string) string)
	// Durable, for a backend with a server, starts a server of the test's
	// own that keeps every acknowledged write (Redis: appendonly yes,
	// appendfsync always), which the fault suite kills and restarts. Nil
	// for embedded backends.
	Durable func(t testing.TB) Server
	// Dir, for backends that keep files, returns the directory a store URL
	// names; the suite checks that refused names create nothing beside it.
	Dir func(url string) string
	// MissingURL, when set, returns the URL of a store that does not exist
	// (a file or directory not there): opening it ReadOnly must fail with
	// ErrNotFound, saying "no store at", and create nothing (checked with
	// Dir when that is set). Backends where any URL names a store (a
	// server) leave it nil.
	MissingURL func(t testing.TB) string
	// Raw returns everything the store at url holds, as the store's own
	// client shows it (sqlite3's .dump, redis-cli, the files' bytes), for
	// the suite to check that no secret is there in the clear.
	Raw func(t testing.TB, url string) []byte
}

// Server is a store server of a test's own, for Harness.Durable.
type Server struct {
	// URL is a store URL on the server.
	URL string
	// Kill stops the server without warning (SIGKILL); Restart starts it
	// again on the same address and data and returns once it answers.
	Kill, Restart func() error
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"Revisions", testRevisions},
		{"BatchAllOrNothing", testBatchAllOrNothing},
		{"CompareAndSet", testCompareAndSet},
		{"Replace", testReplace},
		{"Listing", testListing},
		{"Schema", testSchema},
		{"ZeroSchema", testZeroSchema},
		{"SchemalessUpdate", testSchemalessUpdate},
		{"RequiredNull", testRequiredNull},
		{"CheckpointRestoreExact", testCheckpointRestore},
		{"CheckpointList", testCheckpointList},
		{"Prune", testPrune},
		{"CorruptCheckpoint", testCorruptCheckpoint},
		{"InvalidNames", testInvalidNames},
		{"Corrupt", testCorrupt},
		{"NoLostUpdateGoroutines", testNoLostUpdateGoroutines},
		{"NoLostUpdateProcesses", testNoLostUpdateProcesses},
		{"AtomicAcrossKill", testAtomicAcrossKill},
		{"SchemaMigration", testSchemaMigration},
		{"SchemaWhole", testSchemaWhole},
		{"IfSchema", testIfSchema},
		{"FieldAccessMigrates", testFieldAccessMigrates},
		{"ReadOnly", testReadOnly},
		{"CopyCheckpointOnly", testCopyCheckpointOnly},
		{"MigrationAcrossKill", testMigrationAcrossKill},
		{"Secrets", testSecrets},
		{"RekeyAcrossKill", testRekeyAcrossKill},
		{"CacheCoherence", testCacheCoherence},
		{"CacheNoAliasing", testCacheNoAliasing},
		{"RelaxedCacheConcurrentSaves", testRelaxedCacheConcurrentSaves},
		{"FinalErrorsNotRetried", testFinalErrorsNotRetried},
		{"FeedWrites", testFeedWrites},
		{"FeedWholeStore", testFeedWholeStore},
		{"FeedGap", testFeedGap},
		{"Drop", testDrop},
		{"DropIf", testDropIf},
		{"DropConcurrent", testDropConcurrent},
		{"Fork", testFork},
		{"ForkWithoutKeys", testForkWithoutKeys},
		{"Runs", testRuns},
		{"Retention", testRetention},
		{"Expiry", testExpiry},
		{"Leases", testLeases},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// open opens a store at url and closes it when the test ends.
func open(t testing.TB, url string, opts ...runtime.Option) *runtime.Store {
	t.Helper()
	st, err := runtime.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func put(t testing.TB, st *runtime.Store, ns, key, value string) int64 {
	t.Helper()
	rev, err := st.Put(context.Background(), ns, key, json.RawMessage(value))
	if err != nil {
		t.Fatalf("put %s/%s: %v", ns, key, err)
	}
	return rev
}

// values returns a namespace's keys and JSON values, decoded so that
// formatting does not matter (a file backend may re-indent).
func values(t testing.TB, st *runtime.Store, ns string) map[string]any {
	t.Helper()
	snap, err := st.Snapshot(context.Background(), ns)
	if err != nil {
		t.Fatalf("snapshot %s: %v", ns, err)
	}
	out := map[string]any{}
	for k, v := range snap.Values {
		out[k] = decodeJSON(t, v.Data)
	}
	return out
}

// decodeJSON decodes with UseNumber, so that 1 and 1.0 and large integers
// compare as written.
func decodeJSON(t testing.TB, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("stored value %q is not JSON: %v", data, err)
	}
	return v
}

func diffJSON(t testing.TB, want string, got []byte) string {
	t.Helper()
	return cmp.Diff(decodeJSON(t, []byte(want)), decodeJSON(t, got))
}
