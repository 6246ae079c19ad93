"""The whole pipeline: load → plan → (budget) → generate what is missing → assemble the film."""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .assemble import CAPTION_STYLE, FilmSettings, Piece, Progress, Soundtrack, assemble, film_timeline
from .backends import Backend, get_backend
from .cache.settings import shared_settings
from .errors import OverBudget, RenderError, UsageError, describe_os_error
from .events import Event
from .files import remove_leftovers
from .generate import GenerateOptions, Generator, Outcome, SharedCache, open_shared_cache
from .inventory import check_backend, check_holds, stock
from .loading import load
from .lockfile import Entries, Entry, LockFile, by_request
from .media import check_tools, frame_size, probe
from .model import Storyboard
from .planning import Plan, ShotPlan
from .state import InFilm, State, project_lock
from .store import ClipStore
from .subtitles import Cue, cues_of, sidecar_paths, write_sidecars


@dataclass
class RenderResult:
    plan: Plan
    film: Path | None  # None when some clips are missing (e.g. `only` left shots out)
    generated: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    usd_spent: float = 0.0

    def __repr__(self) -> str:
        film = f"film {display_path(self.film)!r}" if self.film else "no film"
        return (f"<RenderResult {film}: {len(self.generated)} generated, {len(self.reused)} reused, "
                f"{self.usd_spent:.2f} USD spent>")


