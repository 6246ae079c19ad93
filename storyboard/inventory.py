"""What already exists for each planned request, and so what a render would do with it.

Looks only at this machine: the clip store, the render state and storyboard.lock. Sends
nothing. `plan()` here is the public `storyboard.plan()`: the pure plan of `planning`, with
each shot's status (see `planning.STATUSES`) for one backend.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .backends import PAID_BACKEND, Backend, backend_class, store_name
from .errors import InvalidStoryboard
from .lockfile import Entry, LockFile, by_request, in_film
from .model import Storyboard
from .planning import Plan, ShotPlan, make_plan
from .state import InFilm, Record, State, clip_is_intact
from .store import ClipStore


def plan(storyboard: Storyboard, backend: str | Backend = "preview") -> Plan:
    """Every take's request, hash and cost, what `backend` already has of it, and what changed since
    the last render (held shots keep their clip)."""
    if isinstance(backend, str):
        return stock(storyboard, store_name(backend), paid=backend_class(backend).paid)
    return stock(storyboard, backend.name, paid=backend.paid)


def stock(storyboard: Storyboard, backend: str, *, paid: bool) -> Plan:
    """The plan for `backend` (a store name): each shot's clip in the last film (render state, else
    storyboard.lock) held where the shot says `hold: true`, and every take's status."""
    store = ClipStore(storyboard.root)
    recorded: dict[str, InFilm] = {}
    if store.state_path.exists():
        state = State(store.state_path, read_only=True)
        try:
            recorded = state.in_film(storyboard.file.name, backend)
        finally:
            state.close()
    locked = in_film(LockFile(storyboard.root, storyboard.file.name).entries(), backend)
    previous = {shot.id: recorded[shot.id].request_hash if shot.id in recorded else locked[shot.id]
                for shot in storyboard.shots if shot.id in recorded or shot.id in locked}
    kept = {shot.id: previous[shot.id] for shot in storyboard.shots if shot.hold and shot.id in previous}
    the_plan = make_plan(storyboard, kept)
    # A held clip was made from an earlier request: show that one where it was recorded.
    shots = [replace(item, body=recorded[item.id].body or item.body) if item.held and item.id in recorded else item
             for item in the_plan.shots]
    return take_stock(replace(the_plan, shots=shots, previous=previous), backend, paid=paid)


def check_backend(the_plan: Plan, backend: str | Backend | type[Backend], only: list[ShotPlan] | None = None) -> None:
    """Raise InvalidStoryboard with what `backend` would refuse of the shots a render must generate
    (all, or `only` these): the checks `render` runs before paying, which `validate --backend`
    and `plan --backend` run too."""
    engine = backend_class(backend) if isinstance(backend, str) else backend
    items = [item for item in (the_plan.requests if only is None else only) if item.footage is None and not item.cached]
    problems = engine.check(items, the_plan.storyboard)
    if problems:
        raise InvalidStoryboard(problems)


def check_holds(the_plan: Plan) -> None:
    """Raise InvalidStoryboard for each held shot whose kept clip can no longer be had: its request
    is gone from the storyboard, so it cannot be made again."""
    board = the_plan.storyboard
    problems = [
        board.document.problem(item.shot.origins["hold"], f"shot {item.id!r}: hold: the clip it holds ({item.hash[:12]}) "
                               "is neither in the clip store nor in storyboard.lock any more; remove `hold: true` to "
                               "generate the shot as it is written now")
        for item in the_plan.shots if item.held and item.status not in ("cached", "download", "resume")
    ]
    if problems:
        raise InvalidStoryboard(problems)


def on_the_service(the_plan: Plan) -> Plan:
    """`the_plan` with the real service's statuses, whichever backend it was made for: what paying
    would still cost (a preview clip saves nothing there)."""
    service = store_name(PAID_BACKEND)
    return the_plan if the_plan.backend == service else take_stock(the_plan, service, paid=True)


def take_stock(the_plan: Plan, backend: str, *, paid: bool) -> Plan:
    """`the_plan` with each generated take's status for `backend`."""
    board = the_plan.storyboard
    store = ClipStore(board.root)
    state = State(store.state_path, read_only=True) if store.state_path.exists() else None
    locked = by_request(LockFile(board.root, board.file.name).entries())
    try:
        statuses = {
            item.key: _status(item, store.clip_path(backend, item.hash), state.get(backend, item.hash) if state else None,
                              locked.get(item.hash), backend, paid)
            for item in the_plan.requests
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
