"""Stage 5 and the whole pipeline: generate what is missing, concurrently, then assemble the film."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .assemble import assemble
from .backends import Backend, Job, get_backend
from .errors import InvalidStoryboard, RenderError, ShotFailed, UsageError
from .loading import load
from .model import FrameOf, Reference, Storyboard
from .planning import Plan, ShotPlan, frame_size, plan
from .store import ClipStore


@dataclass(frozen=True)
class Event:
    """Something the user may want to see while rendering."""

    shot: str | None  # None for film-wide events
    state: str  # cached | generating | submitted | done | failed | assembling | film | current | note
    message: str = ""


@dataclass
class RenderResult:
    plan: Plan
    film: Path | None  # None when some clips are missing (e.g. `only` left shots out)
    generated: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    usd_spent: float = 0.0


def render(
    storyboard: Storyboard | str | os.PathLike[str],
    *,
    backend: str | Backend = "preview",
    jobs: int | None = None,
    only: Iterable[str] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> RenderResult:
    """Generate every missing clip of the storyboard and assemble the film.

    `only` limits generation to those shots (and the shots they take a first frame from);
    the film is assembled when every clip exists.
    """
    board = storyboard if isinstance(storyboard, Storyboard) else load(storyboard)
    engine = get_backend(backend, board) if isinstance(backend, str) else backend
    the_plan = plan(board, engine.name)
    emit = on_event or (lambda event: None)
    selected = _with_dependencies(the_plan, only)
    store = ClipStore(board.root)
    problems = engine.check([item for item in selected if not item.cached], board)
    if problems:
        raise InvalidStoryboard(problems)
    result = RenderResult(plan=the_plan, film=None)
    workers = jobs or (os.cpu_count() or 2)
    asyncio.run(_generate(the_plan, selected, engine, store, workers, emit, result))

    for item in the_plan.shots:
        item.cached = store.has_clip(engine.name, item.hash)
    missing = [item.id for item in the_plan.shots if not item.cached]
    if missing:
        emit(Event(None, "note", f"film not assembled: no clip yet for {', '.join(missing)}"))
        return result
    for item in the_plan.shots:
        if item.shot.transition.type != "cut":
            emit(Event(item.id, "note", f"{item.shot.transition.type} transition is played as a cut for now"))
    if board.output.music is not None:
        emit(Event(None, "note", "output.audio.music is not mixed in yet; the film carries the clips' own audio"))
    first = the_plan.shots[0]
    size = frame_size(first.setting("resolution"), first.setting("aspect_ratio"))
    clips = [store.clip_path(engine.name, item.hash) for item in the_plan.shots]
    fingerprint = _film_fingerprint(the_plan, size)
    if store.film_is_current(board.output.path, fingerprint):
        emit(Event(None, "current", display_path(board.output.path)))
    else:
        emit(Event(None, "assembling", display_path(board.output.path)))
        try:
            assemble(clips, board.output.path, fps=board.output.fps, size=size)
        except (OSError, ValueError, RuntimeError) as error:
            raise RenderError(f"assembling the film failed: {error}") from error
        store.remember_film(board.output.path, fingerprint)
        emit(Event(None, "film", display_path(board.output.path)))
    result.film = board.output.path
    return result


def _film_fingerprint(the_plan: Plan, size: tuple[int, int]) -> str:
    """Everything the assembled film depends on: the clips in order and the output settings."""
    output = the_plan.storyboard.output
    facts = {
        "clips": [item.hash for item in the_plan.shots],
        "backend": the_plan.backend,
        "fps": output.fps,
        "size": size,
        "assembler": 1,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def display_path(path: Path) -> str:
    """A path as short as it can be said from the current folder."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _with_dependencies(the_plan: Plan, only: Iterable[str] | None) -> list[ShotPlan]:
    if only is None:
        return list(the_plan.shots)
    by_id = {item.id: item for item in the_plan.shots}
    wanted: set[str] = set()
    for shot_id in only:
        if shot_id not in by_id:
            raise UsageError(f"--only: no shot {shot_id!r} in {the_plan.storyboard.display_path}")
        while shot_id not in wanted:
            wanted.add(shot_id)
            if not by_id[shot_id].depends_on:
                break
            shot_id = by_id[shot_id].depends_on[0]
    return [item for item in the_plan.shots if item.id in wanted]


