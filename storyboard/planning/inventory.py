"""What already exists for each planned request, and so what a render would do with it.

Looks only at this machine: the clip store, the render state and storyboard.lock. Sends
nothing. `stock` is the pure plan of `plans`, with each take's status (see `plans.STATUSES`) for
one backend's store; `backends.plan_for` names the backend, and is what `storyboard.plan()` gives.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import InvalidStoryboard
from ..loading.prices import BUILT_IN, PriceList
from ..model import Storyboard
from ..project.lockfile import Entry, LockFile, by_request, in_film
from ..project.state import InFilm, Record, State
from ..project.store import ClipStore, clip_is_intact
from .plans import Plan, ShotPlan, TakeStatus, make_plan

HAD_WITHOUT_CREATE: tuple[TakeStatus, ...] = ("cached", "download", "resume")  # the clip is had without a new create


def stock(storyboard: Storyboard, backend: str, *, paid: bool, prices: PriceList = BUILT_IN) -> Plan:
    """The plan for `backend` (a store name), its estimates at `prices`: each shot's clip in the last
    film (render state, else storyboard.lock) held where the shot says `hold: true`, every take's
    status, and what the service charged for the takes it made."""
    store = ClipStore(storyboard.root)
    recorded: dict[str, InFilm] = {}
    if store.state_path.exists():
        state = State(store.state_path, read_only=True)
        try:
            recorded = state.in_film(storyboard.records_name, backend)
        finally:
            state.close()
    locked = in_film(LockFile(storyboard.root, storyboard.records_name).entries(), backend)
    previous = {shot.id: recorded[shot.id].request_hash if shot.id in recorded else locked[shot.id]
                for shot in storyboard.shots if shot.id in recorded or shot.id in locked}
    kept = {shot.id: previous[shot.id] for shot in storyboard.shots if shot.hold and shot.id in previous}
    the_plan = make_plan(storyboard, kept, prices)
    # A held clip was made from an earlier request: show that one where it was recorded.
    shots = [replace(item, body=recorded[item.id].body or item.body) if item.held and item.id in recorded else item
             for item in the_plan.shots]
    return take_stock(replace(the_plan, shots=shots, previous=previous), backend, paid=paid)


def check_holds(the_plan: Plan) -> None:
    """Raise InvalidStoryboard for each held shot whose kept clip can no longer be had (its request
    is gone from the storyboard, so it cannot be made again), and for each `hold: true` on a shot with
    no clip to hold (never rendered: neither the render state nor storyboard.lock records one), which
    would otherwise be generated, and paid for, as if the hold were not there."""
    board = the_plan.storyboard
    problems = []
    for item in the_plan.shots:
        if item.footage is not None or not item.shot.hold or item.status in HAD_WITHOUT_CREATE:
            continue
        if item.held:
            why = (f"the clip it holds ({item.hash[:12]}) is neither in the clip store nor in storyboard.lock any more; "
                   "remove `hold: true` to generate the shot as it is written now")
        else:
            why = ("there is no clip to hold: the shot was never rendered (neither the render state nor storyboard.lock "
                   "records a clip of it); remove `hold: true` to generate it")
        problems.append(board.document.problem(item.shot.origins["hold"], f"shot {item.id!r}: hold: {why}"))
    if problems:
        raise InvalidStoryboard(problems)


def take_stock(the_plan: Plan, backend: str, *, paid: bool) -> Plan:
    """`the_plan` with each generated take's status for `backend`, and its charge where one is known."""
    board = the_plan.storyboard
    store = ClipStore(board.root)
    state = State(store.state_path, read_only=True) if store.state_path.exists() else None
    locked = by_request(LockFile(board.root, board.records_name).entries())
    try:
        statuses = {
            item.key: _status(item, store.clip_path(backend, item.hash, still=item.still),
                              state.get(backend, item.hash) if state else None, locked.get(item.hash), backend, paid)
            for item in the_plan.requests + the_plan.stills
            if item.footage is None
        }
        charged = {item.hash: usd for item in the_plan.requests if item.footage is None
                   for usd in [_charged(state.get(backend, item.hash) if state else None, locked.get(item.hash), backend)]
                   if usd is not None} if paid else {}
    finally:
        if state is not None:
            state.close()
    return the_plan.with_statuses(backend, statuses, paid=paid, charged=charged)


def _charged(record: Record | None, entry: Entry | None, backend: str) -> float | None:
    """What the service charged for a request, as the render state (else storyboard.lock) records it:
    None while nothing says (never made, its outcome unknown, or no figure was given)."""
    if record is not None and record.status in ("submitted", "completed", "stored") and record.usd_spent > 0:
        return record.usd_spent
    if entry is not None and entry.backend == backend and entry.usd:
        return entry.usd
    return None


def _status(item: ShotPlan, clip: Path, record: Record | None, entry: Entry | None, backend: str, paid: bool) -> TakeStatus:
    if clip_is_intact(clip, record.clip if record else None) is not False:
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
