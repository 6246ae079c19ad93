"""The ways a clip reaches the store without a new create of this render: the shared cache, another
machine's generation followed, a download of a clip generated before; and what every shot's end
shares (the render state's marks, storyboard.lock's entries). `Generator` (generator.py) asks `Sources`
first, then pays; both work on one `Run`."""
from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..backends import Backend, Job, Submission
from ..cache.claims import Claim
from ..cache.clip_record import CachedClip
from ..errors import GenerationFailed, LinkExpired, ShotFailed, StateError, SubmissionUnknown
from ..events import Event
from ..files import FileFacts
from ..media import extract_frame
from ..messages import describe_os_error
from ..model import FrameOf, Reference
from ..planning.plans import Plan, ShotPlan
from ..planning.request import frame_time
from ..project.lockfile import Entry
from ..project.state import Record, State
from ..project.store import ClipStore
from .options import GenerateOptions, Outcome
from .shared import CLIP_WAIT, Held, Off, SharedCache

if TYPE_CHECKING:
    from PIL import Image

URL_REFRESHES = 2  # fresh result URLs asked of the service for one download before the shot fails
FailureMark = Literal["failed", "unknown"]  # the RecordStatus a failed shot's request is left in, when not as it was


@dataclass
class Run:
    """What every step of one render's generation shares: the plan, the backend, the records, the
    options, and how the run stands (what it spent and reserved, whether it is stopping)."""

    plan: Plan
    engine: Backend
    store: ClipStore
    state: State
    locked: dict[str, Entry]  # storyboard.lock's entries by request hash
    emit: Callable[[Event], None]
    options: GenerateOptions
    shared: SharedCache | None = None  # the cache shared with other machines (paid backends)
    outcome: Outcome = field(default_factory=Outcome)
    stopping: bool = False  # no new creates: a shot failed (without keep_going), or Ctrl-C
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    creating: set[str] = field(default_factory=set)  # shots whose create request is on the wire
    first_failures: list[str] = field(default_factory=list)
    reserved_usd: float = 0.0  # estimates of creates sent but not yet answered
    joins: Pool | None = None  # the runs it is generated together with (the variants of a file), if any
    pool: Pool = field(init=False)
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.pool = self.joins if self.joins is not None else Pool(self.options.jobs)
        self.pool.runs.append(self)
        self.slots = self.pool.slots


@dataclass
class Pool:
    """What runs generated together share (one run per variant of a file): `jobs` generations at once
    in all, one budget (`max_cost` of their options counts every run's spend), and one task producing
    each request, which the other runs that need it wait for."""

    jobs: int
    runs: list[Run] = field(default_factory=list)
    producers: dict[str, Producer] = field(default_factory=dict)  # by request hash
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.jobs)

    @property
    def counted_usd(self) -> float:
        """What counts against the budget: every run's spend and creates of unknown outcome."""
        return sum(run.outcome.usd_counted for run in self.runs)

    @property
    def unknown_usd(self) -> float:
        return sum(run.outcome.usd_unknown for run in self.runs)

    @property
    def committed_usd(self) -> float:
        """The counted spend and the estimates of creates on the wire."""
        return self.counted_usd + sum(run.reserved_usd for run in self.runs)


@dataclass(frozen=True)
class Producer:
    """The task bringing a request's clip into the store, and how to name it to another run."""

    key: str  # the shot (take) it is, in its own run
    label: str  # `key`, prefixed by the run's variant when several runs share the pool
    task: asyncio.Task[None]
    run: Run