async def _generate(
    the_plan: Plan,
    selected: list[ShotPlan],
    engine: Backend,
    store: ClipStore,
    workers: int,
    emit: Callable[[Event], None],
    result: RenderResult,
) -> None:
    slots = asyncio.Semaphore(workers)
    tasks: dict[str, asyncio.Task[None]] = {}

    async def produce(item: ShotPlan) -> None:
        for upstream in item.depends_on:
            try:
                await tasks[upstream]
            except Exception as error:
                raise ShotFailed(item.id, f"its first frame comes from shot {upstream!r}, which failed") from error
        destination = store.clip_path(engine.name, item.hash)
        if store.has_clip(engine.name, item.hash):
            result.reused.append(item.id)
            emit(Event(item.id, "cached", str(destination)))
            return
        first_frame = await _first_frame(the_plan, item, store, engine.name)
        job = Job(item, first_frame)
        async with slots:
            started = time.monotonic()
            emit(Event(item.id, "generating", engine.name))
            try:
                submission = await engine.submit(job)
                if submission.usd_spent:
                    result.usd_spent += submission.usd_spent
                spent = f", {submission.usd_spent:.2f} USD; total {result.usd_spent:.2f} USD" if submission.usd_spent else ""
                emit(Event(item.id, "submitted", f"generation {submission.generation_id}{spent}"))
                location = await engine.wait(job, submission)
                with store.writing(destination) as temporary:
                    await engine.fetch(location, temporary)
            except ShotFailed:
                raise
            except Exception as error:
                raise ShotFailed(item.id, str(error) or type(error).__name__) from error
        result.generated.append(item.id)
        emit(Event(item.id, "done", f"{time.monotonic() - started:.1f} s"))

    async def share(item: ShotPlan, leader: ShotPlan) -> None:
        try:
            await tasks[leader.id]
        except Exception as error:
            raise ShotFailed(item.id, f"it is the same request as shot {leader.id!r}, which failed") from error
        result.reused.append(item.id)
        emit(Event(item.id, "cached", f"same request as shot {leader.id!r}"))

    leaders: dict[str, ShotPlan] = {}
    for item in selected:
        if item.hash in leaders:  # identical requests are generated (and paid for) once
            tasks[item.id] = asyncio.create_task(share(item, leaders[item.hash]))
        else:
            leaders[item.hash] = item
            tasks[item.id] = asyncio.create_task(produce(item))
    try:
        outcomes = await asyncio.gather(*tasks.values(), return_exceptions=True)
    finally:
        await engine.close()
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    for failure in failures:
        if isinstance(failure, ShotFailed):
            emit(Event(failure.shot_id, "failed", failure.reason))
    if failures:
        if not all(isinstance(failure, ShotFailed) for failure in failures):
            raise next(failure for failure in failures if not isinstance(failure, ShotFailed))
        raise RenderError("\n".join(str(failure) for failure in failures))


async def _first_frame(the_plan: Plan, item: ShotPlan, store: ClipStore, backend: str) -> Path | None:
    frame = item.shot.first_frame
    if isinstance(frame, Reference):
        return frame.path  # a URL first frame stays in the body as it is
    if not isinstance(frame, FrameOf):
        return None
    upstream = the_plan.shot(frame.shot)
    destination = store.frame_path(upstream.hash, frame.at)
    if not destination.is_file():
        clip = store.clip_path(backend, upstream.hash)
        await asyncio.to_thread(_extract_frame, clip, frame.at, destination, store)
    return destination


def _extract_frame(clip: Path, at: str | float, destination: Path, store: ClipStore) -> None:
    from moviepy import VideoFileClip
    from PIL import Image

    with VideoFileClip(str(clip), audio=False) as video:
        last = max(0.0, video.duration - 1.0 / video.fps)
        when = 0.0 if at == "start" else last if at == "end" else min(float(at), last)
        pixels = video.get_frame(when)
    with store.writing(destination) as temporary:
        Image.fromarray(pixels).save(temporary, format="PNG")
