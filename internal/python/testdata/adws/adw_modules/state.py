"""A test double of the ADW scripts' state.py: the ADWState class.

It behaves as the real one does where stategen meets it: save() builds the
pydantic model from its dict (dropping every key the model does not
declare), then truncates adw_state.json in place and json.dump()s the
model's fields into it with indent=2, without a lock or a rename; load()
validates the file with the model and returns None when that fails.
"""
import json
import os
import sys
from typing import Any, Dict, Optional

from pydantic import ValidationError

from adw_modules.data_types import ADWStateData

CORE_FIELDS = set(ADWStateData.model_fields)


class ADWState:
    STATE_FILENAME = "adw_state.json"

    def __init__(self, adw_id: str):
        if not adw_id:
            raise ValueError("adw_id is required for ADWState")
        self.adw_id = adw_id
        self.data: Dict[str, Any] = {"adw_id": self.adw_id}

    def update(self, **kwargs):
        """Set keys of the model; any other key is ignored."""
        for key, value in kwargs.items():
            if key in CORE_FIELDS:
                self.data[key] = value

    def get(self, key: str, default=None):
        return self.data.get(key, default)

    def get_state_path(self) -> str:
        """agents/<adw_id>/adw_state.json under the project's root."""
        project_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        return os.path.join(project_root, "agents", self.adw_id, self.STATE_FILENAME)

    def _model(self) -> ADWStateData:
        return ADWStateData(
            adw_id=self.data.get("adw_id"),
            issue_number=self.data.get("issue_number"),
            branch_name=self.data.get("branch_name"),
            plan_file=self.data.get("plan_file"),
            issue_class=self.data.get("issue_class"),
            worktree_path=self.data.get("worktree_path"),
            backend_port=self.data.get("backend_port"),
            frontend_port=self.data.get("frontend_port"),
            model_set=self.data.get("model_set", "base"),
            all_adws=self.data.get("all_adws", []),
        )

    def save(self, workflow_step: Optional[str] = None) -> None:
        state_path = self.get_state_path()
        os.makedirs(os.path.dirname(state_path), exist_ok=True)
        state_data = self._model()
        with open(state_path, "w") as f:
            json.dump(state_data.model_dump(), f, indent=2)

    @classmethod
    def load(cls, adw_id: str) -> Optional["ADWState"]:
        state = cls(adw_id)
        state_path = state.get_state_path()
        if not os.path.exists(state_path):
            return None
        try:
            with open(state_path, "r") as f:
                data = json.load(f)
            state_data = ADWStateData(**data)
        except (json.JSONDecodeError, ValidationError) as e:
            print(f"No state found: {e}", file=sys.stderr)
            return None
        state.data = state_data.model_dump()
        return state

    def to_stdout(self):
        print(json.dumps(self._model().model_dump(), indent=2))

    @classmethod
    def from_stdin(cls) -> Optional["ADWState"]:
        if sys.stdin.isatty():
            return None
        raw = sys.stdin.read()
        if not raw.strip():
            return None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            return None
        adw_id = data.get("adw_id")
        if not adw_id:
            return None
        state = cls(adw_id)
        state.data = data
        return state
