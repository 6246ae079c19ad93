"""The front door for files with `variants:`: every variant loaded, planned and rendered as one set.

    boards = storyboard.load_variants("ad.yaml", select=["product=shoes"], shard=(1, 3))
    the_plan = storyboard.plan_variants(boards)      # per variant, and the requests they share
    result = storyboard.render_variants(boards)     # each distinct request once; every film

A request several variants use is one content hash: it is generated once, the other variants
waiting for it (between machines, the shared cache's claims do the same). Every variant's shots are
generated in one concurrent run (stills first, then videos), so a campaign takes about as long as
its distinct requests, not as its variants one after another. The films are then assembled side by
side in a pool, sharing the segment cache, at most one ffmpeg per core (see assembling/encode.py). A
variant that fails leaves the others' films; rendering again makes only what is missing.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .api import RenderResult, Source, Spend, _approve_spend, _consent, _engine_and_store
from .errors import RenderError, StoryboardError, UsageError
from .events import Event
from .messages import suggest
from .model import Storyboard

if TYPE_CHECKING:
    from .api import _Work
    from .backends import Backend
    from .loading.prices import PriceList
    from .planning.plans import ShotPlan
    from .planning.variants import VariantsPlan

Shard = tuple[int, int]  # (K, N): the K-th of N slices, K from 1
PICK_PER_VARIANT = ("; to pick a take for each variant, give the variants a value for it (a column of `rows:`, "
                    "`hero_take`) and write `take: \"{{ variant.hero_take }}\"`")


def load_variants(source: Source | Sequence[Storyboard], select: Iterable[str] | None = None,
                  shard: Shard | None = None) -> list[Storyboard]:
    """Every variant of a file (a file without `variants:` is its one storyboard), or those `select`
    names: a variant's name (`shoes-en`) or `key=value` (`product=shoes`); values given for one key are
    alternatives, different keys must all match, names add their variants. `shard=(K, N)` keeps the
    K-th of N slices: the variant at place i in the file (from 0) is in slice i mod N + 1, so a
    variant keeps its slice when variants are added at the end. Raises InvalidStoryboard, UsageError."""
    from .loading import load_variants as load_file

    if isinstance(source, Storyboard):
        boards = [source]
    elif isinstance(source, (str, os.PathLike)):
        boards = load_file(source)
    else:
        boards = list(source)
    chosen = _selected(boards, list(select or ()))
    if shard is not None:
        number, count = shard
        if not (isinstance(number, int) and isinstance(count, int) and 1 <= number <= count):
            raise UsageError(f"`shard`: {number}/{count} is not a slice; K/N with 1 <= K <= N, e.g. 1/3", option="shard")
        chosen = [board for board in chosen if _place(board, boards) % count == number - 1]
    return chosen


def _place(board: Storyboard, boards: list[Storyboard]) -> int:
    return board.variant.index if board.variant else boards.index(board)


def _selected(boards: list[Storyboard], select: list[str]) -> list[Storyboard]:
    if not select:
        return boards
    if boards[0].variant is None:
        raise UsageError(f"`variant`: {boards[0].display_path} has no variants: section", option="variant")
    names = {board.variant.name for board in boards if board.variant}
    keys = {key for board in boards if board.variant for key in board.variant.values}
    wanted_names: set[str] = set()
    wanted_values: dict[str, set[str]] = {}
    for text in select:
        if "=" in text:
            key, value = (part.strip() for part in text.split("=", 1))
            if key not in keys:
                raise UsageError(f"`variant`: no key {key!r} in the variants{suggest(key, sorted(keys))}; "
                                 f"they have {', '.join(sorted(keys))}", option="variant")
            wanted_values.setdefault(key, set()).add(value)
        elif text in names:
            wanted_names.add(text)
        else:
            shown = ", ".join(sorted(names)[:10]) + (" ..." if len(names) > 10 else "")
            raise UsageError(f"`variant`: no variant {text!r}{suggest(text, sorted(names))}; the variants are {shown}",
                             option="variant")

    def chosen(board: Storyboard) -> bool:
        assert board.variant is not None
        if board.variant.name in wanted_names:
            return True
        return bool(wanted_values) and all(_text(board.variant.values.get(key)) in values
                                           for key, values in wanted_values.items())

    found = [board for board in boards if chosen(board)]
    if not found:
        raise UsageError(f"`variant`: no variant has {', '.join(select)}", option="variant")
    return found


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def plan_variants(boards: Sequence[Storyboard], backend: str | Backend | None = None) -> VariantsPlan:
    """Each variant's plan (as `plan` makes it) and what they share: the distinct requests, the cost of
    each once against rendering every variant alone. Sends nothing."""
    from .api import _chosen
    from .backends import plan_for
    from .planning.variants import VariantsPlan

    if not boards:
        return VariantsPlan([])
    chosen = _chosen(boards[0], backend)
    prices = _prices(boards, chosen)
    return VariantsPlan([plan_for(board, chosen, prices[_models(board)]) for board in boards])


@dataclass
class VariantsResult:
    """What rendering a set of variants did: each variant's result (by name), the variants that failed
    and why, the distinct requests generated and reused, what was spent."""

    results: dict[str, RenderResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    generated: list[str] = field(default_factory=list)  # request hashes
    reused: list[str] = field(default_factory=list)  # request hashes
    usd_spent: float = 0.0

    @property
    def films(self) -> dict[str, Path]:
        return {name: result.film for name, result in self.results.items() if result.film is not None}


def render_variants(
    boards: Sequence[Storyboard], *, backend: str | Backend | None = None, jobs: int | None = None,
    only: Iterable[str] | None = None, keep_going: bool = False, resubmit: bool | Iterable[str] = False,
    max_cost: float | None = None, takes: int | None = None, confirm: Callable[[Spend], bool] | None = None,
    on_event: Callable[[Event], None] | None = None, stills: bool = False,
) -> VariantsResult:
    """Generate the missing clips of every variant, each distinct request once, and assemble each
    variant's film. All the variants' generations run as one: `jobs` at once in all, a request several
    variants have made once. `max_cost` (default: the file's render.max_cost) caps the whole set;
    `confirm` is asked once, for the whole set. A variant that fails does not stop the others: its
    error is in `failed`, and VariantsFailed (a RenderError) is raised at the end naming the failed
    variants, once every other film is written. The other options are `render`'s."""
    from .api import _generate, _work
    from .assembling.film import assemble_film
    from .backends import check_backend
    from .cache.settings import shared_settings
    from .files import remove_leftovers
    from .generating import GenerateOptions, open_shared_cache
    from .media import check_tools
    from .planning.inventory import check_holds, stock
    from .planning.stills import pick_advice
    from .project.lock import project_lock

    if not boards:
        raise UsageError("no variants to render")
    boards = [board.with_takes(takes) if takes is not None else board for board in boards]
    emit = on_event or (lambda event: None)
    first = boards[0]
    engine, store = _engine_and_store(first, backend, emit)
    outcome = VariantsResult()
    with project_lock(store.root, lambda waiting: emit(Event(None, "note", waiting))):
        store.remove_leftovers()
        for board in boards:
            remove_leftovers(board.output.path)
        prices = _prices(boards, engine)
        works = [_work(stock(board, engine.name, paid=engine.paid, prices=prices[_models(board)]), only, stills,
                       _told(_name(board), emit), _name(board)) for board in boards]
        for work in works:
            check_holds(work.plan)
            check_backend(work.plan, engine, work.drawing + work.videos)
        consent = frozenset().union(*(_consent(work.plan, resubmit) for work in works))
        shared = open_shared_cache(shared_settings(first.cache), engine, store, emit)
        check_tools()
        budget = max_cost if max_cost is not None else first.render.max_cost
        if engine.paid:
            _approve_spend([item for work in works for item in work.drawing + work.videos], budget, consent, confirm,
                           engine.where)
        options = GenerateOptions(jobs=jobs or first.render.jobs or engine.default_jobs, keep_going=keep_going,
                                  resubmit=consent, max_cost=budget if engine.paid else None)
        generated = _generate(works, engine, store, options, shared, emit)
        made, found = _hashes(works, [done.generated for done in generated]), _hashes(works, [done.reused for done in generated])
        outcome.generated = [item.hash for item in _distinct(works) if item.hash in made]
        outcome.reused = [item.hash for item in _distinct(works) if item.hash in found - made]
        outcome.usd_spent = sum(done.usd_spent for done in generated)
        if any(done.interrupted for done in generated):
            raise KeyboardInterrupt
        cores = os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=max(1, min(len(boards), cores)), thread_name_prefix="film") as films:
            assembling: dict[str, Future[Path | None]] = {}
            for work, done in zip(works, generated, strict=True):
                in_order = [item.key for item in work.plan.stills + work.plan.requests]
                outcome.results[work.name] = RenderResult(
                    plan=work.plan, film=None, usd_spent=done.usd_spent,
                    generated=[key for key in in_order if key in set(done.generated)],
                    reused=[key for key in in_order if key in set(done.reused)])
                if done.failed or done.skipped or work.waiting:
                    reasons = [f"shot {key!r} failed: {reason}" for key, reason in done.failed.items()]
                    reasons += [f"shot {key!r} was not rendered: {reason}" for key, reason in done.skipped.items()]
                    reasons += [pick_advice(work.plan.storyboard, work.waiting) + PICK_PER_VARIANT] if work.waiting else []
                    outcome.failed[work.name] = "; ".join(reasons)
                elif not stills:
                    assembling[work.name] = films.submit(assemble_film, work.plan, store, engine.name, work.emit,
                                                         paid=engine.paid)
            for name, film in assembling.items():
                try:
                    outcome.results[name].film = film.result()
                except StoryboardError as error:
                    outcome.failed[name] = str(error)
    if outcome.failed:
        alike: dict[str, list[str]] = {}  # a reason several variants share (a pick to make, a refusal) said once
        for name, reason in outcome.failed.items():
            alike.setdefault(reason, []).append(name)
        lines = [f"variant{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}: {reason}"
                 for reason, names in alike.items()]
        written = len(outcome.films)
        raise VariantsFailed("\n".join(lines) + f"\n{written} other film{'' if written == 1 else 's'} written; "
                             "rendering again makes only what is missing", outcome)
    return outcome


