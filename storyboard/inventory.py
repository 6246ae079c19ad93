"""What already exists for each planned request, and so what a render would do with it.

Looks only at this machine: the clip store, the render state and storyboard.lock. Sends
nothing. `plan()` here is the public `storyboard.plan()`: the pure plan of `planning`, with
each shot's status (see `planning.STATUSES`) for one backend.
"""
from __future__ import annotations

from pathlib import Path

from .backends import Backend, backend_class, store_name
from .errors import InvalidStoryboard
from .lockfile import Entry, LockFile
from .model import Storyboard
from .planning import Plan, ShotPlan, make_plan
from .state import Record, State, clip_is_intact
from .store import ClipStore


def plan(storyboard: Storyboard, backend: str | Backend = "preview") -> Plan:
    """Every shot's request, hash and cost, and what `backend` already has of it."""
    if isinstance(backend, str):
        return take_stock(make_plan(storyboard), store_name(backend), paid=backend_class(backend).paid)
    return take_stock(make_plan(storyboard), backend.name, paid=backend.paid)


def check_backend(the_plan: Plan, backend: str | Backend | type[Backend], only: list[ShotPlan] | None = None) -> None:
    """Raise InvalidStoryboard with what `backend` would refuse of the shots a render must generate
    (all, or `only` these): the checks `render` runs before paying, which `validate --backend`
    and `plan --backend` run too."""
    engine = backend_class(backend) if isinstance(backend, str) else backend
    items = [item for item in (the_plan.shots if only is None else only) if item.footage is None and not item.cached]
    problems = engine.check(items, the_plan.storyboard)
    if problems:
        raise InvalidStoryboard(problems)


def take_stock(the_plan: Plan, backend: str, *, paid: bool) -> Plan:
    """`the_plan` with each generated shot's status for `backend`."""
    board = the_plan.storyboard
    store = ClipStore(board.root)
    state = State(store.state_path, read_only=True) if store.state_path.exists() else None
    locked = LockFile(board.root, board.file.name).entries()
    try:
        statuses = {
            item.id: _status(item, store.clip_path(backend, item.hash), state.get(backend, item.hash) if state else None,
                             locked.get(item.id), backend, paid)
            for item in the_plan.shots
            if item.footage is None
        }
    finally:
        if state is not None:
            state.close()
    return the_plan.with_statuses(backend, statuses)


def _status(item: ShotPlan, clip: Path, record: Record | None, entry: Entry | None, backend: str, paid: bool) -> str:
    if clip_is_intact(clip, record) is not False:
        return "cached"
    if not paid:  # a free backend simply makes the clip again
        return "missing"
    if record and record.status == "submitted":
        return "resume"
    if (record and record.video_url) or (
        entry and entry.request == item.hash and entry.backend == backend and (entry.video_url or entry.generation)
    ):
        return "download"
    return "unknown" if record and record.outcome_unknown else "missing"
