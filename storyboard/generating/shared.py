"""The generator's side of the shared cache (cache/): look there before paying, claim before creating,
record the generation id in the claim, store the clip after, share first frames.

Every call goes to a thread (boto3 blocks). The first time the bucket cannot be used, the render
says so once and carries on with its local store only (`Off` unwinds the caller to its local way).
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ..backends import Backend
from ..backends.aimlapi.policy import PollPolicy, RetryPolicy, scaled
from ..cache.claims import (
    COMPLETED,
    FAILED,
    HEARTBEAT,
    SUBMITTED,
    Claim,
    Decision,
    Owner,
    attempt_of,
    decide,
    made_here,
    new_claim,
    note_claim,
    record_text,
    stalled_message,
    updated,
)
from ..cache.clip_record import SHA256, CachedClip
from ..cache.probes import remember, remembered
from ..cache.remote import CLIP_META, MAX_FRAME_BYTES, Damaged, RemoteStore, Unreachable
from ..errors import ShotFailed, StoryboardError
from ..events import Event
from ..files import file_sha256
from ..model import CacheSettings
from ..planning.plans import ShotPlan
from ..project.correlation import client_request_id
from ..project.state import Record
from ..project.store import ClipStore
from ..redaction import holds_secret

T = TypeVar("T")
FIRST_LOOK, LONGEST_LOOK = 0.25, 10.0  # seconds between looks at a claim that has no generation id yet
CLIP_WAIT = 1800.0  # seconds to wait for the clip of a generation this machine cannot follow


class Off(StoryboardError):
    """The shared cache is not used (any more) in this render: carry on with the local store."""


@dataclass
class Held:
    """A claim this render holds: the request is this machine's to create."""

    request: str
    claim: Claim
    idempotency_key: str
    taken_over: Claim | None = None


