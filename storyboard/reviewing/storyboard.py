"""The review page as a storyboard, when the shots have stills: one panel per shot in film order,
every still take with the line that picks it, the dialogue under the panel; and the sheet that
prints six panels to an A4 landscape page with shot numbers, timecodes and dialogue.

Plain data, like `data.py`; the template lays it out.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..model import Storyboard
from ..planning.plans import Plan, ShotPlan
from ..project.store import ClipStore

PANELS_PER_PAGE = 6  # the printed sheet: 3 across, 2 down, on A4 landscape


@dataclass(frozen=True)
class StillView:
    take: int
    key: str
    src: str | None  # the picture, as a URL relative to the page; None until drawn
    picked: bool  # the video starts from it
    pick: str | None  # the edit that picks it; None for the one picked
    seed: int | None
    estimated_usd: float | None


@dataclass(frozen=True)
class PanelView:
    number: int
    id: str
    start: float | None  # seconds into the film
    end: float | None
    dialogue: list[tuple[str, str]]  # (who, what is said), in order
    stills: list[StillView] = field(default_factory=list)
    waiting: bool = False  # several takes, none picked: no video is paid for until one is

    @property
    def shown(self) -> StillView | None:
        """The panel's picture: the picked still, else the first drawn take, else the first take."""
        return next((still for still in self.stills if still.picked), None) or \
            next((still for still in self.stills if still.src), None) or (self.stills[0] if self.stills else None)


def panels(the_plan: Plan, page: Path, places: dict[str, tuple[float | None, float | None]]) -> list[PanelView]:
    """One panel per shot, in film order, when any shot has a still; none otherwise."""
    if not the_plan.stills:
        return []
    board = the_plan.storyboard
    store = ClipStore(board.root)
    backend = the_plan.backend or "preview"
    found = []
    for number, item in enumerate(the_plan.shots, start=1):
        start, end = places.get(item.id, (None, None))
        found.append(PanelView(
            number=number, id=item.id, start=start, end=end,
            dialogue=[(line.who, line.say) for line in item.shot.dialogue],
            stills=[_still_view(board, store, backend, take, page) for take in the_plan.still_takes(item.id)],
            waiting=item.awaiting_pick,
        ))
    return found


def pages(found: list[PanelView]) -> list[list[PanelView]]:
    """The printed sheet's pages: PANELS_PER_PAGE panels each."""
    return [found[start:start + PANELS_PER_PAGE] for start in range(0, len(found), PANELS_PER_PAGE)]


def _still_view(board: Storyboard, store: ClipStore, backend: str, take: ShotPlan, page: Path) -> StillView:
    still = take.shot.still
    assert still is not None
    picture = store.clip_path(backend, take.hash, still=True)
    picked = still.picked == take.take
    seed = take.body.get("seed")
    return StillView(take.take, take.key, _relative_url(picture, page) if picture.is_file() else None, picked,
                     None if picked else _pick_line(board, take), None if seed is None else int(seed), take.estimated_usd)


def _pick_line(board: Storyboard, take: ShotPlan) -> str:
    """The edit that makes `take` the still the shot's video starts from."""
    still = take.shot.still
    assert still is not None
    if "take" in still.origins:
        return f"line {board.document.mark(still.origins['take']).line}: take: {take.take}"
    line = board.document.mark(still.where).line
    return f"line {line}: still: {{takes: {still.takes}, take: {take.take}}}"


def _relative_url(path: Path, page: Path) -> str:
    try:
        relative = os.path.relpath(path.absolute(), page.absolute().parent)
    except ValueError:
        return path.absolute().as_uri()
    return quote(Path(relative).as_posix())
