"""The contract every backend implements (`Backend`) and what passes through it (`Job`, `Submission`)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..errors import Problem
    from ..model import Storyboard
    from ..planning.plans import ShotPlan


@dataclass(frozen=True)
class Job:
    """One shot's request, ready to send: the plan plus its first frame as a file, if any."""

    shot: ShotPlan
    first_frame: Path | None = None
    body: dict[str, Any] | None = None  # the request as sent, once `prepare` has published its files
    # Sent as the `Idempotency-Key` header of the create: the same for every retry of one attempt
    # of this request, recorded in the render state before the create is sent.
    idempotency_key: str | None = None
    # Sent as `X-Client-Request-Id`: derived from the request and its attempt, recorded with the claim;
    # the service's usage log finds the create by it when the create's answer is lost.
    client_request_id: str | None = None
    # Tells the user something about this shot while it waits (e.g. the service cannot be reached).
    report: Callable[[str], None] | None = None
    # Awaited before each create request is sent (the first and every retry): raises to send nothing
    # more (a claim in the shared cache that was taken over while the service rate-limited this one).
    before_send: Callable[[], Awaitable[None]] | None = None


@dataclass(frozen=True)
class Submission:
    generation_id: str
    usd_spent: float | None = None


@dataclass(frozen=True)
class LostCreate:
    """A create whose answer never came: what the service's records can find it by."""

    client_request_id: str
    model: str | None
    claimed_at: float  # wall clock (time.time()) when it was claimed, just before it was sent
    settled_at: float  # wall clock after which none of it can still be on its way (its sender gave up or died)
    # Generations this project's creates to the same model made around then: a log that does not list them
    # yet lags more than it is waited for, and its silence about the lost create says nothing.
    known: tuple[str, ...] = ()


@dataclass(frozen=True)
class Traced:
    """What the service's records say became of a lost create.

    `created`: it made generation `generation_id` (follow it, pay nothing more); `failed`: it reached
    the service and failed, billed nothing; `absent`: it never reached the service (creating it again
    pays once); `unknown`: the records cannot tell (`reason` says why): only consent pays again."""

    verdict: Literal["created", "failed", "absent", "unknown"]
    reason: str = ""
    generation_id: str | None = None
    usd_spent: float | None = None


@runtime_checkable
class Traceable(Protocol):
    """A paid backend that can look a lost create up in the service's records."""

    async def trace(self, lost: LostCreate, report: Callable[[str], None] | None = None) -> Traced:
        """What became of `lost`, waiting (within a bound) for records that lag."""


class Backend(Protocol):
    name: str
    paid: bool  # submitting costs money: unknown outcomes and lost clips need the user's consent
    default_jobs: int  # generations at once unless --jobs says otherwise
    where: str  # where generations happen, as the user is told before paying

    @classmethod
    def check(cls, items: list[ShotPlan], storyboard: Storyboard) -> list[Problem]:
        """Problems that would make these shots fail, found before anything is paid (no key needed:
        `validate --backend` and `plan --backend` ask it too)."""

    async def prepare(self, job: Job) -> Job:
        """Make the request ready to send (publish local files); costs nothing."""

    async def submit(self, job: Job) -> Submission:
        """Start generating `job`; return as soon as the service has accepted it."""

    async def wait(self, job: Job, submission: Submission) -> str:
        """Follow the generation to completion; return where the clip can be fetched.

        Also works for a generation submitted by an earlier process (resume after a crash)."""

    async def fetch(self, location: str, destination: Path, report: Callable[[str], None] | None = None) -> None:
        """Write the finished clip to `destination` (a temporary path the caller renames); `report`
        is told of each attempt that failed and is tried again, as it happens."""

    async def close(self) -> None:
        """Release connections; called once the render's generations are over."""

    @classmethod
    def for_storyboard(cls, storyboard: Storyboard) -> Backend:
        """The backend configured for this storyboard and environment."""