class SharedCache:
    def __init__(self, remote: RemoteStore, owner: Owner, backend: str, emit: Callable[[Event], None], *,
                 takeover_after: float | None = None, patience: float | None = None, state_dir: Path | None = None,
                 heartbeat: float = HEARTBEAT):
        self.remote = remote
        self.heartbeat = heartbeat  # seconds between rewrites of a claim held while creating (generating/heartbeat.py)
        self.state_dir = state_dir
        self.read_only = False  # the bucket ignores conditional writes: clips are fetched, nothing claimed or stored
        self._probed = False
        self._probing: asyncio.Lock | None = None
        self.owner = owner
        self.backend = backend
        self.emit = emit
        self.takeover_after = takeover_after
        self.patience = patience
        self.off = False
        self.answered = False  # the bucket was usable (probed, or remembered so): other machines may be using it
        self.off_reason = ""
        self.touched: set[str] = set()  # requests whose claim this render saw, or may have written, in the bucket
        self.held: dict[str, Held] = {}  # by request hash
        self.refused: dict[str, str] = {}  # request hash -> the sha256 of the cache's clip this render refused
        self._said: set[str] = set()  # what was noted of objects that are not what they should be: once each
        # The generation the service's records name for a claim's create (set by the generator), or None.
        self.trace: Callable[[ShotPlan, Claim], Awaitable[str | None]] | None = None

    @property
    def where(self) -> str:
        return self.remote.where

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.off:
            raise Off
        try:
            answer = await asyncio.to_thread(function, *args, **kwargs)
            self.answered = True
            return answer
        except Unreachable as error:
            self.turn_off(str(error))
            raise Off from None

    def turn_off(self, reason: str) -> None:
        if not self.off:
            self.off = True
            self.off_reason = reason
            self.emit(Event(None, "note", f"the shared cache {self.where} cannot be used ({reason}); rendering with the "
                                          "local store only: clips made now are not shared, and another machine may "
                                          "pay for the same requests"))

    # -- whether claims can be trusted -------------------------------------------------------------

    async def trusted(self) -> bool:
        """Whether this bucket honours `If-None-Match: *` (a claim won is a claim nobody else won): probed
        once per bucket and remembered in the state folder for PROBE_KEPT seconds. Without it the cache is
        used read-only (clips fetched; nothing claimed, followed or stored), said once."""
        if not self._probed:
            if self._probing is None:
                self._probing = asyncio.Lock()
            async with self._probing:
                if not self._probed:
                    honours = remembered(self.state_dir, self.where)
                    if honours is None:
                        honours = await self._call(self.remote.honours_conditional_writes)
                        remember(self.state_dir, self.where, honours)
                    self._probed = True
                    self.answered = True  # probed, or remembered from a render of this folder: in use
                    if not honours:
                        self.read_only = True
                        self.emit(Event(None, "note", f"the shared cache {self.where} does not honour conditional "
                                        "writes (a second write with If-None-Match: * was not refused), so a claim "
                                        "in it proves nothing; using it read-only: clips it holds are fetched, "
                                        "nothing is claimed or stored, and another machine may pay for the same "
                                        "requests"))
        return not self.read_only

    # -- before paying ----------------------------------------------------------------------------

    async def fetch(self, item: ShotPlan, store: ClipStore) -> CachedClip | None:
        """Bring the cache's clip of `item` into the local store, checksum verified; None if it has none
        (or a damaged one, which is said and left alone)."""
        await self.trusted()  # first of all: whether the bucket is in use decides what its failing later means
        found = await self._call(self.remote.get_json, self.remote.meta_key(self.backend, item.hash))
        if found is None:
            return None
        cached = CachedClip.read(found[0])
        if cached is None:
            self._note(item, f"the shared cache's record of this request ({CLIP_META}) cannot be read; not used")
            return None
        destination = store.clip_path(self.backend, item.hash, still=item.still)
        key = self.remote.clip_key(self.backend, item.hash, cached.sha256)
        try:
            with store.writing(destination) as temporary:
                if not await self._call(self.remote.download, key, temporary, cached.sha256, cached.size):
                    raise Damaged(f"its clip s3://{self.remote.store.bucket}/{key} is missing")
                await asyncio.to_thread(_check_video, temporary, f"s3://{self.remote.store.bucket}/{key}", item.still)
        except Damaged as error:
            self.refused[item.hash] = cached.sha256
            self._note(item, f"the shared cache's clip of this request is not used: {error}")
            return None
        return cached

    async def claim(self, item: ShotPlan, record: Record | None, *, consent: bool,
                    cannot_follow: str | None = None) -> Held | Decision | CachedClip | None:
        """Claim `item`'s request before creating it: `Held` when this render is to create it; a
        `follow` Decision when another machine's generation is to be followed; the clip's record when
        it appeared in the cache meanwhile; None when the bucket's claims cannot be trusted (read-only:
        create without a claim). Waits while another machine's claim has no generation id;
        raises ShotFailed when that lasts and nobody consented to take it over."""
        try:
            if not await self.trusted():
                return None
            return await self._claim(item, record, consent=consent, cannot_follow=cannot_follow)
        except Off:
            if consent or not (item.hash in self.touched or self.answered):
                raise  # a bucket that never answered: nobody is known to be paying for it (said once, as the cache is off)
            seen = ("after a claim on this request was seen or written there" if item.hash in self.touched else
                    "midway through this render: another machine may hold a claim on this request there")
            raise ShotFailed(item.key, f"the shared cache {self.where} became unusable ({self.off_reason}) {seen}; "
                                       "another machine may be paying for it, so it is not paid for here without "
                                       f"consent; render with --resubmit {item.id} to pay for it all the same") from None

    async def _claim(self, item: ShotPlan, record: Record | None, *, consent: bool,
                     cannot_follow: str | None) -> Held | Decision | CachedClip:
        said_waiting = False
        delay = FIRST_LOOK
        while True:
            current = await self._current(item)
            decision = decide(current, self.owner.id, consent=consent, takeover_after=self.takeover_after,
                              patience=self.patience, earlier=self._earlier(current), cannot_follow=cannot_follow)
            if decision.action == "create":
                previous = decision.claim if decision.takeover or decision.reclaim else None
                key = _key(previous, record)
                body = new_claim(self.owner, decision.attempt, backend=self.backend, request=item.hash, shot=item.id,
                                 idempotency_key=key, taken_over=previous, client_request_id=client_request_id(
                                     item.hash, (record.attempts if record else 0) + 1))  # as the render state's claim
                if self.state_dir is not None:
                    note_claim(self.state_dir, body["claim_id"])
                self.touched.add(item.hash)  # from here its answer may be lost with the claim written
                if await self._call(self.remote.put_json, self.remote.claim_key(self.backend, item.hash, decision.attempt),
                                    body, only_if_absent=True):
                    if previous is not None and decision.takeover:
                        self._note(item, f"taking over the claim of {previous.describe()} "
                                         f"({'--resubmit' if consent else 'older than cache.takeover_after'}); "
                                         "the request is created again with its idempotency key")
                    held = Held(item.hash, Claim.read(decision.attempt, body, 0.0), key,
                                previous if decision.takeover else None)
                    self.held[item.hash] = held
                    return held
                continue  # another machine won this attempt: look at its claim
            if decision.action == "hold":
                assert decision.claim is not None
                held = Held(item.hash, decision.claim, decision.claim.idempotency_key or _key(None, record))
                self.held[item.hash] = held
                return held
            if (decision.action == "refuse" or decision.takeover) and decision.claim and self.trace is not None:
                generation = await self.trace(item, decision.claim)  # its claimant may have died inside the create
                if generation:
                    return Decision("follow", decision.attempt, replace(decision.claim, generation=generation))
            if decision.action == "follow":
                return decision
            assert decision.claim is not None
            if decision.action == "refuse":
                raise ShotFailed(item.key, stalled_message(item.id, decision.claim, self.takeover_after))
            if not said_waiting:
                said_waiting = True
                self.emit(Event(item.key, "waiting", f"claimed by {decision.claim.describe()}; no generation id yet"))
            await asyncio.sleep(delay)
            delay = min(LONGEST_LOOK, delay * 1.5)
            cached = await self._meta(item)
            if cached is not None:
                return cached

    def _earlier(self, claim: Claim | None) -> bool:
        """Whether `claim` was written by an earlier render of this project folder."""
        return (claim is not None and claim.owner != self.owner.id and self.state_dir is not None
                and made_here(self.state_dir, claim.claim_id))

    async def _current(self, item: ShotPlan) -> Claim | None:
        prefix = self.remote.base(self.backend, item.hash) + "claims/"
        listed = await self._call(lambda: [entry.key for entry in self.remote.listing(prefix)])
        attempts = sorted(number for key in listed if (number := attempt_of(key[len(prefix):])) is not None)
        if attempts:
            self.touched.add(item.hash)
        strays = [key for key in listed if attempt_of(key[len(prefix):]) is None]
        if strays:
            self._note_once(item, f"the shared cache holds {len(strays)} object(s) among this request's claims that are "
                                  f"no claim ({record_text(strays[0])}...); left alone")
        while attempts:
            attempt = attempts.pop()
            try:
                found = await self._call(self.remote.get_json, self.remote.claim_key(self.backend, item.hash, attempt))
            except Damaged:  # too large to be a record: garbage, but it stands
                return Claim.read(attempt, None, 0.0)
            if found is not None:
                return Claim.read(attempt, found[0], found[1])
        return None

    async def _meta(self, item: ShotPlan) -> CachedClip | None:
        found = await self._call(self.remote.get_json, self.remote.meta_key(self.backend, item.hash))
        return CachedClip.read(found[0]) if found else None

    async def wait_for_clip(self, item: ShotPlan, timeout: float) -> CachedClip | None:
        """Look for the clip's record in the cache (once at least) until `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        delay = FIRST_LOOK
        while (cached := await self._meta(item)) is None and time.monotonic() < deadline:
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(LONGEST_LOOK * 3, delay * 1.5)
        return cached

    # -- while and after creating --------------------------------------------------------------------

    async def submitted(self, item: ShotPlan, generation_id: str, usd: float | None) -> None:
        """Record the generation id in the claim this render holds (at once: others follow it)."""
        held = self.held.get(item.hash)
        if held is not None:
            await self._rewrite(held, updated(held.claim, SUBMITTED, generation=generation_id, usd=usd))

    async def resumed(self, item: ShotPlan, generation_id: str, usd: float) -> None:
        """A render that stopped before recording the generation id in its claim records it now."""
        if not await self.trusted():
            return
        current = await self._current(item)
        if current is not None and (current.owner == self.owner.id or self._earlier(current)) and current.generation is None:
            held = Held(item.hash, current, current.idempotency_key or "")
            self.held[item.hash] = held
            await self._rewrite(held, updated(current, SUBMITTED, generation=generation_id, usd=usd or None))

    async def failed(self, item: ShotPlan, reason: str, claim: Claim | None = None) -> None:
        """The generation of the claim held (or followed) ended failed: the next render anywhere creates it anew."""
        held = self.held.pop(item.hash, None) or (Held(item.hash, claim, "") if claim is not None else None)
        if held is not None:
            await self._rewrite(held, updated(held.claim, FAILED, error=reason))

    async def _rewrite(self, held: Held, record: dict[str, Any]) -> None:
        await self._call(self.remote.put_json, self.remote.claim_key(self.backend, held.request, held.claim.attempt), record)
        held.claim = Claim.read(held.claim.attempt, record, 0.0)

    async def publish(self, item: ShotPlan, clip: Path, record: Record) -> bool:
        """Store the clip (then its record, only if none is there) and mark the claim held completed.
        True when the cache has a clip of the request afterwards; False when the cache is read-only."""
        if not await self.trusted():
            return False
        assert record.clip_sha256 is not None and record.clip_size is not None
        key = self.remote.clip_key(self.backend, item.hash, record.clip_sha256)
        meta_key = self.remote.meta_key(self.backend, item.hash)
        refused = self.refused.pop(item.hash, None)
        if refused is not None and refused != record.clip_sha256:  # the cache's clip is no video: replace it by this one
            still = await self._meta(item)
            if still is not None and still.sha256 == refused:
                await self._call(self.remote.delete, [meta_key, self.remote.clip_key(self.backend, item.hash, refused)])
        if not await self._call(self.remote.exists, meta_key):
            if not await self._call(self.remote.exists, key):
                await self._call(self.remote.upload, clip, key, record.clip_sha256, "image/png" if item.still else "video/mp4")
            url = record.video_url if record.video_url and not holds_secret(record.video_url) else None
            await self._call(self.remote.put_json, meta_key, {
                "request": item.hash, "backend": self.backend, "sha256": record.clip_sha256, "size": record.clip_size,
                "generation": record.generation_id, "model": record.model, "seed": record.seed,
                "usd": round(record.usd_spent, 4), "video_url": url, "shot": item.id,
                "stored_by": self.owner.record(), "stored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }, only_if_absent=True)
        held = self.held.pop(item.hash, None)
        if held is not None and held.claim.status != COMPLETED:
            await self._rewrite(held, updated(held.claim, COMPLETED))
        return True

    # -- first frames ---------------------------------------------------------------------------------

    async def fetch_frame(self, upstream: str, clip_sha256: str, at: str | float) -> bytes | None:
        """The cache's frame of the clip at `at`, as it declares it (its sha256 checked against its own metadata
        only: the caller checks the picture against the clip)."""
        key = self.remote.frame_key(self.backend, upstream, clip_sha256, at)
        try:
            found = await self._call(self.remote.get, key, MAX_FRAME_BYTES, "a frame")
        except Damaged as error:
            self._note_once(None, f"a first frame in the shared cache is not used: {error}")
            return None
        if found is None or not SHA256.match(found.metadata.get("sha256", "")):
            return None
        if hashlib.sha256(found.body).hexdigest() != found.metadata["sha256"]:
            return None
        return found.body

    async def put_frame(self, upstream: str, clip_sha256: str, at: str | float, frame: Path) -> None:
        if not await self.trusted():
            return
        key = self.remote.frame_key(self.backend, upstream, clip_sha256, at)
        await self._call(self.remote.upload, frame, key, file_sha256(frame), "image/png")

    def _note(self, item: ShotPlan, message: str) -> None:
        self.emit(Event(item.key, "note", message))

    def _note_once(self, item: ShotPlan | None, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self.emit(Event(item.key if item is not None else None, "note", message))


def _key(taken_over: Claim | None, record: Record | None) -> str:
    """The idempotency key of a new attempt: the claim taken over's (a service that honours keys then
    answers with the generation it may have made), else one whose outcome is unknown here, else new."""
    if taken_over is not None and taken_over.idempotency_key:
        return taken_over.idempotency_key
    if record is not None and record.outcome_unknown and record.idempotency_key:
        return record.idempotency_key
    return str(uuid.uuid4())


def _check_video(path: Path, where: str, still: bool = False) -> None:
    """The clip the service's downloads are held to (a real, decodable video; a still: a readable picture), else Damaged."""
    if still:
        from ..media import image_is_readable

        if (why := image_is_readable(path)) is not None:
            raise Damaged(f"{where}: {why}")
        return
    from ..backends.aimlapi.download import check_clip  # httpx with it: only when a clip is fetched

    try:
        check_clip(path)
    except StoryboardError as error:
        raise Damaged(f"{where} {str(error).removeprefix('the downloaded clip ')}") from None


def open_shared_cache(settings: CacheSettings, backend: Backend, store: ClipStore,
                      emit: Callable[[Event], None]) -> SharedCache | None:
    """The shared cache of this render (`settings` as cache.settings resolved them): paid backends only,
    since a free clip is cheaper to make again than to fetch."""
    if settings.s3 is None or not backend.paid:
        return None
    store.ensure()
    scale = scaled(PollPolicy(), RetryPolicy(), os.environ)[1].scale  # STORYBOARD_RETRY_SCALE: tests wait less
    takeover = settings.takeover_after * scale if settings.takeover_after is not None else None
    return SharedCache(RemoteStore(settings.s3), Owner.of_project(store.root), backend.name, emit,
                       takeover_after=takeover, state_dir=store.root, heartbeat=HEARTBEAT * scale)
