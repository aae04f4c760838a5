// Package runtime is what stategen's generated code calls: a Store over one
// of several storage backends, chosen by URL.
//
// A Store holds namespaces (one per workflow run); a namespace holds keys,
// each a JSON value. Every write to a namespace raises its revision, and
// conditional writes compare revisions (optimistic concurrency). Checkpoints
// copy a namespace under a name; Restore makes it exactly that copy again.
//
// Backends register a URL scheme on import, as database/sql drivers do:
//
//	import _ "github.com/stategen/stategen/runtime/backends/all"
//
//	st, err := runtime.Open(ctx, "sqlite:.stategen/state.db")
//
// An empty URL means $STATEGEN_STORE, or else DefaultURL.
//
// With keys (WithKeys, or $STATEGEN_KEYS), the values of keys a schema
// marks secret are stored sealed (AES-256-GCM, bound to their namespace and
// key) by every write that records the schema, and opened by typed reads;
// Store.Rekey reseals them under a new primary key.
//
// Leases: Store.Acquire gives one owner a run for a TTL, with a fencing
// token that grows with every acquisition; writes through the Lease
// (Lease.Apply, StateStore.WithLease and the generated stores' WithLease)
// are applied only while it is the run's current lease, in the same atomic
// step as the write, else ErrFenced. See lease.go for the layout and what
// fencing does not cover.
package runtime