def render(
    storyboard: Storyboard | str | os.PathLike[str],
    *,
    backend: str | Backend = "preview",
    jobs: int | None = None,
    only: Iterable[str] | None = None,
    keep_going: bool = False,
    resubmit: bool | Iterable[str] = False,
    max_cost: float | None = None,
    takes: int | None = None,
    confirm: Callable[[float], bool] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> RenderResult:
    """Generate every missing clip of the storyboard and assemble the film.

    `only` limits generation to those shots (and the shots they take a first frame from);
    the film is assembled when every clip exists. On a paid backend, `max_cost` (default:
    the file's `render.max_cost`) caps the estimated and the actual spend of this render,
    `confirm(estimated_usd)` is asked before anything is submitted, and `resubmit` allows
    paying again: True (or "*") where an earlier create's outcome is unknown; shot ids for those
    shots, also where a clip that was paid for can no longer be fetched. `takes`: make at least
    this many takes of every generated shot (`render --takes`).
    Raises RenderError naming each failed shot, KeyboardInterrupt when interrupted.
    """
    board = storyboard if isinstance(storyboard, Storyboard) else load(storyboard)
    if takes is not None:
        board = board.with_takes(takes)
    engine = get_backend(backend, board) if isinstance(backend, str) else backend
    emit = on_event or (lambda event: None)
    store = ClipStore(board.root)
    store.ensure()
    with project_lock(store.root, lambda waiting: emit(Event(None, "note", waiting))):
        store.remove_leftovers()
        remove_leftovers(board.output.path)
        the_plan = stock(board, engine.name, paid=engine.paid)
        selected = [item for item in _with_dependencies(the_plan, only) if item.footage is None]
        consent = _consent(the_plan, resubmit)
        check_holds(the_plan)
        check_backend(the_plan, engine, selected)
        shared = open_shared_cache(shared_settings(board.cache), engine, store, emit)
        check_tools()
        budget = max_cost if max_cost is not None else board.render.max_cost
        if engine.paid:
            _approve_spend(selected, budget, consent, confirm)
        result = RenderResult(plan=the_plan, film=None)
        options = GenerateOptions(jobs=jobs or board.render.jobs or engine.default_jobs, keep_going=keep_going,
                                  resubmit=consent, max_cost=budget if engine.paid else None)
        outcome = _generate(the_plan, selected, engine, store, emit, options, shared)
        in_order = [item.key for item in the_plan.requests]  # storyboard order, not the order they finished in
        result.generated = [shot_id for shot_id in in_order if shot_id in set(outcome.generated)]
        result.reused = [shot_id for shot_id in in_order if shot_id in set(outcome.reused)]
        result.usd_spent = outcome.usd_spent
        if outcome.interrupted:
            raise KeyboardInterrupt
        if outcome.failed or outcome.skipped:
            lines = [f"shot {shot_id!r} failed: {reason}" for shot_id, reason in outcome.failed.items()]
            lines += [f"shot {shot_id!r} was not rendered: {reason}" for shot_id, reason in outcome.skipped.items()]
            raise RenderError("\n".join(lines))
        _assemble(the_plan, store, engine.name, emit, result)
    return result


def _approve_spend(selected: list[ShotPlan], budget: float | None, consent: frozenset[str],
                   confirm: Callable[[float], bool] | None) -> None:
    """Refuse or confirm what this render is estimated to cost, before anything is paid."""
    to_pay = {item.hash: item for item in selected
              if item.status == "missing" or (item.status == "unknown" and item.id in consent)}
    unpriced = sorted({item.shot.model for item in to_pay.values() if item.estimated_usd is None})
    estimate = round(sum(item.estimated_usd or 0.0 for item in to_pay.values()), 2)
    if unpriced:
        if budget is not None:
            raise OverBudget(f"a budget is set but the profile of {', '.join(unpriced)} gives no price; "
                             "add `pricing:` to it (see models/ in the README); nothing was submitted")
        estimate = math.inf
    if budget is not None and estimate > budget + 1e-9:
        raise OverBudget(
            f"this render is estimated at {estimate:.2f} USD for {len(to_pay)} new "
            f"generation{'' if len(to_pay) == 1 else 's'}, over the budget of "
            f"{budget:.2f} USD (--max-cost or render.max_cost); nothing was submitted"
        )
    if confirm is not None and estimate > 0 and not confirm(estimate):  # inf: the price is unknown
        raise UsageError("not confirmed; nothing was submitted")


def _generate(the_plan: Plan, selected: list[ShotPlan], engine: Backend, store: ClipStore,
              emit: Callable[[Event], None], options: GenerateOptions, shared: SharedCache | None) -> Outcome:
    state = State(store.state_path)
    lock = LockFile(the_plan.storyboard.root, the_plan.storyboard.file.name)
    generator = Generator(the_plan, engine, store, state, by_request(lock.entries()), emit, options, shared)
    try:
        return asyncio.run(generator.run(selected))
    finally:
        lock.write(_lock_entries(the_plan, lock.entries(), generator.outcome.locked))
        made = {item.id: InFilm(item.hash, item.body) for item in the_plan.shots
                if item.footage is None and store.has_clip(engine.name, item.hash)}
        state.record_film(the_plan.storyboard.file.name, engine.name, made, [item.id for item in the_plan.shots])
        state.close()


def _lock_entries(the_plan: Plan, existing: Entries, rendered: dict[str, Entry]) -> Entries:
    """storyboard.lock after this render: for each shot, its current takes (and the clip it holds)
    as recorded before or made now, numbered and the film's marked; anything else is dropped."""
    known = by_request(existing) | rendered
    entries: Entries = {}
    for item in the_plan.shots:
        takes = [replace(known[take.hash], take=take.take if take.takes > 1 else None, film=take.hash == item.hash)
                 for take in the_plan.takes(item.id) if take.hash in known]
        if takes:
            entries[item.id] = takes
    return entries


def _assemble(the_plan: Plan, store: ClipStore, backend: str, emit: Callable[[Event], None], result: RenderResult) -> None:
    board = the_plan.storyboard
    missing = [item.id for item in the_plan.shots if item.footage is None and not store.has_clip(backend, item.hash)]
    if missing:
        emit(Event(None, "note", f"film not assembled: no clip yet for {', '.join(missing)}"))
        return
    output = board.output
    pieces = film_pieces(the_plan, store, backend)
    try:
        settings = FilmSettings(size=film_size(the_plan, pieces), fps=output.fps, crf=output.crf, preset=output.preset,
                                music=_soundtrack(board), normalize=output.normalize)
        cues = _cues(the_plan, pieces, settings.fps) if output.subtitles != "none" else []
        burned = cues if output.subtitles == "burn" else []
        fingerprint = _film_fingerprint(the_plan, pieces, settings, burned)
        current = store.film_is_current(board.output.path, fingerprint)
        if not current:
            emit(Event(None, "assembling", display_path(board.output.path)))
            store.ensure()
            way = assemble(pieces, board.output.path, settings, scratch=store.scratch, captions=burned,
                           kept=store.root, progress=lambda done: _report_segment(done, emit))
            if way == "kept":
                emit(Event(None, "note", "the picture is unchanged: kept from the last assembly, only the sound mixed again"))
            store.remember_film(board.output.path, fingerprint)
    except (RenderError, OSError) as error:  # OSError: the film or the soundtrack could not be looked at
        raise RenderError(f"assembling the film failed: {error}") from error
    try:  # the subtitle files are compared with what they should hold: an edited line rewrites them, not the film
        subtitles = write_sidecars(cues, board.output.path) if output.subtitles == "sidecar" else []
    except OSError as error:
        raise RenderError(f"writing the subtitles failed: {describe_os_error(error)}; the film is written") from error
    film = display_path(board.output.path)
    written = ", ".join(display_path(path) for path in subtitles)
    if current and subtitles:
        emit(Event(None, "film", f"{written} (subtitles; the film {film} is up to date)"))
    elif current:
        emit(Event(None, "current", film))
    else:
        emit(Event(None, "film", f"{film} (subtitles: {written})" if subtitles else film))
        stale = [display_path(path) for path in sidecar_paths(board.output.path) if path.exists()]
        if output.subtitles == "burn" and stale:
            emit(Event(None, "note", f"{', '.join(stale)} next to the film would show over the burned subtitles "
                                     "in most players; delete them (they are not updated with output.subtitles: burn)"))
    result.film = board.output.path


def _report_segment(progress: Progress, emit: Callable[[Event], None]) -> None:
    """The segments found, in one line; then each segment as it is encoded."""
    if progress.reused and progress.done == progress.reused_count:
        emit(Event(None, "segment", f"reused {progress.reused_count} of {progress.total} segments"))
    elif not progress.reused:
        emit(Event(None, "segment", f"encoded {progress.segment} "
                                    f"({progress.done - progress.reused_count} of {progress.total - progress.reused_count})"))


def _cues(the_plan: Plan, pieces: list[Piece], fps: float) -> list[Cue]:
    """The dialogue's subtitles, timed to the film as it is assembled (the clips' real lengths, trims, crossfades)."""
    timeline = film_timeline(pieces, fps)
    return cues_of([item.shot for item in the_plan.shots], timeline.starts, timeline.lengths, fps)


def _film_fingerprint(the_plan: Plan, pieces: list[Piece], settings: FilmSettings, burned: list[Cue]) -> str:
    """Everything the assembled film depends on: the clips in order, how they join, the output settings,
    the subtitles burned into it. (Sidecar subtitles are files of their own: they never make the film stale.)"""
    facts = {
        "clips": [item.hash for item in the_plan.shots],
        "backend": the_plan.backend,
        "pieces": [[str(piece.path), piece.trim_start, piece.trim_end, piece.transition, piece.transition_duration, piece.fit]
                   for piece in pieces],
        "settings": repr(settings),
        "music": _file_fact(settings.music.path) if settings.music else None,
        "assembler": 2,
    }
    if burned:  # only then: films without burned subtitles keep the fingerprint they had
        facts["burned"] = [[cue.start, cue.end, cue.text] for cue in burned] + [CAPTION_STYLE]
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _file_fact(path: Path) -> list[object]:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _soundtrack(board: Storyboard) -> Soundtrack | None:
    music = board.output.music
    if music is None:
        return None
    return Soundtrack(music.path, volume=music.volume, fade_in=music.fade_in, fade_out=music.fade_out,
                      loop=music.loop, duck=music.duck)


def film_pieces(the_plan: Plan, store: ClipStore, backend: str) -> list[Piece]:
    """The film's pieces in order: each shot's clip in the film (`backend`'s, or its footage), how it
    is trimmed, joined and fitted. The exported cut is made of the same pieces."""
    fit = the_plan.storyboard.output.fit
    return [
        Piece(item.footage or store.clip_path(backend, item.hash), trim_start=item.shot.trim[0], trim_end=item.shot.trim[1],
              transition=item.shot.transition.type, transition_duration=item.shot.transition.duration,
              fit=item.shot.fit or fit, shot=item.id)
        for item in the_plan.shots
    ]


def film_size(the_plan: Plan, pieces: list[Piece]) -> tuple[int, int]:
    """`output.resolution`/`aspect_ratio` where given, else the first generated shot's, else the first clip's."""
    output = the_plan.storyboard.output
    generated = next((item for item in the_plan.shots if item.footage is None), None)
    resolution = output.resolution or (generated.setting("resolution") if generated else None)
    aspect_ratio = output.aspect_ratio or (generated.setting("aspect_ratio") if generated else None)
    if resolution and aspect_ratio:
        return frame_size(resolution, aspect_ratio)
    width, height = probe(pieces[0].path).picture.upright_size  # footage only: the first clip's size and shape, as shown
    if resolution:
        return frame_size(resolution, f"{width}:{height}")
    if aspect_ratio:
        return frame_size(f"{min(width, height)}p", aspect_ratio)
    return width - width % 2, height - height % 2


def _consent(the_plan: Plan, resubmit: bool | Iterable[str]) -> frozenset[str]:
    """The shots the user consents to pay for again. True, or "*" among the names, stands for every
    shot whose earlier create's outcome is unknown; a paid clip that is lost needs its shot named."""
    names = {"*"} if resubmit is True else set() if resubmit is False else set(resubmit)
    known = {item.id for item in the_plan.shots}
    strangers = sorted(names - known - {"*"})
    if strangers:
        raise UsageError(f"--resubmit: no shot {strangers[0]!r} in {the_plan.storyboard.display_path}")
    if "*" in names:
        names |= {item.id for item in the_plan.requests if item.status == "unknown"}
    return frozenset(names - {"*"})


def display_path(path: Path) -> str:
    """A path as short as it can be said from the current folder."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _with_dependencies(the_plan: Plan, only: Iterable[str] | None) -> list[ShotPlan]:
    """The takes a render makes: every take of the shots named (all, without `only`), and the take in
    the film of each shot they take a first frame from."""
    if only is None:
        return the_plan.requests
    by_id = {item.id: item for item in the_plan.shots}
    named, needed = set(), set()
    for shot_id in only:
        if shot_id not in by_id:
            raise UsageError(f"--only: no shot {shot_id!r} in {the_plan.storyboard.display_path}")
        named.add(shot_id)
        while by_id[shot_id].depends_on and by_id[shot_id].depends_on[0] not in needed:
            shot_id = by_id[shot_id].depends_on[0]
            needed.add(shot_id)
    return [item for item in the_plan.requests
            if item.id in named or (item.id in needed and item.hash == by_id[item.id].hash)]
