"""statemanager.py measures the Python StateManager for TestPeers.

    python3 statemanager.py STATE_MANAGER_PY BACKEND DIR OP N

STATE_MANAGER_PY is the StateManager's source (state_manager.py), BACKEND
json or sqlite, DIR the directory its .claude/state goes in. OP is save (the
12 fields, one save each: it has no whole-state write), load (each field
from its backend: StateManager.load would answer from its in-process
dict), update (one field), checkpoint (a checkpoint, then the list of the
50 kept) or writers (8 threads, each saving the whole state of a namespace
of its own). After setup and a warm-up it runs OP N times (writers: N saves
each) and prints the nanoseconds per operation (writers: per save, as one
writer sees it).
"""
import importlib.util
import os
import sys
import threading
import time
import warnings

STATE = {
    "adw_id": "a1b2c3d4", "issue_number": "42", "branch_name": "feat-42-add-login",
    "plan_file": "specs/issue-42-plan.md", "issue_class": "/feature", "worktree_path": "trees/a1b2c3d4",
    "backend_port": 9100, "frontend_port": 9200, "model_set": "base",
    "all_adws": ["adw_plan_iso", "adw_build_iso"], "current_phase": "build", "completed_phases": ["plan"],
}
WRITERS = 8
CHECKPOINTS = 50


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: statemanager.py STATE_MANAGER_PY BACKEND DIR OP N")
    source, backend, directory, op, n = sys.argv[1:]
    n = int(n)
    warnings.simplefilter("ignore")  # datetime.utcnow's deprecation
    spec = importlib.util.spec_from_file_location("state_manager", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.makedirs(directory, exist_ok=True)
    os.chdir(directory)  # the StateManager writes under ./.claude/state
    manager = lambda ns: module.StateManager(backend, ns)

    def save(m, i):
        for k, v in STATE.items():
            m.save(k, 9100 + i % 100 if k == "backend_port" else v)

    def load(m, _):
        return {k: m.backend.load(k) for k in STATE}

    def update(m, i):
        m.save("backend_port", 9100 + i % 100)

    def listing(m):
        if backend == "json":
            return m.list_checkpoints()
        # Its list_checkpoints reads the JSON backend's directory only.
        with m.backend._get_conn() as conn:
            return [r[0] for r in conn.execute("SELECT name, created_at FROM checkpoints")]

    def checkpoint(m, i):
        m.checkpoint(f"cp-{i % CHECKPOINTS}")
        if len(listing(m)) != CHECKPOINTS:
            raise SystemExit(f"listed {len(listing(m))} checkpoints, want {CHECKPOINTS}")

    if op == "writers":
        managers = [manager(f"writer{w}") for w in range(WRITERS)]
        for m in managers:
            save(m, 0)

        def writer(m, count):
            for i in range(count):
                save(m, i)

        def run(count):
            threads = [threading.Thread(target=writer, args=(m, count)) for m in managers]
            start = time.perf_counter_ns()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter_ns() - start

        run(2)
        print(run(n) // n)
        return

    ops = {"save": save, "load": load, "update": update, "checkpoint": checkpoint}
    if op not in ops:
        sys.exit(f"statemanager.py: unknown op {op!r} (want save, load, update, checkpoint or writers)")
    m = manager(op)
    save(m, 0)
    if op == "checkpoint" and len(listing(m)) < CHECKPOINTS:
        for i in range(CHECKPOINTS):
            m.checkpoint(f"cp-{i}")
    if load(m, 0) != STATE:
        sys.exit("statemanager.py: load returned other values than were saved")
    f = ops[op]
    for i in range(min(n, 5)):
        f(m, i)
    start = time.perf_counter_ns()
    for i in range(n):
        f(m, i)
    print((time.perf_counter_ns() - start) // n)


if __name__ == "__main__":
    main()
