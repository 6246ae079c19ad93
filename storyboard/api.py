"""The front door: the whole pipeline as five functions, each taking a storyboard file or a loaded one.

    import storyboard
    board = storyboard.load("film.yaml")      # read, validate, expand templates
    the_plan = storyboard.plan(board)          # one hashed request per take; sends nothing
    result = storyboard.render(board)          # generate what is missing, assemble the film
    page = storyboard.review(board)            # an offline review page of every take
    cut = storyboard.export(board, "cut.otio") # the cut for an editor

`render_async` is `render` for a running event loop (Jupyter: `await storyboard.render_async(board)`);
`render` itself works there too. Every stage is imported when it is first needed, so importing
storyboard (and `storyboard validate`) stays light.
"""
from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import OverBudget, RenderError, UsageError
from .events import Event
from .messages import display_path
from .model import Storyboard

if TYPE_CHECKING:
    from .backends import Backend
    from .exporting import Exported, Media
    from .generating import GenerateOptions, Outcome, SharedCache
    from .planning.plans import Plan, ShotPlan
    from .project.store import ClipStore

Source = Storyboard | str | os.PathLike[str]  # a storyboard file, or one already loaded
T = TypeVar("T")
B = TypeVar("B")


def load(source: Source) -> Storyboard:
    """Read, check and expand a storyboard file (a loaded Storyboard is returned as it is).
    Raises InvalidStoryboard listing every problem, each with its file, line and column."""
    if isinstance(source, Storyboard):
        return source
    from .loading import load as load_file

    return load_file(source)


def plan(source: Source, backend: str | Backend | None = None) -> Plan:
    """Every take's request, hash and estimated cost, what `backend` already has of it, and what
    changed since the last render (held shots keep their clip). Sends nothing but, for the paid
    backend, a look at the service's price list (no key; `plan.prices` says where the prices came
    from). Without `backend`:
    STORYBOARD_BACKEND, the file's `render.backend`, the last render's, else the preview."""
    from .backends import plan_for

    board = load(source)
    return plan_for(board, _chosen(board, backend))


def review(source: Source, backend: str | None = None, output: str | os.PathLike[str] | None = None) -> Path:
    """Write the review page of `backend`'s takes (chosen as `plan` chooses) to `output` (default:
    `review.html` next to the film), atomically; return where it was written. Raises UsageError
    for an `output` that is an input, the film or inside storyboard's state folder."""
    from .reviewing import write_review

    board = load(source)
    return write_review(board, backend=_chosen(board, backend), output=output)


def export(source: Source, out: str | os.PathLike[str], backend: str | None = None,
           media: Media = "collect") -> Exported:
    """Write the film's cut to `out` in the format its extension names (.otio, .xml, .edl, .fcpxml),
    from `backend`'s clips. `media`: "collect" (the default) puts the cut's clips beside `out`, in
    a folder named after it (`cut.otio`: `cut-media/`, as `03-sneak.mp4`...), referred to by
    relative paths; "store" points at the clip store's own files by absolute paths. Raises
    UsageError for an unknown extension, a missing adapter or a destination that would overwrite
    an input, ClipsMissing naming the shots not rendered yet."""
    from .exporting import export as export_cut

    board = load(source)
    return export_cut(board, out, backend=_chosen(board, backend), media=media)


def _chosen(board: Storyboard, backend: str | B | None) -> str | B:
    """The backend a command that pays nothing uses (see `backends.choose_backend`)."""
    from .backends import choose_backend

    return backend if backend is not None else choose_backend(board, None, may_pay=False).name


@dataclass(frozen=True)
class Spend:
    """What a render asks `confirm` to approve before it pays: the estimate, the new generations, where."""

    usd: float  # estimated; math.inf when a model's profile gives no price
    takes: list[str]  # the new generations, by key ('forest', 'forest#2'), in storyboard order
    where: str  # the service they go to ("the real service at https://…", or a stand-in's address)

    def __str__(self) -> str:
        cost = "of unknown price (a model profile gives none)" if math.isinf(self.usd) else f"estimated at {self.usd:.2f} USD"
        count = len(self.takes)
        shown = ", ".join(self.takes[:8]) + (f" and {count - 8} more" if count > 8 else "")
        return f"{count} new generation{'' if count == 1 else 's'} ({shown}) on {self.where}, {cost}"


