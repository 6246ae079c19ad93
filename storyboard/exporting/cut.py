"""What goes into an exported cut: each shot's clip in the film, placed exactly as the film places
it (`assemble.Timeline`), and the soundtrack. Reads the plan and the clip store; writes nothing."""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ..assembling.film import film_pieces, film_size
from ..assembling.shot_sound import sound_spans
from ..assembling.sound import SAMPLE_RATE, check_soundtrack
from ..assembling.timeline import Soundtrack, Source, Timeline
from ..backends import plan_for
from ..errors import StoryboardError
from ..media import probe
from ..model import Storyboard
from ..planning.inventory import check_holds
from ..planning.plans import Plan, ShotPlan
from ..project.store import ClipStore
from .stills import approved_stills


class ClipsMissing(StoryboardError):
    """Some shot's clip in the film has not been rendered yet (exit 1: nothing is wrong with the input)."""


@dataclass(frozen=True)
class Music:
    """The soundtrack as the film plays it: from the film's start, looped or cut to its length."""

    settings: Soundtrack
    duration: float  # seconds of sound in the file


@dataclass(frozen=True)
class Cut:
    board: Storyboard
    plan: Plan
    timeline: Timeline  # pieces in film order, one per shot of `plan.shots`
    music: Music | None
    size: tuple[int, int]  # the film's frame, width and height
    stills: dict[str, Path] = field(default_factory=dict)  # shot id -> its approved still (stills.py)

    @property
    def fps(self) -> float:
        return self.timeline.fps

    @property
    def shots(self) -> list[ShotPlan]:
        return self.plan.shots


def gather(board: Storyboard, backend: str) -> Cut:
    """The cut of `board` with `backend`'s clips. Raises ClipsMissing naming every shot whose clip is
    not in the store yet, AssemblyError for a clip that cannot be used (as `render` would)."""
    the_plan = plan_for(board, backend)
    check_holds(the_plan)
    store = ClipStore(board.root)
    store_backend = the_plan.backend or backend
    missing = [item for item in the_plan.shots if item.footage is None and not store.has_clip(store_backend, item.hash)]
    if missing:
        raise ClipsMissing(_missing_message(board, missing, backend))
    pieces = film_pieces(the_plan, store, store_backend)  # the film's own: the cut and the film agree
    timeline = Timeline(pieces, [Source.of(piece) for piece in pieces], board.output.fps)
    sound_spans(timeline, SAMPLE_RATE)  # J- and L-cuts the clips' sound cannot give: refused, as the film would
    return Cut(board, the_plan, timeline, _music(board), film_size(the_plan, pieces),
               approved_stills(the_plan, store_backend))


def _missing_message(board: Storyboard, missing: list[ShotPlan], backend: str) -> str:
    names = ", ".join(repr(item.id) + (f" (take {item.take})" if item.takes > 1 else "") for item in missing)
    count = len(missing)
    try:
        shown = os.path.relpath(board.file)
    except ValueError:  # another drive (Windows)
        shown = str(board.file)
    option = "" if backend == "preview" else f" --backend {backend}"
    return (f"no clip yet for {count} shot{'' if count == 1 else 's'} on the {backend} backend: {names}; "
            f"render first: storyboard render {shlex.quote(shown)}{option}")


def _music(board: Storyboard) -> Music | None:
    music = board.output.music
    if music is None:
        return None
    check_soundtrack(music.path)  # the film's own refusal of a soundtrack without sound
    sound = probe(music.path).audio
    assert sound is not None
    return Music(Soundtrack(music.path, volume=music.volume, fade_in=music.fade_in, fade_out=music.fade_out,
                            loop=music.loop, duck=music.duck), sound.end - sound.start)
