// peer.cjs measures the LangGraph.js Postgres checkpointer
// (@langchain/langgraph-checkpoint-postgres) for BenchmarkPeer*: a
// checkpoint holding the 12 fields of the ADW state, one channel each.
//
//   node peer.cjs PEERS_DIR POSTGRES_URL SCHEMA OP N
//
// OP is put (a new checkpoint of the thread), get (getTuple of the latest)
// or put+list (a put, then listing the thread's checkpoints). After a
// warm-up it runs OP N times and prints the nanoseconds per op.
const path = require("node:path");
const [dir, url, schema, op, n] = process.argv.slice(2);
module.paths.unshift(path.join(dir, "node_modules"));
const { PostgresSaver } = require("@langchain/langgraph-checkpoint-postgres");
const { uuid6 } = require("@langchain/langgraph-checkpoint");

const state = {
  adw_id: "a1b2c3d4", issue_number: "42", branch_name: "feat-42-add-login",
  plan_file: "specs/issue-42-plan.md", issue_class: "/feature", worktree_path: "trees/a1b2c3d4",
  backend_port: 9100, frontend_port: 9200, model_set: "base",
  all_adws: ["adw_plan_iso", "adw_build_iso"], current_phase: "build", completed_phases: ["plan"],
};

async function main() {
  const saver = PostgresSaver.fromConnString(url, { schema });
  await saver.setup();
  const thread = { configurable: { thread_id: "a1b2c3d4", checkpoint_ns: "" } };
  let version = 0;
  const put = async () => {
    version++;
    const versions = {};
    for (const k of Object.keys(state)) versions[k] = version;
    const checkpoint = { v: 1, id: uuid6(-1), ts: new Date().toISOString(), channel_values: { ...state, backend_port: 9100 + (version % 100) },
      channel_versions: versions, versions_seen: {} };
    await saver.put(thread, checkpoint, { source: "update", step: version, parents: {} }, versions);
  };
  const ops = {
    put,
    get: async () => { await saver.getTuple(thread); },
    "put+list": async () => { await put(); for await (const _ of saver.list(thread, { limit: 10 })) { /* read */ } },
  };
  const run = ops[op];
  await put();
  for (let i = 0; i < 20; i++) await run();
  const start = process.hrtime.bigint();
  for (let i = 0; i < Number(n); i++) await run();
  const elapsed = process.hrtime.bigint() - start;
  console.log(String(elapsed / BigInt(n)));
  await saver.end();
}
main().catch((e) => { console.error(e.message); process.exit(1); });
