"""A test double of the Python StateManager's JSON backend.

It keeps state as the reference program does: <root>/.claude/state/<ns>/
state.json holding {"key": {"value": ..., "timestamp": ...}}, rewritten
whole through a temporary file and a rename for every save (read, change,
write: no lock), and checkpoints as copies of that file in checkpoints/.
Tests use the reference program itself where it is at hand, and this
otherwise.
"""
import json
from datetime import datetime
from pathlib import Path


class StateException(Exception):
    pass


class JSONBackend:
    def __init__(self, namespace):
        self.namespace = namespace
        self.state_dir = Path(f".claude/state/{namespace}")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = self.state_dir / "state.json"
        self.checkpoint_dir = self.state_dir / "checkpoints"
        self.checkpoint_dir.mkdir(exist_ok=True)

    def _read_state(self):
        if self.state_file.exists():
            with open(self.state_file) as f:
                return json.load(f)
        return {}

    def _write_state(self, state):
        temp_file = self.state_file.with_suffix(".tmp")
        with open(temp_file, "w") as f:
            json.dump(state, f, indent=2)
        temp_file.replace(self.state_file)

    def save(self, key, value):
        state = self._read_state()
        state[key] = {"value": value, "timestamp": datetime.utcnow().isoformat()}
        self._write_state(state)

    def load(self, key):
        state = self._read_state()
        if key not in state:
            raise StateException(f"Key not found: {key}")
        return state[key]["value"]

    def delete(self, key):
        state = self._read_state()
        if key in state:
            del state[key]
            self._write_state(state)

    def list_keys(self):
        return list(self._read_state().keys())

    def checkpoint(self, name):
        state = self._read_state()
        with open(self.checkpoint_dir / f"{name}.json", "w") as f:
            json.dump(state, f, indent=2)

    def restore_checkpoint(self, name):
        checkpoint_file = self.checkpoint_dir / f"{name}.json"
        if not checkpoint_file.exists():
            raise StateException(f"Checkpoint not found: {name}")
        with open(checkpoint_file) as f:
            state = json.load(f)
        self._write_state(state)


class StateManager:
    def __init__(self, backend="json", namespace="default"):
        if backend != "json":
            raise StateException(f"this double has only the json backend, not {backend}")
        self.backend = JSONBackend(namespace)
        self.cache = {}

    def save(self, key, value):
        self.backend.save(key, value)
        self.cache[key] = value

    def load(self, key, default=None):
        if key in self.cache:
            return self.cache[key]
        try:
            value = self.backend.load(key)
            self.cache[key] = value
            return value
        except StateException:
            if default is not None:
                return default
            raise

    def checkpoint(self, name=None):
        if name is None:
            name = f"auto_{datetime.utcnow().strftime('%Y%m%d_%H%M%S')}"
        self.backend.checkpoint(name)
        return name

    def list_checkpoints(self):
        checkpoint_dir = Path(f".claude/state/{self.backend.namespace}/checkpoints")
        if checkpoint_dir.exists():
            return [f.stem for f in checkpoint_dir.glob("*.json")]
        return []
