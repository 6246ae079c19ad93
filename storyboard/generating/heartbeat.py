"""A claim kept alive while its owner tries to create (the service answering 429 for minutes, say).

Another machine judges a claim without a generation id by how long ago it was last written (the
bucket's clock): once older than its `cache.takeover_after` it may take the claim over and pay. So
while a create is being tried, the claim is rewritten every `interval` seconds, a third of the
shortest `takeover_after` allowed: however short another machine's setting, a claim whose owner is
alive never looks abandoned. Before each create request is sent, the owner checks that nobody took
its claim over (a takeover writes the next attempt's claim) and that its claim was written recently
enough to still count as alive; otherwise nothing is sent (`ClaimLost`).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import TypeVar

from ..cache.claims import CLAIMED, attempt_of, updated
from ..errors import RenderError
from ..planning.plans import ShotPlan
from .shared import Held, Off, SharedCache

T = TypeVar("T")


class ClaimLost(RenderError):
    """The claim held can no longer be trusted to stand: nothing was (or will be) created under it."""


class Heartbeat:
    """Keeps `held` alive from `start` to `stop`; `check` before each create request is sent."""

    def __init__(self, shared: SharedCache, item: ShotPlan, held: Held, *, interval: float, consent: bool):
        self.shared = shared
        self.item = item
        self.held = held
        self.interval = interval
        self.consent = consent  # --resubmit: the user pays even if the claim cannot be kept alive
        self.written = time.monotonic() - held.claim.age  # when the claim was last written, as far as known
        self.lost: str | None = None
        self._stopped = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Heartbeat:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        """Stop beating, waiting for a rewrite under way: none may land after the claim's next state."""
        self._stopped.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a beat that failed only left its claim older
                await self._task

    async def check(self) -> None:
        """Before a create request is sent: ClaimLost when the claim was taken over, or when it could not be
        kept alive long enough that another machine may be about to take it over."""
        async with self._lock:
            if self.lost is None:
                if time.monotonic() - self.written >= self.interval:
                    await self._beat()
                else:
                    await self._overtaken()
        if self.lost is not None:
            raise ClaimLost(self.lost)

    async def _run(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=self.interval)
                return
            async with self._lock:
                if self.lost is None and not self._stopped.is_set():
                    await self._beat()

    async def _beat(self) -> None:
        """Rewrite the claim (its bucket time is its owner's sign of life), unless it was taken over."""
        try:
            if await self._overtaken():
                return
            record = updated(self.held.claim, CLAIMED)
            await self.shared._rewrite(self.held, record)
            self.written = time.monotonic()
        except Off:
            if not self.consent and time.monotonic() - self.written >= self.interval * 1.5:
                self.lost = (f"the shared cache {self.shared.where} became unusable ({self.shared.off_reason}) while "
                             "this render waited to create the request, so its claim there can no longer be kept "
                             "alive and another machine may take it over and pay; nothing was created here; render "
                             f"again, or with --resubmit {self.item.id} to pay for it all the same")

    async def _overtaken(self) -> bool:
        """Whether another machine's claim of a later attempt stands (noted in `lost`)."""
        if self.lost is not None:
            return True
        try:
            later = await self.shared._call(self._later_attempts)
        except Off:
            return False  # said by _beat when it matters
        if later:
            claim = await self.shared._current(self.item)
            who = claim.describe() if claim is not None else f"claim {later[-1]}"
            self.lost = (f"another machine took this render's claim over ({who}) while it waited to create the "
                         "request; nothing was created here; render again to use that machine's generation")
            return True
        return False

    def _later_attempts(self) -> list[int]:
        remote = self.shared.remote
        prefix = remote.base(self.shared.backend, self.item.hash) + "claims/"
        numbers = (attempt_of(entry.key[len(prefix):]) for entry in remote.listing(prefix))
        return sorted(number for number in numbers if number is not None and number > self.held.claim.attempt)


def keep_alive(shared: SharedCache | None, item: ShotPlan, *, consent: bool) -> Heartbeat | None:
    """The heartbeat of the claim this render holds on `item`'s request, started; None when it holds none."""
    held = shared.held.get(item.hash) if shared is not None else None
    if shared is None or held is None or shared.off:
        return None
    return Heartbeat(shared, item, held, interval=shared.heartbeat, consent=consent).start()


async def while_alive(beat: Heartbeat | None, work: Awaitable[T]) -> T:
    """`work` (a create, with its retries) with `beat` kept going, and stopped before anything else
    rewrites the claim (its generation id, or its failure)."""
    try:
        return await work
    finally:
        if beat is not None:
            await beat.stop()
