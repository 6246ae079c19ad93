"""`Generator`: each selected shot's clip brought into the store (see the package's docstring)."""
from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from ..backends import Backend, Job, Submission, Traced
from ..errors import GenerationFailed, RenderError, ShotFailed, StateError, StoryboardError, SubmissionUnknown
from ..events import Event
from ..files import FileFacts
from ..planning.plans import Plan, ShotPlan
from ..project.lockfile import Entry
from ..project.state import Claim, State
from ..project.store import ClipStore
from . import tracing
from .fetching import Pool, Producer, Run, Sources, quietly, reason_of
from .heartbeat import keep_alive, while_alive
from .options import GenerateOptions, Outcome
from .shared import Held, SharedCache

# Seconds between the tries of recording a create's answer in the render state (a full disk may free up);
# while it cannot be recorded, the generation id is kept in memory and the generation followed all the same.
RECORD_RETRIES = (0.2, 1.0, 3.0)


class _CreateAgain(StoryboardError):
    """The create whose answer was lost never reached the service: it is claimed and sent again."""


class Generator:
    """Every selected shot's clip into the store: concurrently, within budget, paying once per request."""

    def __init__(self, the_plan: Plan, engine: Backend, store: ClipStore, state: State, locked: dict[str, Entry],
                 emit: Callable[[Event], None], options: GenerateOptions, shared: SharedCache | None = None,
                 pool: Pool | None = None, name: str = ""):
        self.run = Run(the_plan, engine, store, state, locked, emit, options, shared, joins=pool)
        self.name = name  # the variant this run generates, when several share a pool
        self.sources = Sources(self.run)
        self._counted: dict[str, float] = {}  # by request hash: what this render counted as spent on its create
        if shared is not None:
            shared.trace = tracing.claim_tracer(self.run)

    @property
    def outcome(self) -> Outcome:
        return self.run.outcome

    # -- the run ------------------------------------------------------------------------------

    def start(self, selected: list[ShotPlan]) -> None:
        """Start a task per take; a request another task of the pool already produces waits for it."""
        for item in selected:  # every take from the start, in film order: progress lists them all at once
            waits = f"waits for a frame of {item.depends_on[0]}" if item.depends_on else ""
            self.run.emit(Event(item.key, "queued", waits))
        producers = self.run.pool.producers
        for item in selected:
            producer = producers.get(item.hash)
            if producer is not None:  # identical requests are generated (and paid for) once
                self.run.tasks[item.key] = asyncio.create_task(self._reported(item, self._share(item, producer)))
            else:
                self.run.tasks[item.key] = task = asyncio.create_task(self._reported(item, self._produce(item)))
                label = f"{self.name}/{item.key}" if self.name else item.key
                producers[item.hash] = Producer(item.key, label, task, self.run)

    async def finish(self) -> Outcome:
        """Wait for every task `start` started; what they did."""
        outcomes = await asyncio.gather(*self.run.tasks.values(), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, ShotFailed):
                (self.run.outcome.skipped if outcome.skipped else self.run.outcome.failed)[outcome.shot_id] = outcome.reason
            elif isinstance(outcome, asyncio.CancelledError):
                self.run.outcome.interrupted = True
            elif isinstance(outcome, BaseException):
                raise outcome
        return self.run.outcome

    # -- one shot --------------------------------------------------------------------------------

    async def _reported(self, item: ShotPlan, work: Awaitable[None]) -> None:
        try:
            await work
        except ShotFailed as failure:  # shown at once: other shots may run for minutes yet
            self.run.emit(Event(item.key, "skipped" if failure.skipped else "failed", failure.reason))
            raise

    async def _produce(self, item: ShotPlan) -> None:
        for upstream in item.depends_on:
            task = self.run.tasks.get(self.run.plan.shot(upstream).key)
            if task is None:
                continue  # footage: nothing to wait for
            try:
                # shielded: a Ctrl-C cancelling this shot must not cancel a create on the wire upstream
                await asyncio.shield(task)
            except ShotFailed as error:
                raise ShotFailed(item.key, f"its first frame comes from shot {upstream!r}, which "
                                          f"{'was not rendered' if error.skipped else 'failed'}", skipped=True) from None
        backend = self.run.engine.name
        clip = self.run.store.clip_path(backend, item.hash, still=item.still)
        record = self.run.state.get(backend, item.hash)
        if item.status == "cached":
            if record is None:
                self.run.state.adopt(backend, item.hash, item.id, model=item.profile.model, seed=item.setting("seed"),
                                 clip=FileFacts.of(clip))
            elif record.clip_sha256 is None:  # moved into place just before a crash: keep what was paid for
                self.run.state.stored(backend, item.hash, FileFacts.of(clip))
            await self.sources.published(item)  # a clip made before the cache was set up, or while it was unreachable
            self.sources.reused(item, "cached", "in the clip store")
            return
        if clip.exists():
            self.run.emit(Event(item.key, "note", "the stored clip is damaged (checksum mismatch); recovering it"))
            clip.unlink()
        lost = ""
        if item.status == "resume" and record is not None and record.generation_id:
            self.run.emit(Event(item.key, "resuming", f"generation {record.generation_id}", generation=record.generation_id))
            if self.run.shared is not None:  # stopped before its claim recorded the generation id: others wait for it
                await quietly(self.run.shared.resumed(item, record.generation_id, record.usd_spent))
            async with self.run.slots:
                await self._follow(item, self.sources.job(item), Submission(record.generation_id, record.usd_spent or None),
                                   record.attempts)
            return
        if await self.sources.from_cache(item):
            return
        if item.status == "download":
            try:
                await self.sources.recover(item, record)
                return
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as error:  # noqa: BLE001 - whatever the reason, only consent pays again
                lost = str(error) or type(error).__name__
        if self.run.engine.paid:
            if lost and item.id not in self.run.options.resubmit:
                raise ShotFailed(item.key, f"its clip was paid for but cannot be fetched again ({lost}); "
                                          f"to pay for a new generation of this shot, render with --resubmit {item.id}")
            if item.status == "unknown" and record is not None and item.id not in self.run.options.resubmit:
                traced = await tracing.look_up(self.run, item, record.client_request_id, record.claimed_at)
                if traced.verdict == "created" and traced.generation_id:
                    await self._follow_traced(item, traced, record.attempts)
                    return
                if traced.verdict == "unknown":
                    why = record.error or "the render stopped before the answer"
                    raise ShotFailed(item.key, f"an earlier create may have reached the service ({why}); "
                                              "if it did, it is billed and its id was never received "
                                              f"({traced.reason}); check your usage on the service, then render "
                                              f"with --resubmit {item.id} to submit it again")
                self.run.emit(Event(item.key, "note", tracing.said(traced)))
                if traced.verdict == "failed":  # billed nothing: a new attempt, with a new idempotency key
                    with contextlib.suppress(StateError):
                        self.run.state.failed(backend, item.hash, traced.reason)
        try:
            await self._create(item)
        except _CreateAgain:
            await self._create(item, again=True)

    async def _follow_traced(self, item: ShotPlan, traced: Traced, attempt: int) -> None:
        """Follow the generation the service's records name for a create of an earlier render whose answer was lost."""
        assert traced.generation_id is not None
        usd = traced.usd_spent or None  # the charge of a video is recorded once it completes: 0 says nothing yet
        try:
            self.run.state.submitted(self.run.engine.name, item.hash, traced.generation_id, usd)
        except StateError as error:  # still claimed: the next render finds it in the log again
            raise self.sources.failed(item, f"{error}; generation {traced.generation_id}, named by the service's "
                                            "usage log, is followed by the next render") from None
        self.run.emit(Event(item.key, "resuming", f"generation {traced.generation_id} (found in the service's usage "
                            "log; its create's answer was lost)", generation=traced.generation_id))
        if self.run.shared is not None:
            await quietly(self.run.shared.resumed(item, traced.generation_id, usd or 0.0))
        async with self.run.slots:
            await self._follow(item, self.sources.job(item), Submission(traced.generation_id, usd), attempt)

    async def _create(self, item: ShotPlan, again: bool = False) -> None:
        """Claim and create `item`'s request, then follow it. `again`: the create before was found never
        to have reached the service; another such finding is left to consent."""
        self._may_submit(item)
        backend = self.run.engine.name
        async with self.run.slots:
            try:  # publishing references costs nothing, so it happens before the claim
                job = await self.run.engine.prepare(self.sources.job(item, await self.sources.first_frame(item)))
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as error:  # noqa: BLE001 - any failure to prepare is this shot's failure; nothing was paid
                raise self.sources.failed(item, reason_of(error)) from None
            self._may_submit(item)
            held = await self.sources.claim_shared(item, job)
            if held is False:
                return  # another machine's generation, followed, or its clip from the cache
            try:
                self._may_submit(item)  # the claim may have taken a while: a failure, Ctrl-C or the budget came first
            except (ShotFailed, asyncio.CancelledError) as stopped:
                if self.run.shared is not None and isinstance(held, Held):  # nothing created: others need not wait for it
                    await quietly(self.run.shared.failed(item, f"released without creating: {stopped or 'interrupted'}"))
                raise
            try:
                claim = self.run.state.claim(backend, item.hash, item.id, item.profile.model, item.setting("seed"),
                                         idempotency_key=held.idempotency_key if isinstance(held, Held) else None)
            except StateError as error:  # nothing was sent: without the claim, a create is never sent
                if self.run.shared is not None and isinstance(held, Held):
                    await quietly(self.run.shared.failed(item, f"released without creating: {error}"))
                raise self.sources.failed(item, f"{error}; nothing was submitted") from None
            reserved = (item.estimated_usd or 0.0) if self.run.engine.paid else 0.0
            self.run.reserved_usd += reserved
            attempt = claim.attempt
            # a claim held in the shared cache is kept alive while the create is tried (429s may last minutes)
            beat = keep_alive(self.run.shared, item, consent=item.id in self.run.options.resubmit)
            job = replace(job, idempotency_key=claim.idempotency_key, client_request_id=claim.client_request_id,
                          before_send=beat.check if beat else None)
            self.run.emit(Event(item.key, "generating", backend, attempt=attempt))
            self.run.creating.add(item.key)
            try:
                submission = await while_alive(beat, self.run.engine.submit(job))
            except SubmissionUnknown as error:
                submission = await self._lost_answer(item, claim, str(error), reserved, again)
            except asyncio.CancelledError:
                self._maybe_billed(item, reserved)
                with contextlib.suppress(StateError):  # the claim left behind says as much
                    self.run.state.unknown(backend, item.hash, "the render was stopped while the create request was on the wire")
                raise
            except Exception as error:  # noqa: BLE001 - any failure fails the shot; its mark says if paying again needs consent
                if isinstance(error, RenderError) or not self.run.engine.paid:  # a definite answer, or nothing to pay
                    if self.run.shared is not None:  # nothing was made: another machine may claim it
                        await quietly(self.run.shared.failed(item, reason_of(error)))
                    raise self.sources.failed(item, reason_of(error), mark="failed") from None
                # unexpected, on a paid backend: the request may have been created
                self._maybe_billed(item, reserved)
                raise self.sources.failed(item, f"{type(error).__name__}: {error}; the generation may have been created, "
                                         f"so it is not retried without --resubmit {item.id}", mark="unknown") from None
            finally:
                self.run.creating.discard(item.key)
                self.run.reserved_usd -= reserved
            reported = submission.usd_spent
            if reported is not None and not 0 <= reported < math.inf:  # a service that lies must not lower the total
                reported = None
            cost = reported if reported is not None else (item.estimated_usd if self.run.engine.paid else 0.0)
            self.run.outcome.usd_spent += cost or 0.0  # paid, whether or not the render state can record it
            self._counted[item.hash] = cost or 0.0
            unrecorded = await self._record_submitted(item, submission.generation_id, reported)
            if self.run.shared is not None:
                await quietly(self.run.shared.submitted(item, submission.generation_id, reported))
            spent = f", {reported:.2f} USD; total {self.run.pool.counted_usd:.2f} USD" if reported else ""
            self.run.emit(Event(item.key, "submitted", f"generation {submission.generation_id}{spent}", usd=reported,
                            total_usd=self.run.pool.counted_usd, attempt=attempt, generation=submission.generation_id,
                            unknown_usd=self.run.pool.unknown_usd or None))
            if unrecorded:
                self.run.emit(Event(item.key, "note", f"generation {submission.generation_id} is paid for but the render "
                                    f"state cannot record it ({unrecorded}); following it all the same",
                                    generation=submission.generation_id))
            if self.run.stopping and self.run.outcome.interrupted:
                if unrecorded:
                    raise self._unrecorded(item, submission.generation_id, unrecorded)
                raise asyncio.CancelledError  # recorded: the next render follows it
            await self._follow(item, job, submission, attempt, (unrecorded, reported) if unrecorded else None)

    def _not_billed(self, item: ShotPlan, submission: Submission) -> float:
        """A generation that failed is billed nothing: what this render counted for its create comes off
        its spend (and so off every budget); returns what its create reported charging, for the render
        state to take off."""
        reported = submission.usd_spent if submission.usd_spent is not None and 0 <= submission.usd_spent < math.inf \
            else None
        counted = self._counted.pop(item.hash, 0.0)  # a generation resumed from an earlier render counted there
        if counted:
            self.run.outcome.usd_spent = max(0.0, self.run.outcome.usd_spent - counted)
            self.run.emit(Event(item.key, "note", f"the generation failed, so it is not billed: {counted:.2f} USD "
                                f"taken off (total {self.run.pool.counted_usd:.2f} USD)",
                                total_usd=self.run.pool.counted_usd))
        return reported or 0.0
    async def _lost_answer(self, item: ShotPlan, claim: Claim, error: str, reserved: float, again: bool) -> Submission:
        """The submission of a create whose answer was lost, as the service's records tell it; raises
        the shot's failure when they cannot tell (consent pays again), or _CreateAgain."""
        self.run.creating.discard(item.key)  # nothing is on the wire any more: Ctrl-C may stop the look-up
        traced = await tracing.look_up(self.run, item, claim.client_request_id, claim.claimed_at)
        if traced.verdict == "created" and traced.generation_id and item.still:
            self._maybe_billed(item, reserved)  # an image is made in the answer itself: nothing to follow
            raise self.sources.failed(item, f"{error}; the service made and billed this still (its usage log lists "
                                      f"{traced.generation_id}), but its picture came only in the answer that "
                                      "was lost", mark="unknown") from None
        if traced.verdict == "created" and traced.generation_id:
            self.run.emit(Event(item.key, "note", tracing.said(traced), generation=traced.generation_id))
            return Submission(traced.generation_id, traced.usd_spent or None)
        if traced.verdict == "failed":
            if self.run.shared is not None:
                await quietly(self.run.shared.failed(item, traced.reason))
            raise self.sources.failed(item, f"{error}; {traced.reason}; the next render creates it again",
                                      mark="failed") from None
        if traced.verdict == "absent" and not again:
            self.run.emit(Event(item.key, "note", tracing.said(traced)))
            raise _CreateAgain
        self._maybe_billed(item, reserved)
        raise self.sources.failed(item, f"{error} ({traced.reason})", mark="unknown") from None

    def _maybe_billed(self, item: ShotPlan, estimate: float) -> None:
        """A create whose answer never came may have been billed: it counts against every budget (this
        render's `max_cost`, a watch session's) at its estimate, said in an event's total."""
        if not estimate:
            return
        self.run.outcome.usd_unknown += estimate
        self.run.emit(Event(item.key, "note", f"the create's outcome is unknown: about {estimate:.2f} USD counted as "
                            f"spent (total {self.run.pool.counted_usd:.2f} USD)", total_usd=self.run.pool.counted_usd,
                            unknown_usd=self.run.pool.unknown_usd))

    async def _record_submitted(self, item: ShotPlan, generation_id: str, reported: float | None) -> str | None:
        """Record a create's answer in the render state, trying again while the write fails (a full disk
        may free up): None once recorded, else why it cannot be (the generation id is then only in memory)."""
        for delay in (*RECORD_RETRIES, None):
            try:
                self.run.state.submitted(self.run.engine.name, item.hash, generation_id, reported)
                return None
            except (StateError, sqlite3.DatabaseError, OSError) as error:
                if delay is None:
                    return reason_of(error)
                await asyncio.sleep(delay)
        return None  # not reached

    def _unrecorded(self, item: ShotPlan, generation_id: str, why: str) -> ShotFailed:
        """The failure of a shot whose paid generation the render state could not record: its id said, and how to recover."""
        return self.sources.failed(
            item, f"generation {generation_id} was created and is billed, but the render state could not record it "
                  f"({why}), so the next render cannot follow it; note generation {generation_id} and check it on the "
                  f"service; once the render state can be written, render with --resubmit {item.id}: the create is "
                  f"sent again with the same idempotency key, so a service that honours it answers with generation "
                  f"{generation_id} instead of billing another", mark="unknown")

    async def _follow(self, item: ShotPlan, job: Job, submission: Submission, attempt: int,
                      unrecorded: tuple[str, float | None] | None = None) -> None:
        """Poll the generation to its end, then fetch its clip. `unrecorded`: why the render state could
        not record its id (and the cost the create reported), the id then only in memory: recording it
        is tried again once the generation ends."""
        backend = self.run.engine.name
        started = time.monotonic()
        try:
            location = await self.run.engine.wait(job, submission)
        except GenerationFailed as error:
            if self.run.shared is not None:
                await quietly(self.run.shared.failed(item, str(error)))
            refunded = self._not_billed(item, submission)
            raise self.sources.failed(item, str(error), mark="failed", refunded=refunded) from None
        except SubmissionUnknown as error:
            raise self.sources.failed(item, str(error), mark="unknown", advice="check the generation on the service, "
                               f"then render with --resubmit {item.id} to submit it again") from None
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - the generation may still complete: it stays `submitted`, resumable
            if unrecorded:
                raise self._unrecorded(item, submission.generation_id, f"{unrecorded[0]}; then {reason_of(error)}") from None
            resumes = f" (the next render resumes generation {submission.generation_id})" if self.run.engine.paid else ""
            raise self.sources.failed(item, f"{reason_of(error)}{resumes}") from None
        if unrecorded and (why := await self._record_submitted(item, submission.generation_id, unrecorded[1])):
            raise self._unrecorded(item, submission.generation_id, why)
        try:
            self.run.state.completed(backend, item.hash, location)
        except StateError as error:  # it stays `submitted`: the next render polls it again
            raise self.sources.failed(item, f"{error} (the next render resumes generation {submission.generation_id})") from None
        try:
            await self.sources.fetch(item, location, submission.generation_id, job)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - the shot fails but stays `completed`: the next render downloads again
            kept = "the generation is paid for and recorded; the next render downloads it again" if self.run.engine.paid else ""
            raise self.sources.failed(item, reason_of(error), advice=kept) from None
        self.run.outcome.generated.append(item.key)
        self.run.emit(Event(item.key, "done", f"{time.monotonic() - started:.1f} s", attempt=attempt,
                        generation=submission.generation_id))

    async def _share(self, item: ShotPlan, producer: Producer) -> None:
        while True:
            name = producer.key if producer.run is self.run else producer.label
            try:
                await asyncio.shield(producer.task)  # see _produce
            except ShotFailed as error:
                if not (error.skipped and producer.run.stopping and not self.run.stopping):
                    why = f" ({error.reason})" if producer.run is not self.run else ""  # said under the other variant
                    raise ShotFailed(item.key, f"it is the same request as shot {name!r}, which "
                                              f"{'was not rendered' if error.skipped else 'failed'}{why}",
                                     skipped=True) from None
                # another variant stopped before sending it, so nothing was paid: the first to see it makes it
                producers = self.run.pool.producers
                if producers[item.hash] is producer:
                    task = asyncio.current_task()
                    assert task is not None
                    producers[item.hash] = Producer(item.key, f"{self.name}/{item.key}" if self.name else item.key,
                                                    task, self.run)
                    await self._produce(item)
                    return
                producer = producers[item.hash]
                continue
            self.sources.reused(item, "cached", f"same request as shot {name!r}")
            return

    def _may_submit(self, item: ShotPlan) -> None:
        if self.run.outcome.interrupted:
            raise asyncio.CancelledError
        if self.run.stopping:
            failed = ", ".join(repr(shot_id) for shot_id in self.run.first_failures) or "another shot"
            raise ShotFailed(item.key, f"not submitted: {failed} failed first (`keep_going` renders the rest)", skipped=True)
        if self.run.options.max_cost is not None and self.run.engine.paid:
            estimate = item.estimated_usd
            if estimate is None:
                raise ShotFailed(item.key, "not submitted: a budget is set and the model profile gives no price", skipped=True)
            # creates on the wire count too, and those whose answer never came, at their estimate
            committed = self.run.pool.committed_usd
            if committed + estimate > self.run.options.max_cost + 1e-9:
                raise ShotFailed(item.key, f"not submitted: about {estimate:.2f} USD more would pass the budget of "
                                          f"{self.run.options.max_cost:.2f} USD ({committed:.2f} USD spent"
                                          f"{self._of_unknown()})", skipped=True)

    def _of_unknown(self) -> str:
        unknown = self.run.pool.unknown_usd
        return f", of which {unknown:.2f} USD by creates of unknown outcome" if unknown else ""

