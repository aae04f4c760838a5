"""A test double of the ADW scripts' data_types.py: the state model only.

Written from what the real module does (see internal/python/python.go), so
that stategen's tests meet the Python side as it is, not a friendlier one.
"""
from typing import List, Literal, Optional

from pydantic import BaseModel


class ADWStateData(BaseModel):
    """The state of one ADW run, as adw_state.json holds it."""

    adw_id: str
    issue_number: Optional[str] = None
    branch_name: Optional[str] = None
    plan_file: Optional[str] = None
    issue_class: Optional[Literal["/chore", "/bug", "/feature"]] = None
    worktree_path: Optional[str] = None
    backend_port: Optional[int] = None
    frontend_port: Optional[int] = None
    model_set: Optional[Literal["base", "heavy"]] = "base"
    all_adws: List[str] = []
