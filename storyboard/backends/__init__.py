"""Backends generate one clip per request. Each lives in its own module behind `Backend`.

The contract mirrors a two-step generation service: `submit` a request (this is the moment
money is spent), `wait` until it reaches a terminal state, then `fetch` the clip. Nothing
above this package knows which backend runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import GenerationFailed, LinkExpired, SubmissionUnknown, UsageError

__all__ = ["BACKENDS", "Backend", "GenerationFailed", "Job", "LinkExpired", "Submission", "SubmissionUnknown",
           "backend_class", "get_backend"]

if TYPE_CHECKING:
    from ..errors import Problem
    from ..model import Storyboard
    from ..planning import ShotPlan


@dataclass(frozen=True)
class Job:
    """One shot's request, ready to send: the plan plus its first frame as a file, if any."""

    shot: ShotPlan
    first_frame: Path | None = None
    body: dict[str, Any] | None = None  # the request as sent, once `prepare` has published its files


@dataclass(frozen=True)
class Submission:
    generation_id: str
    usd_spent: float | None = None


class Backend(Protocol):
    name: str
    paid: bool  # submitting costs money: unknown outcomes and lost clips need the user's consent
    default_jobs: int  # generations at once unless --jobs says otherwise

    def check(self, items: list[ShotPlan], storyboard: Storyboard) -> list[Problem]:
        """Problems that would make these shots fail, found before anything is paid."""

    async def prepare(self, job: Job) -> Job:
        """Make the request ready to send (publish local files); costs nothing."""

    async def submit(self, job: Job) -> Submission:
        """Start generating `job`; return as soon as the service has accepted it."""

    async def wait(self, job: Job, submission: Submission) -> str:
        """Follow the generation to completion; return where the clip can be fetched.

        Also works for a generation submitted by an earlier process (resume after a crash)."""

    async def fetch(self, location: str, destination: Path) -> None:
        """Write the finished clip to `destination` (a temporary path the caller renames)."""

    async def close(self) -> None:
        """Release connections; called once the render's generations are over."""

    @classmethod
    def for_storyboard(cls, storyboard: Storyboard) -> Backend:
        """The backend configured for this storyboard and environment."""


BACKENDS = ("preview", "aimlapi")


def backend_class(name: str) -> type[Backend]:
    """The class of a backend by name; its `name`, `paid` and `default_jobs` are class attributes."""
    if name == "preview":
        from .preview import PreviewBackend

        return PreviewBackend
    if name == "aimlapi":
        from .aimlapi import AimlApiBackend

        return AimlApiBackend
    raise UsageError(f"unknown backend {name!r} (available: {', '.join(BACKENDS)})")


def get_backend(name: str, storyboard: Storyboard) -> Backend:
    """A backend ready to render `storyboard` (a paid one reads its key from the environment)."""
    return backend_class(name).for_storyboard(storyboard)
