"""The offline backends: every shot becomes an animatic clip made on this machine, for free.

`preview` draws a quiet card: the shot id (of the first shot that rendered this request), its
number in the storyboard and where it starts in the film (as they were when the clip was
drawn), the seed, the prompt, the references (thumbnails, named as the prompt names them, with
the cast member's name or the file's: "Image 1 · tan"), a clock, and the first frame when one was
asked for; its sound is silent. `preview-sync` draws the same card with sync markers: a white
flash and a beep at the same instants, over a hum. See `storyboard.backends.animatic`. Each
keeps its clips in the store under its own name, so a clip with markers is never taken for one
without. The same request always gives the same clip. Drawing is imported only when a clip is
made, so planning stays light.
"""
from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..loading.checks.timing import clip_length
from ..media import frame_size
from .base import Job, Submission

if TYPE_CHECKING:
    from ..errors import Problem
    from ..model import Reference, Storyboard
    from ..planning.plans import ShotPlan
    from .animatic import Animatic
    from .still_card import StillCard

DEFAULT_DURATION = 5.0  # seconds, for a model profile that gives no duration


@dataclass(frozen=True)
class Place:
    """Where a shot is: its number among the storyboard's shots, and the film time of its clip's first frame."""

    number: int
    count: int
    film_start: float | None  # None: not known (a footage file before it could not be read)


def places_in_film(storyboard: Storyboard) -> dict[str, Place]:
    """Every shot's place, by shot id. Pieces are laid end to end as the assembly lays them
    (`assemble.timeline.Timeline`): each as long as its clip after its trim, a crossfade
    overlapping the piece before it; a trimmed clip's first frame lies before its piece starts."""
    shots = storyboard.shots
    places: dict[str, Place] = {}
    at: float | None = 0.0
    for number, shot in enumerate(shots, start=1):
        trim_start, trim_end = shot.trim
        if at is not None and number > 1 and shot.transition.type == "crossfade":
            at -= shot.transition.duration
        places[shot.id] = Place(number, len(shots), None if at is None else at - trim_start)
        length = clip_length(storyboard, shot)
        if length is None and shot.clip is None:
            length = DEFAULT_DURATION  # a model profile that gives no duration
        if at is not None and length is not None:
            at += (length if trim_end is None else min(trim_end, length)) - trim_start
        else:
            at = None
    return places


@dataclass(frozen=True)
class LabelledReference:
    """A reference the shot's prompt names: `label` as the prompt names it (`Image 1`), and `cast`, the
    cast member it came from (None: an `image_urls` / `video_urls` entry of the shot's own)."""

    label: str
    ref: Reference
    cast: str | None = None

    @property
    def caption(self) -> str:
        """The label with whose it is: `Image 1 · tan` for a cast member's, `Image 2 · door.png` for a file of the shot's own."""
        return f"{self.label} · {self.cast if self.cast is not None else source_name(self.ref.source)}"


def source_name(source: str) -> str:
    """The file name of a reference as written (a path's or a URL's last part), else all of it."""
    name = source.split("?", 1)[0].split("#", 1)[0].rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]
    return name or source


def labelled_references(plan: ShotPlan) -> list[LabelledReference]:
    """The references the shot's prompt names, each with the name the prompt gives it (`Image 1`,
    `Video 1`: the model profile's labels, numbered by kind; the kind where the profile has no label)
    and the cast member it belongs to, if any."""
    owners = {id(ref): member.name for member in plan.shot.cast for ref in member.references}
    counters = {"image": 0, "video": 0}
    labelled = []
    for ref in plan.shot.all_references():
        counters[ref.kind] += 1
        label = plan.profile.label(ref.kind, counters[ref.kind]) if ref.kind in plan.profile.labels else ref.kind
        labelled.append(LabelledReference(label, ref, owners.get(id(ref))))
    return labelled