class Sources:
    """The ways a clip reaches the store without a new create, and what every shot's end shares."""

    def __init__(self, run: Run):
        self.run = run

    async def recover(self, item: ShotPlan, record: Record | None) -> None:
        """Download a clip generated before, from the render state or storyboard.lock."""
        backend = self.run.engine.name
        entry = self.run.locked.get(item.hash)
        expected_sha = None
        if record is None or not record.video_url:
            assert entry is not None
            self.run.state.adopt(backend, item.hash, item.id, model=entry.model, seed=entry.seed,
                             generation_id=entry.generation, video_url=entry.video_url, usd_spent=entry.usd or 0.0)
            record = self.run.state.get(backend, item.hash)
            assert record is not None
            expected_sha = entry.clip_sha256
        self.run.emit(Event(item.key, "downloading", f"generation {record.generation_id or '?'}",
                            generation=record.generation_id))
        async with self.run.slots:
            await self.fetch(item, record.video_url, record.generation_id)
        facts = self.run.state.get(backend, item.hash)
        if expected_sha and facts is not None and facts.clip_sha256 != expected_sha:
            self.run.emit(Event(item.key, "note", "the downloaded clip differs from the one storyboard.lock records"))
        self.reused(item, "downloaded", f"generation {record.generation_id}")

    async def fetch(self, item: ShotPlan, location: str | None, generation_id: str | None, job: Job | None = None) -> None:
        """Bring the clip into the store; while its URL no longer serves it, ask the service for a
        fresh one (a few times) before giving up."""
        destination = self.run.store.clip_path(self.run.engine.name, item.hash, still=item.still)
        for refresh in range(URL_REFRESHES + 1):
            try:
                if not location:
                    raise LinkExpired("no video URL was recorded")
                with self.run.store.writing(destination) as temporary:
                    await self.run.engine.fetch(location, temporary,
                                                report=lambda message: self.run.emit(Event(item.key, "note", message)))
                break
            except LinkExpired:
                if not generation_id or refresh == URL_REFRESHES:
                    raise
                location = await self.run.engine.wait(job or self.job(item), Submission(generation_id))
                self.run.state.completed(self.run.engine.name, item.hash, location)
        self.run.state.stored(self.run.engine.name, item.hash, await asyncio.to_thread(FileFacts.of, destination))
        self.lock_entry(item)
        await self.published(item)

    # -- the shared cache ---------------------------------------------------------------------------

    async def from_cache(self, item: ShotPlan) -> bool:
        """The clip from the shared cache, if it has it: nothing is paid, nothing asked of the service."""
        if self.run.shared is None:
            return False
        try:
            cached = await self.run.shared.fetch(item, self.run.store)
        except Off:
            return False
        if cached is None:
            return False
        backend = self.run.engine.name
        clip = self.run.store.clip_path(backend, item.hash, still=item.still)
        self.run.state.adopt(backend, item.hash, item.id, model=item.profile.model, seed=item.setting("seed"),
                         generation_id=cached.generation, video_url=cached.video_url, usd_spent=cached.usd,
                         clip=await asyncio.to_thread(FileFacts.of, clip))
        self.run.state.shared_in(backend, item.hash, self.run.shared.where)
        made = f"generation {cached.generation}, " if cached.generation else ""
        self.reused(item, "downloaded", f"from the shared cache: {made}stored by {cached.stored_by}")
        return True

    async def claim_shared(self, item: ShotPlan, job: Job, cannot_follow: str | None = None) -> Held | bool:
        """Claim the request in the shared cache before creating it: the claim held (True without a
        cache, or once it cannot be used), or False when the clip came another way (another machine's
        generation followed, or its clip from the cache). `cannot_follow`: a generation this key may
        not poll, whose claim the user consented to take over."""
        if self.run.shared is None:
            return True
        record = self.run.state.get(self.run.engine.name, item.hash)
        try:
            found = await self.run.shared.claim(item, record, consent=item.id in self.run.options.resubmit,
                                                cannot_follow=cannot_follow)
        except Off:
            return True
        if found is None:  # the bucket's claims cannot be trusted (said once): create without one
            return True
        if isinstance(found, Held):
            return found
        if isinstance(found, CachedClip):
            if await self.from_cache(item):
                return False
            raise self.failed(item, "the shared cache's clip of this request cannot be used (see the note above)")
        assert found.claim is not None and found.claim.generation is not None
        if await self.follow_other(item, job, found.claim.generation, found.claim):
            return False
        return await self.claim_shared(item, job, cannot_follow=found.claim.generation)

    async def follow_other(self, item: ShotPlan, job: Job, generation_id: str, claim: Claim) -> bool:
        """Follow a generation another machine created (polled with this machine's key), then fetch its
        clip: True. Where this key may not follow it (made with another key or account), its clip is
        waited for in the shared cache while its claim may still bring it; False instead when the user
        consented (`--resubmit`) to create the request anew with this key."""
        assert self.run.shared is not None
        backend = self.run.engine.name
        self.run.state.adopt(backend, item.hash, item.id, model=item.profile.model, seed=item.setting("seed"),
                         generation_id=generation_id, usd_spent=claim.usd or 0.0)  # a crash resumes it, paying nothing
        self.run.emit(Event(item.key, "following", f"generation {generation_id} of {claim.who}", generation=generation_id))
        try:
            location = await self.run.engine.wait(job, Submission(generation_id))
        except GenerationFailed as error:
            await quietly(self.run.shared.failed(item, str(error), claim))
            raise self.failed(item, f"{error} (created by {claim.who}); the next render creates the request again",
                               mark="failed") from None
        except SubmissionUnknown as error:
            if await self._clip_of_unfollowable(item, generation_id, claim, str(error)):
                return True
            if item.id in self.run.options.resubmit:
                return False
            raise self.failed(item, f"generation {generation_id} of {claim.who} cannot be followed with this machine's "
                                    f"API key ({error}): it was probably made with another key or account, and its clip "
                                    f"is not in the shared cache; once {claim.who} finishes rendering it, its clip is "
                                    f"there for the next render; to create it anew with this key (billed again), render "
                                    f"with --resubmit {item.id}", mark="failed") from None
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - it may still complete: the next render follows it again
            raise self.failed(item, f"{reason_of(error)} (the next render follows generation {generation_id} again)") from None
        self.run.state.completed(backend, item.hash, location)
        try:
            await self.fetch(item, location, generation_id, job)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - stays `completed`: the next render downloads it again
            raise self.failed(item, reason_of(error)) from None
        self.reused(item, "downloaded", f"followed generation {generation_id} of {claim.who}")
        return True

    async def _clip_of_unfollowable(self, item: ShotPlan, generation_id: str, claim: Claim, why: str) -> bool:
        """The clip of a generation this key may not poll, from the shared cache, waited for only while its
        claim may still bring it (written less than CLIP_WAIT ago: its owner is following it), and not at all
        with `--resubmit`: True once it is in the store."""
        assert self.run.shared is not None
        consent = item.id in self.run.options.resubmit
        wait = 0.0 if consent else max(0.0, CLIP_WAIT - claim.age)
        instead = (f"creating the request anew with this key (--resubmit {item.id})" if consent else
                   f"waiting up to {wait / 60:.0f} min for its clip in the shared cache (or render with --resubmit "
                   f"{item.id} to create it anew with this key)" if wait else "its claim is too old to bring it")
        self.run.emit(Event(item.key, "note", f"generation {generation_id} of {claim.who} cannot be followed with this "
                                              f"machine's API key ({why}); {instead}"))
        try:
            cached = await self.run.shared.wait_for_clip(item, wait)
        except Off:
            cached = None
        return cached is not None and await self.from_cache(item)

    async def published(self, item: ShotPlan) -> None:
        """Store the clip in the shared cache, once (the render state remembers it is there)."""
        if self.run.shared is None:
            return
        record = self.run.state.get(self.run.engine.name, item.hash)
        if record is None or record.clip_sha256 is None or record.shared == self.run.shared.where:
            return
        try:
            stored = self.run.store.clip_path(self.run.engine.name, item.hash, still=item.still)
            if not await self.run.shared.publish(item, stored, record):
                return
        except Off:
            return
        self.run.state.shared_in(self.run.engine.name, item.hash, self.run.shared.where)

    # -- helpers ---------------------------------------------------------------------------------

    def reused(self, item: ShotPlan, how: Literal["cached", "downloaded"], message: str) -> None:
        self.lock_entry(item)
        self.run.outcome.reused.append(item.key)
        self.run.emit(Event(item.key, "cached" if how == "cached" else "done", message))

    def lock_entry(self, item: ShotPlan) -> None:
        """What storyboard.lock says of a shot: only paid clips, the ones worth sharing."""
        record = self.run.state.get(self.run.engine.name, item.hash)
        if record is None or not self.run.engine.paid:
            return
        self.run.outcome.locked[item.hash] = Entry(  # numbered and marked as the film's by the render (generating.generate)
            request=item.hash, backend=self.run.engine.name, model=record.model, seed=record.seed,
            generation=record.generation_id, video_url=record.video_url, clip_sha256=record.clip_sha256,
            usd=round(record.usd_spent, 6), estimated_usd=item.estimated_usd)

    def job(self, item: ShotPlan, first_frame: Path | None = None) -> Job:
        return Job(item, first_frame, report=lambda message: self.run.emit(Event(item.key, "note", message)))

    def failed(self, item: ShotPlan, reason: str, *, mark: FailureMark | None = None, advice: str = "",
               refunded: float = 0.0) -> ShotFailed:
        """The one path of a shot that failed: its request is marked `failed` or `unknown` (with
        `reason`) in the render state when asked, new submissions stop (unless keep-going), and
        the error to raise, with `advice` for the user. `refunded`: the charge of a generation that
        failed, which is not billed."""
        try:
            if mark == "failed":
                self.run.state.failed(self.run.engine.name, item.hash, reason, refunded)
            elif mark == "unknown":
                self.run.state.unknown(self.run.engine.name, item.hash, reason)
        except StateError as error:  # the shot fails all the same, saying why its mark is missing
            reason = f"{reason} ({error})"
        self.run.first_failures.append(item.key)
        if not self.run.options.keep_going:
            self.run.stopping = True
        return ShotFailed(item.key, f"{reason}; {advice}" if advice else reason)

    async def first_frame(self, item: ShotPlan) -> Path | None:
        frame = item.shot.first_frame
        if isinstance(frame, Reference):
            return frame.path  # a URL first frame stays in the body as it is
        if item.first_still is not None:  # the shot's picked still, drawn before its video (see api.render)
            still = self.run.store.clip_path(self.run.engine.name, item.first_still, still=True)
            if not still.is_file():
                raise self.failed(item, "its picked still is not drawn yet; render its stills first (`render --stills`)")
            return still
        if not isinstance(frame, FrameOf):
            return None
        upstream = self.run.plan.shot(frame.shot)
        clip = upstream.footage or self.run.store.clip_path(self.run.engine.name, upstream.hash)
        record = self.run.state.get(self.run.engine.name, upstream.hash)
        clip_sha = record.clip_sha256 if record and record.clip_sha256 else (await asyncio.to_thread(FileFacts.of, clip)).sha256
        at = frame_time(upstream.shot, frame.at)
        destination = self.run.store.frame_path(clip_sha, at)  # named by the clip it comes from, whatever made it
        if destination.is_file():
            return destination
        shared = self.run.shared if upstream.footage is None else None
        image = await asyncio.to_thread(extract_frame, clip, at)  # what the clip shows: a cached frame must agree
        try:
            cached = await shared.fetch_frame(upstream.hash, clip_sha, at) if shared is not None else None
        except Off:
            shared = cached = None
        if cached is not None:
            if await asyncio.to_thread(_same_picture, cached, image):
                with self.run.store.writing(destination) as temporary:
                    temporary.write_bytes(cached)
                return destination
            self.run.emit(Event(item.key, "note", f"the shared cache's first frame (shot {upstream.id!r} at {at}) is not "
                                                  "the picture its clip shows there; not used: taken from the clip"))
        await asyncio.to_thread(_save_frame, image, destination, self.run.store)
        if shared is not None:
            await quietly(shared.put_frame(upstream.hash, clip_sha, at, destination))
        return destination


async def quietly(step: Awaitable[None]) -> None:
    """A step of the shared cache that the render does without when the cache cannot be used."""
    with contextlib.suppress(Off):
        await step


def reason_of(error: BaseException) -> str:
    if isinstance(error, OSError):
        return describe_os_error(error)
    return str(error) or type(error).__name__


def _save_frame(image: Image.Image, destination: Path, store: ClipStore) -> None:
    with store.writing(destination) as temporary:
        image.save(temporary, format="PNG")


FRAME_TOLERANCE = 8  # the largest difference of a pixel's channel between two decodes of the same frame (other builds)


def _same_picture(data: bytes, image: Image.Image) -> bool:
    """True if the image file `data` shows `image` (as another machine's decoder may have drawn it)."""
    from PIL import Image, ImageChops

    try:
        with Image.open(io.BytesIO(data)) as opened:
            other = opened.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return False
    if other.size != image.size:
        return False
    difference = ImageChops.difference(other, image.convert("RGB"))
    return difference.point(lambda value: 255 if value > FRAME_TOLERANCE else 0).getbbox() is None