@dataclass
class RenderResult:
    """What a render did: its plan, the film (None when some clip is missing), the takes generated
    and reused (by key: `shot` or `shot#take`, in storyboard order), and what it spent."""

    plan: Plan
    film: Path | None
    generated: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    usd_spent: float = 0.0

    def __repr__(self) -> str:
        film = f"film {display_path(self.film)!r}" if self.film else "no film"
        return (f"<RenderResult {film}: {len(self.generated)} generated, {len(self.reused)} reused, "
                f"{self.usd_spent:.2f} USD spent>")


def render(
    source: Source,
    *,
    backend: str | Backend | None = None,
    jobs: int | None = None,
    only: Iterable[str] | None = None,
    keep_going: bool = False,
    resubmit: bool | Iterable[str] = False,
    max_cost: float | None = None,
    takes: int | None = None,
    confirm: Callable[[Spend], bool] | None = None,
    on_event: Callable[[Event], None] | None = None,
    stills: bool = False,
) -> RenderResult:
    """Generate every missing clip of the storyboard and assemble the film.

    `only` limits generation to those shots (and the shots they take a first frame from);
    the film is assembled when every clip exists. On a paid backend, `max_cost` (default:
    the file's `render.max_cost`) caps the estimated and the actual spend of this render,
    `confirm(spend)` is asked before anything is submitted (a `Spend`: the estimate, the takes, where), and `resubmit` allows
    paying again: True (or "*") where an earlier create's outcome is unknown; shot ids for those
    shots, also where a clip that was paid for can no longer be fetched. `takes`: make at least
    this many takes of every generated shot. `on_event` is told of every step (see `Event`).
    Without `backend`: STORYBOARD_BACKEND, else the file's `render.backend`, else the free preview
    (a paid backend is used only when named, never because the last render used it).
    Shots with `still:` get their stills drawn first; each video starts from its shot's picked still.
    `stills`: draw only the stills (no video, no film). A shot whose still has several takes and no
    pick gets no video: the render raises RenderError naming it and how to pick, after the rest.
    Works inside a running event loop too (it then runs in a thread of its own).
    Raises RenderError naming each failed shot, KeyboardInterrupt when interrupted.
    """
    def run() -> RenderResult:
        return _render(load(source), backend=backend, jobs=jobs, only=only, keep_going=keep_going, resubmit=resubmit,
                       max_cost=max_cost, takes=takes, confirm=confirm, on_event=on_event, stills_only=stills)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    return _in_a_thread(run)  # the generation stage runs an event loop of its own


async def render_async(source: Source, **options: object) -> RenderResult:
    """`render` as an awaitable, for code already in an event loop; takes the same options."""
    return await asyncio.to_thread(render, source, **options)  # type: ignore[arg-type]


def _in_a_thread(work: Callable[[], T]) -> T:
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(work())
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=target, name="storyboard-render")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


