// Package peers measures stategen beside the systems it is compared with,
// in one run on one machine: the Python StateManager it replaces (JSON and
// SQLite backends) and LangGraph.js's checkpointers (SqliteSaver and
// PostgresSaver, through put, getTuple and list). make bench-peers installs
// the peers and runs TestPeers, which prints one table; without the peers
// installed ($STATEGEN_PEERS_DIR unset) the test is skipped.
//
// Every system works on the same 12-field ADW state, in five workloads:
//
//   - save: the whole state written (the Python StateManager has no
//     whole-state write: it is its 12 saves, one per key, not atomic);
//   - load: the whole state read from storage, no cache (stategen with
//     runtime.WithoutCache, the StateManager's backend.load of each key,
//     LangGraph's getTuple of the thread's latest checkpoint);
//   - update: one field written (LangGraph: a put whose new versions name
//     that one channel, as its graph runtime does);
//   - checkpoint: a checkpoint of the state, then the listing of the 50
//     the run keeps;
//   - writers: 8 writers at once, each saving the whole state of a
//     namespace (thread) of its own, in one process: goroutines on one
//     Store, Python threads, Node.js async loops on one saver.
//
// Each round measures every workload on every system, the systems in an
// order rotated from round to round; the table gives each system's median
// over the rounds, after one untimed round that sizes the iteration
// counts. A peer is compared with the stategen system whose durability
// matches its own: the Python JSON backend, which renames without fsync,
// with SQLite at synchronous=NORMAL (neither survives power loss, both a
// crash of the process); the Python SQLite backend (SQLite's defaults: a
// rollback journal, synchronous=FULL) and LangGraph's SqliteSaver (WAL,
// better-sqlite3's default synchronous=FULL) with SQLite at FULL; the
// PostgresSaver with stategen's PostgreSQL backend on the same server.
//
// The peers run as child processes, one per measurement, from the
// drivers in testdata (langgraph.cjs, statemanager.py), which take a
// workload and an iteration count and print nanoseconds per operation;
// process start and warm-up are outside the timed loop.
package peers
