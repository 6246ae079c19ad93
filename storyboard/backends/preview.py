"""The offline backend: every shot becomes an animatic clip made on this machine, for free.

A clip shows the shot id (of the first shot that rendered this request), the prompt and the
references (thumbnails, named as the prompt names them), a moving playhead, and the first
frame when one was asked for; see `storyboard.animatic`. The same request always gives the
same clip. Drawing is imported only when a clip is made, so planning stays light.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..media import frame_size
from .base import Job, Submission

if TYPE_CHECKING:
    from ..animatic import Animatic
    from ..errors import Problem
    from ..model import Storyboard
    from ..planning import ShotPlan


def animatic_for(job: Job) -> Animatic:
    from ..animatic import Animatic

    plan: ShotPlan = job.shot
    # A model profile without these defaults still gets a sensible animatic.
    width, height = frame_size(plan.setting("resolution") or "720p", plan.setting("aspect_ratio") or "16:9")
    seed = plan.setting("seed")
    if seed is None:  # the service would pick one at random; the preview stays deterministic
        seed = int(plan.hash[:8], 16)
    counters = {"image": 0, "video": 0}
    references = []
    for ref in plan.shot.all_references():
        counters[ref.kind] += 1
        label = plan.profile.label(ref.kind, counters[ref.kind]) if ref.kind in plan.profile.labels else ref.kind
        references.append((label, ref.path, ref.source))
    return Animatic(
        width=width,
        height=height,
        duration=plan.duration or 5.0,
        seed=int(seed),
        shot_id=plan.id,
        prompt=plan.body["prompt"],
        references=references,
        first_frame=job.first_frame,
    )


class PreviewBackend:
    name = "preview"
    paid = False
    default_jobs = max(1, os.cpu_count() or 1)  # rendering animatics is CPU-bound

    def __init__(self, scratch: Path | None = None) -> None:
        self._accepted: dict[str, Job] = {}
        self._scratch = scratch  # working files while a clip is drawn

    @classmethod
    def for_storyboard(cls, storyboard: Storyboard) -> PreviewBackend:
        from ..store import ClipStore

        return cls(ClipStore(storyboard.root).scratch)

    def check(self, items: list[ShotPlan], storyboard: Storyboard) -> list[Problem]:
        return []  # everything local renders offline

    async def close(self) -> None:
        pass

    async def prepare(self, job: Job) -> Job:
        return job

    async def submit(self, job: Job) -> Submission:
        generation_id = f"preview-{job.shot.hash[:16]}"
        self._accepted[generation_id] = job
        return Submission(generation_id=generation_id, usd_spent=0.0)

    async def wait(self, job: Job, submission: Submission) -> str:
        return submission.generation_id

    async def fetch(self, location: str, destination: Path) -> None:
        from ..animatic import render_animatic

        # Rendered straight into the caller's temporary file: nothing to clean up elsewhere.
        await asyncio.to_thread(render_animatic, animatic_for(self._accepted.pop(location)), destination, self._scratch)