def _render(board: Storyboard, *, backend: str | Backend | None, jobs: int | None, only: Iterable[str] | None,
            keep_going: bool, resubmit: bool | Iterable[str], max_cost: float | None, takes: int | None,
            confirm: Callable[[Spend], bool] | None, on_event: Callable[[Event], None] | None,
            stills_only: bool = False) -> RenderResult:
    from .assembling.film import assemble_film
    from .backends import check_backend, prices_for
    from .cache.settings import shared_settings
    from .files import remove_leftovers
    from .generating import GenerateOptions, open_shared_cache
    from .media import check_tools
    from .planning.inventory import check_holds, stock
    from .planning.stills import pick_advice
    from .project.lock import project_lock

    if takes is not None:
        board = board.with_takes(takes)
    emit = on_event or (lambda event: None)
    engine, store = _engine_and_store(board, backend, emit)
    with project_lock(store.root, lambda waiting: emit(Event(None, "note", waiting))):
        store.remove_leftovers()
        remove_leftovers(board.output.path)
        the_plan = stock(board, engine.name, paid=engine.paid, prices=prices_for(board, engine))
        work = _work(the_plan, only, stills_only, emit)
        consent = _consent(the_plan, resubmit)
        check_holds(the_plan)
        check_backend(the_plan, engine, work.drawing + work.videos)
        shared = open_shared_cache(shared_settings(board.cache), engine, store, emit)
        check_tools()
        budget = max_cost if max_cost is not None else board.render.max_cost
        if engine.paid:
            _approve_spend(work.drawing + work.videos, budget, consent, confirm, engine.where)
        result = RenderResult(plan=the_plan, film=None)
        options = GenerateOptions(jobs=jobs or board.render.jobs or engine.default_jobs, keep_going=keep_going,
                                  resubmit=consent, max_cost=budget if engine.paid else None)
        outcome = _generate([work], engine, store, options, shared, emit)[0]
        in_order = [item.key for item in the_plan.stills + the_plan.requests]  # storyboard order, not as they finished
        result.generated = [key for key in in_order if key in set(outcome.generated)]
        result.reused = [key for key in in_order if key in set(outcome.reused)]
        result.usd_spent = outcome.usd_spent
        if outcome.interrupted:
            raise KeyboardInterrupt
        if outcome.failed or outcome.skipped or work.waiting:
            lines = [f"shot {key!r} failed: {reason}" for key, reason in outcome.failed.items()]
            lines += [f"shot {key!r} was not rendered: {reason}" for key, reason in outcome.skipped.items()]
            lines += [pick_advice(board, work.waiting)] if work.waiting else []
            raise RenderError("\n".join(lines))
        if not stills_only:
            result.film = assemble_film(the_plan, store, engine.name, emit, paid=engine.paid)
    return result


@dataclass
class _Work:
    """One storyboard's part of a render: its plan, the stills to draw first, the takes to generate,
    the shots left waiting for a pick of their still, where its events go and its name (a variant's)."""

    plan: Plan
    drawing: list[ShotPlan]
    videos: list[ShotPlan]
    waiting: list[str]
    emit: Callable[[Event], None]
    name: str = ""


def _work(the_plan: Plan, only: Iterable[str] | None, stills_only: bool, emit: Callable[[Event], None],
          name: str = "") -> _Work:
    selected = [item for item in _with_dependencies(the_plan, only) if item.footage is None]
    shots = {item.id for item in selected}
    drawing = [item for item in the_plan.stills if item.id in shots]  # every take of their stills
    order = [shot.id for shot in the_plan.storyboard.shots]
    waiting = [] if stills_only else sorted({item.id for item in selected if item.awaiting_pick}, key=order.index)
    videos = [] if stills_only else [item for item in selected if not item.awaiting_pick]
    return _Work(the_plan, drawing, videos, waiting, emit, name)


def _generate(works: list[_Work], engine: Backend, store: ClipStore, options: GenerateOptions,
              shared: SharedCache | None, emit: Callable[[Event], None]) -> list[Outcome]:
    """Every work's stills, then the videos (each picked still is a video's first frame): each step one
    generation run for all the works, a request several works have made once, within one budget. A
    work whose stills failed gets no videos, unless `keep_going`; after Ctrl-C nothing more starts."""
    from .generating import Outcome, Part, generate_all

    outcomes = [Outcome() for _ in works]
    drawing = [number for number, work in enumerate(works) if work.drawing]
    if drawing:
        parts = [Part(works[number].plan, works[number].drawing, works[number].emit, works[number].name) for number in drawing]
        for number, drawn in zip(drawing, generate_all(parts, engine, store, options, shared, emit), strict=True):
            outcomes[number] = drawn
        if any(outcome.interrupted for outcome in outcomes):
            return outcomes
    going = [number for number, outcome in enumerate(outcomes)
             if options.keep_going or not (outcome.failed or outcome.skipped)]
    spent = sum(outcome.usd_counted for outcome in outcomes)
    left = None if options.max_cost is None else max(0.0, options.max_cost - spent)
    parts = [Part(works[number].plan, works[number].videos, works[number].emit, works[number].name) for number in going]
    made = generate_all(parts, engine, store, replace(options, max_cost=left), shared, emit) if parts else []
    for number, videos in zip(going, made, strict=True):
        outcomes[number] = outcomes[number].joined(videos)
    return outcomes


