"""Stage 5: bring every selected shot's clip into the store — concurrently, durably, within budget.

For each shot, the cheapest way that is still correct, in this order:
1. the clip is in the store and matches its checksum: nothing to do;
2. an earlier render submitted it (render state): follow that generation, do not pay again;
3. the shared cache (`cache:`, paid backends) has it: download it, checksum verified;
4. it was generated before (render state or storyboard.lock): download it again, asking the
   service for a fresh URL if the recorded one expired;
5. otherwise claim it in the shared cache (see cache/claims.py: another machine's generation is
   followed instead of paying twice), then submit a new generation. On a paid backend this needs
   the user's consent (`resubmit`) when an earlier create may have reached the service, or when
   a clip that was paid for can no longer be fetched.
Clips made or downloaded are stored in the shared cache afterwards.

Independent shots run concurrently, at most `jobs` generations at once; a shot whose first
frame comes from another waits for it. After a failure no new generation is submitted
unless `keep_going`, but what is in flight is finished. On Ctrl-C (SIGINT/SIGTERM) nothing
new is submitted, creates already on the wire are allowed to answer so their generation id
is recorded, and everything else stops; the next render resumes from the render state.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..backends import Backend
from ..events import Event
from ..planning.plans import Plan, ShotPlan
from ..project.lockfile import Entries, Entry, LockFile, by_request
from ..project.state import InFilm, State
from ..project.store import ClipStore
from .fetching import Pool
from .generator import Generator
from .interrupts import interruptible
from .options import GenerateOptions, Outcome
from .shared import SharedCache, open_shared_cache

__all__ = ["Event", "GenerateOptions", "Generator", "Outcome", "Part", "SharedCache", "generate", "generate_all",
           "open_shared_cache"]


def generate(the_plan: Plan, selected: list[ShotPlan], engine: Backend, store: ClipStore,
             emit: Callable[[Event], None], options: GenerateOptions, shared: SharedCache | None) -> Outcome:
    """Bring the clips of `selected` into the store (see above); afterwards, whatever happened, record
    storyboard.lock and the render state's film."""
    return generate_all([Part(the_plan, selected, emit)], engine, store, options, shared, emit)[0]


@dataclass(frozen=True)
class Part:
    """One plan's share of a generation run with others (the variants of a file): its takes to bring
    into the store, where its events go, and its name (said where it waits for another's request)."""

    plan: Plan
    selected: list[ShotPlan]
    emit: Callable[[Event], None]
    name: str = ""


def generate_all(parts: list[Part], engine: Backend, store: ClipStore, options: GenerateOptions,
                 shared: SharedCache | None, emit: Callable[[Event], None]) -> list[Outcome]:
    """`generate` for several plans at once, as one run: at most `options.jobs` generations at once in
    all, `options.max_cost` for all of them together, and a request several plans have made once, the
    others waiting for it. One outcome per part; each part's spend is what its own creates cost.
    `emit` is told what concerns them all (an interruption)."""
    state = State(store.state_path)
    pool = Pool(options.jobs)
    locks = [LockFile(part.plan.storyboard.root, part.plan.storyboard.records_name) for part in parts]
    generators = [Generator(part.plan, engine, store, state, by_request(lock.entries()), part.emit, options, shared,
                            pool, part.name) for part, lock in zip(parts, locks, strict=True)]
    try:
        return asyncio.run(_together(generators, [part.selected for part in parts], emit))
    finally:
        for part, lock, generator in zip(parts, locks, generators, strict=True):
            the_plan = part.plan
            lock.write(_lock_entries(the_plan, lock.entries(), generator.outcome.locked))
            made = {item.id: InFilm(item.hash, item.body) for item in the_plan.shots
                    if item.footage is None and store.has_clip(engine.name, item.hash)}
            state.record_film(the_plan.storyboard.records_name, engine.name, made, [item.id for item in the_plan.shots])
        state.close()


async def _together(generators: list[Generator], selections: list[list[ShotPlan]],
                    emit: Callable[[Event], None]) -> list[Outcome]:
    for generator, selected in zip(generators, selections, strict=True):
        generator.start(selected)
    with interruptible([generator.run for generator in generators], emit):
        try:  # every variant to its end, even after another's unexpected error: a create on the wire answers
            finished = await asyncio.gather(*(generator.finish() for generator in generators), return_exceptions=True)
        finally:
            await generators[0].run.engine.close()
    for outcome in finished:
        if isinstance(outcome, BaseException):
            raise outcome
    return [outcome for outcome in finished if isinstance(outcome, Outcome)]


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
        drawn = the_plan.still_takes(item.id)
        stills = [replace(known[take.hash], take=take.take if take.takes > 1 else None,
                          film=take.hash == item.first_still) for take in drawn if take.hash in known]
        if stills:
            entries[still_key(item.id)] = stills
    return entries


def still_key(shot_id: str) -> str:
    """The key of a shot's stills in storyboard.lock, beside the shot's own takes."""
    return f"{shot_id}:still"