def _name(board: Storyboard) -> str:
    return board.variant.name if board.variant else board.file.name


def _models(board: Storyboard) -> frozenset[str]:
    from .backends import generating_models

    return frozenset(generating_models(board))


def _prices(boards: Sequence[Storyboard], engine: str | Backend) -> dict[frozenset[str], PriceList]:
    """The price list of each set of models the variants use, the service asked once per set, not per variant."""
    from .backends import prices_for

    found: dict[frozenset[str], PriceList] = {}
    for board in boards:
        if _models(board) not in found:
            found[_models(board)] = prices_for(board, engine)
    return found


def _hashes(works: list[_Work], keys: list[list[str]]) -> set[str]:
    """The request hashes of each work's takes named in `keys` (by key: `shot`, `shot#2`)."""
    return {item.hash for work, named in zip(works, keys, strict=True)
            for item in work.plan.stills + work.plan.requests if item.key in set(named)}


def _distinct(works: list[_Work]) -> list[ShotPlan]:
    """Every request of the works once, stills first, in the variants' order."""
    seen: dict[str, ShotPlan] = {}
    for item in [item for work in works for item in work.drawing] + [item for work in works for item in work.videos]:
        seen.setdefault(item.hash, item)
    return list(seen.values())


class VariantsFailed(RenderError):
    """Some variants failed; `result` holds what the others made."""

    def __init__(self, message: str, result: VariantsResult):
        super().__init__(message)
        self.result = result


def _told(name: str, emit: Callable[[Event], None]) -> Callable[[Event], None]:
    """A variant's events, its name before the shot's (or alone, for the film's)."""
    return lambda event: emit(replace(event, shot=f"{name}/{event.shot}" if event.shot else name))