def animatic_for(job: Job, place: Place | None = None, markers: bool = False) -> Animatic:
    from .animatic import Animatic

    plan: ShotPlan = job.shot
    # A model profile without these defaults still gets a sensible animatic.
    width, height = frame_size(plan.setting("resolution") or "720p", plan.setting("aspect_ratio") or "16:9")
    seed = plan.setting("seed")  # None: the service picks one at random
    references = [(named.caption, named.ref.path, named.ref.source) for named in labelled_references(plan)]
    return Animatic(
        width=width,
        height=height,
        duration=plan.duration or DEFAULT_DURATION,
        seed=None if seed is None else int(seed),
        shot_id=plan.id,
        prompt=plan.body["prompt"],
        references=references,
        first_frame=job.first_frame,
        tint=int(plan.hash[:8], 16),  # the preview stays deterministic without a seed
        place=(place.number, place.count) if place else None,
        film_start=place.film_start if place else None,
        markers=markers,
    )


def still_card_for(plan: ShotPlan) -> StillCard:
    """The card the preview draws for a take of a shot's still."""
    from ..planning.stills import pixels
    from .still_card import StillCard

    width, height = pixels(plan.body.get("image_size"))
    seed = plan.body.get("seed")
    title = plan.id if plan.takes == 1 else f"{plan.id} · still {plan.take}"
    return StillCard(width, height, title, plan.body["prompt"], None if seed is None else int(seed),
                     int(plan.hash[:8], 16), [ref.path for ref in plan.references if ref.path is not None])


class PreviewBackend:
    name = "preview"
    markers = False  # sync markers: see PreviewSyncBackend
    paid = False
    where = "this machine, free animatics"
    default_jobs = max(1, os.cpu_count() or 1)  # rendering animatics is CPU-bound

    def __init__(self, scratch: Path | None = None, storyboard: Storyboard | None = None) -> None:
        self._accepted: dict[str, Job] = {}
        self._scratch = scratch  # working files while a clip is drawn
        self._storyboard = storyboard  # where each shot is in the film; None: the card does not say
        self._places: dict[str, Place] | None = None
        self._places_lock = threading.Lock()  # clips are drawn in worker threads

    @classmethod
    def for_storyboard(cls, storyboard: Storyboard) -> PreviewBackend:
        from ..project.store import ClipStore

        return cls(ClipStore(storyboard.root).scratch, storyboard)

    def animatic(self, job: Job) -> Animatic:
        """What this backend draws for `job`."""
        return animatic_for(job, self._place(job.shot.id), markers=self.markers)

    def _place(self, shot_id: str) -> Place | None:
        if self._storyboard is None:
            return None
        with self._places_lock:
            if self._places is None:
                self._places = places_in_film(self._storyboard)
        return self._places.get(shot_id)

    @classmethod
    def check(cls, items: list[ShotPlan], storyboard: Storyboard) -> list[Problem]:
        return []  # everything local renders offline

    async def close(self) -> None:
        pass

    async def prepare(self, job: Job) -> Job:
        return job

    async def submit(self, job: Job) -> Submission:
        generation_id = f"{self.name}-{job.shot.hash[:16]}"
        self._accepted[generation_id] = job
        return Submission(generation_id=generation_id, usd_spent=0.0)

    async def wait(self, job: Job, submission: Submission) -> str:
        return submission.generation_id

    async def fetch(self, location: str, destination: Path, report: Callable[[str], None] | None = None) -> None:
        # Rendered straight into the caller's temporary file: nothing to clean up elsewhere.
        await asyncio.to_thread(self._draw, self._accepted.pop(location), destination)

    def _draw(self, job: Job, destination: Path) -> None:
        if job.shot.still:
            from .still_card import draw_still

            draw_still(still_card_for(job.shot), destination)
            return
        from .animatic import render_animatic

        render_animatic(self.animatic(job), destination, self._scratch)


class PreviewSyncBackend(PreviewBackend):
    """The preview with sync markers: a one-frame white flash and a 1 kHz beep at 0.5 s and every
    second after, over a hum, so audio/video sync can be measured on the film."""

    name = "preview-sync"
    markers = True