def _engine_and_store(board: Storyboard, backend: str | Backend | None,
                      emit: Callable[[Event], None]) -> tuple[Backend, ClipStore]:
    """The backend a render of `board` uses (the file's, else the environment's, said in a note when
    chosen), and the project's clip store, made if missing."""
    from .backends import choose_backend, get_backend
    from .project.store import ClipStore

    if backend is None:
        choice = choose_backend(board, None, may_pay=True)
        backend = choice.name
        if choice.reason:
            emit(Event(None, "note", f"backend: {choice.name} ({choice.reason})"))
    engine = get_backend(backend, board) if isinstance(backend, str) else backend
    store = ClipStore(board.root)
    store.ensure()
    return engine, store


def _approve_spend(selected: list[ShotPlan], budget: float | None, consent: frozenset[str],
                   confirm: Callable[[Spend], bool] | None, where: str) -> None:
    """Refuse or confirm what this render is estimated to cost, before anything is paid."""
    to_pay = {item.hash: item for item in selected
              if item.status == "missing" or (item.status == "unknown" and item.id in consent)}
    unpriced = sorted({item.profile.model for item in to_pay.values() if item.estimated_usd is None})
    estimate = round(sum(item.estimated_usd or 0.0 for item in to_pay.values()), 2)
    if unpriced:
        if budget is not None:
            raise OverBudget(f"a budget is set but the profile of {', '.join(unpriced)} gives no price; "
                             "add `pricing:` to it (see models/ in the docs); nothing was submitted")
        estimate = math.inf
    if budget is not None and estimate > budget + 1e-9:
        raise OverBudget(
            f"this render is estimated at {estimate:.2f} USD for {len(to_pay)} new "
            f"generation{'' if len(to_pay) == 1 else 's'}, over the budget of "
            f"{budget:.2f} USD (`max_cost`, or render.max_cost in the file); nothing was submitted", option="max_cost"
        )
    spend = Spend(estimate, [item.key for item in to_pay.values()], where)
    if confirm is not None and estimate > 0 and not confirm(spend):  # inf: the price is unknown
        raise UsageError("not confirmed; nothing was submitted")


def _consent(the_plan: Plan, resubmit: bool | Iterable[str]) -> frozenset[str]:
    """The shots the user consents to pay for again. True, or "*" among the names, stands for every
    shot whose earlier create's outcome is unknown; a paid clip that is lost needs its shot named."""
    names = {"*"} if resubmit is True else set() if resubmit is False else set(resubmit)
    known = {item.id for item in the_plan.shots}
    strangers = sorted(names - known - {"*"})
    if strangers:
        raise UsageError(f"`resubmit`: no shot {strangers[0]!r} in {the_plan.storyboard.display_path}", option="resubmit")
    if "*" in names:
        names |= {item.id for item in the_plan.requests if item.status == "unknown"}
    return frozenset(names - {"*"})


def _with_dependencies(the_plan: Plan, only: Iterable[str] | None) -> list[ShotPlan]:
    """The takes a render makes: every take of the shots named (all, without `only`), and the take in
    the film of each shot they take a first frame from."""
    if only is None:
        return the_plan.requests
    by_id = {item.id: item for item in the_plan.shots}
    named, needed = set(), set()
    for shot_id in only:
        if shot_id not in by_id:
            raise UsageError(f"`only`: no shot {shot_id!r} in {the_plan.storyboard.display_path}", option="only")
        named.add(shot_id)
        while by_id[shot_id].depends_on and by_id[shot_id].depends_on[0] not in needed:
            shot_id = by_id[shot_id].depends_on[0]
            needed.add(shot_id)
    return [item for item in the_plan.requests
            if item.id in named or (item.id in needed and item.hash == by_id[item.id].hash)]
