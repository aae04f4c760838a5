// langgraph.cjs measures LangGraph.js's checkpointers for TestPeers: the
// SqliteSaver (@langchain/langgraph-checkpoint-sqlite) or the
// PostgresSaver (@langchain/langgraph-checkpoint-postgres), each holding
// the 12 fields of the ADW state as a thread's checkpoint, one channel a
// field. The SqliteSaver runs in WAL mode at better-sqlite3's default,
// synchronous=NORMAL (no fsync per commit).
//
//   node langgraph.cjs PEERS_DIR OP N sqlite PATH
//   node langgraph.cjs PEERS_DIR OP N postgres URL SCHEMA
//
// OP is save (a put with every channel's version new), load (getTuple of
// the thread's latest checkpoint), update (a put whose new versions name
// one channel, as the graph runtime does when one field changed),
// checkpoint (a put with nothing changed, then the list of the thread's
// latest 50) or writers (8 async loops on the saver, each saving the whole
// state of a thread of its own). After setup and a warm-up it runs OP N
// times (writers: N saves each) and prints the nanoseconds per operation
// (writers: per save, as one writer sees it).
const path = require("node:path");

const usage = "usage: node langgraph.cjs PEERS_DIR OP N sqlite PATH | postgres URL SCHEMA";
const [dir, op, count, kind, target, schema] = process.argv.slice(2);
const n = Number(count);
if (!dir || !Number.isInteger(n) || n < 1 || !["sqlite", "postgres"].includes(kind) || !target) {
  console.error(usage);
  process.exit(2);
}
module.paths.unshift(path.join(dir, "node_modules"));
const { uuid6 } = require("@langchain/langgraph-checkpoint");

const STATE = {
  adw_id: "a1b2c3d4", issue_number: "42", branch_name: "feat-42-add-login",
  plan_file: "specs/issue-42-plan.md", issue_class: "/feature", worktree_path: "trees/a1b2c3d4",
  backend_port: 9100, frontend_port: 9200, model_set: "base",
  all_adws: ["adw_plan_iso", "adw_build_iso"], current_phase: "build", completed_phases: ["plan"],
};
const FIELDS = Object.keys(STATE);
const WRITERS = 8;
const CHECKPOINTS = 50;

async function open() {
  if (kind === "sqlite") {
    const { SqliteSaver } = require("@langchain/langgraph-checkpoint-sqlite");
    let saver = SqliteSaver.fromConnString(target);
    saver.setup();
    if (saver.db.pragma("synchronous", { simple: true }) !== 1) {
      // A database created by this process: reopen it, as every later
      // process opens it, in WAL mode already, where better-sqlite3's
      // SQLITE_DEFAULT_WAL_SYNCHRONOUS=1 makes it synchronous=NORMAL.
      saver.db.close();
      saver = SqliteSaver.fromConnString(target);
    }
    return saver;
  }
  const { PostgresSaver } = require("@langchain/langgraph-checkpoint-postgres");
  const saver = PostgresSaver.fromConnString(target, { schema });
  await saver.setup();
  return saver;
}

// A Thread is one run's state: its channels' versions, and the config of
// its latest checkpoint, the parent of the next.
class Thread {
  constructor(saver, id) {
    this.saver = saver;
    this.config = { configurable: { thread_id: id, checkpoint_ns: "" } };
    this.latest = { configurable: { thread_id: id, checkpoint_ns: "" } };
    this.versions = {};
    this.step = 0;
  }

  // put writes a new checkpoint in which the fields named changed.
  async put(changed) {
    this.step++;
    const newVersions = {};
    for (const k of changed) newVersions[k] = this.versions[k] = this.step;
    const checkpoint = {
      v: 4, id: uuid6(-1), ts: new Date().toISOString(),
      channel_values: { ...STATE, backend_port: 9100 + (this.step % 100) },
      channel_versions: { ...this.versions }, versions_seen: {},
    };
    this.config = await this.saver.put(this.config, checkpoint, { source: "update", step: this.step, parents: {} }, newVersions);
  }

  async load() {
    const t = await this.saver.getTuple(this.latest);
    return t.checkpoint.channel_values;
  }

  async list() {
    let listed = 0;
    for await (const _ of this.saver.list(this.latest, { limit: CHECKPOINTS })) listed++;
    return listed;
  }
}

async function time(n, f) {
  const start = process.hrtime.bigint();
  await f(n);
  return (process.hrtime.bigint() - start) / BigInt(n);
}

async function main() {
  const saver = await open();
  let elapsed;
  if (op === "writers") {
    const threads = [];
    for (let w = 0; w < WRITERS; w++) {
      threads.push(new Thread(saver, `writer${w}`));
      await threads[w].put(FIELDS);
    }
    const run = (n) => Promise.all(threads.map(async (t) => { for (let i = 0; i < n; i++) await t.put(FIELDS); }));
    await run(2);
    elapsed = await time(n, run);
  } else {
    const t = new Thread(saver, op);
    const ops = {
      save: () => t.put(FIELDS),
      load: () => t.load(),
      update: () => t.put(["backend_port"]),
      checkpoint: async () => {
        await t.put([]);
        const listed = await t.list();
        if (listed !== CHECKPOINTS) throw new Error(`listed ${listed} checkpoints, want ${CHECKPOINTS}`);
      },
    };
    const f = ops[op];
    if (!f) throw new Error(`unknown op ${JSON.stringify(op)} (want save, load, update, checkpoint or writers)`);
    await t.put(FIELDS);
    if (op === "checkpoint") for (let i = await t.list(); i < CHECKPOINTS; i++) await t.put([]);
    const got = await t.load();
    if (got.adw_id !== STATE.adw_id || got.completed_phases?.[0] !== "plan") throw new Error(`getTuple returned ${JSON.stringify(got)}`);
    for (let i = 0; i < Math.min(n, 5); i++) await f();
    elapsed = await time(n, async (n) => { for (let i = 0; i < n; i++) await f(); });
  }
  console.log(String(elapsed));
  if (saver.end) await saver.end();
  else saver.db.close();
}
main().catch((e) => { console.error(`langgraph.cjs ${op} on ${kind}: ${e.message}`); process.exit(1); });
