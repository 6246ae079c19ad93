"""What the aimlapi backend promises, as data: how often it polls, how it retries, how long a
transfer may stall and how large an answer may be; and the errors it raises, each meaning one
thing to the generator (see `storyboard.errors`)."""
from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ...errors import GenerationFailed, LinkExpired, RenderError, SubmissionUnknown, UsageError
from ..addresses import BASE_URL_VARIABLE, DEFAULT_BASE_URL  # noqa: F401 - this backend's settings, with the key's

KEY_VARIABLE = "AIMLAPI_KEY"
# A factor on every wait between requests (poll intervals, retry backoff, the service's
# Retry-After), 1 unless set: tests against the emulator set it small so as not to sleep real
# seconds. The time after which a generation is given up is not scaled.
SCALE_VARIABLE = "STORYBOARD_RETRY_SCALE"
# The published statuses of a generation still under way, plus the two the provider's own
# sample client also waits on. Any other status is not understood: the generation is followed
# on (it may well complete), the user is told what the service says, and it is never taken
# for a failure.
PENDING = frozenset({"queued", "generating", "waiting", "active"})
COMPLETED = "completed"
FAILED = frozenset({"error", "failed"})  # `error` is published; `failed` is tolerated


@dataclass(frozen=True)
class PollPolicy:
    first: float = 1.0  # seconds before the first poll, and the shortest interval
    fraction: float = 0.1  # interval as a fraction of the time already waited
    cap: float = 30.0  # longest interval
    timeout: float = 1800.0  # give up following a generation after this long
    scale: float = 1.0  # every interval times this (see SCALE_VARIABLE); not the timeout

    def first_interval(self) -> float:
        """The wait before the first poll."""
        return self.first * self.scale

    def interval(self, elapsed: float, expected: float | None) -> float:
        wait = min(self.cap, max(self.first, self.fraction * elapsed))
        if expected and elapsed < expected:
            # Completion is likely soon: do not sleep far past the expected moment.
            wait = min(wait, max(self.first, expected - elapsed))
        return wait * self.scale


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # creates whose request provably never left, or answered 429
    # Downloads of one video URL before asking the service for a fresh one: at most `downloads`,
    # and fewer when the URL itself is refused (401/403/404/410, a page instead of the video),
    # where a fresh URL is the likelier cure.
    downloads: int = 6
    refused_downloads: int = 3
    base: float = 0.5
    cap: float = 30.0
    scale: float = 1.0  # every delay, a Retry-After included, times this (see SCALE_VARIABLE)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.cap, self.base * 2**attempt) * random.uniform(0.5, 1.0)  # jitter
        return max(retry_after or 0.0, backoff) * self.scale


def scaled(poll: PollPolicy, retry: RetryPolicy, environ: Mapping[str, str]) -> tuple[PollPolicy, RetryPolicy]:
    """`poll` and `retry` with their waits multiplied by SCALE_VARIABLE's value, when it is set."""
    text = environ.get(SCALE_VARIABLE, "").strip()
    if not text:
        return poll, retry
    try:
        factor = float(text)
    except ValueError:
        factor = math.nan
    if not (math.isfinite(factor) and factor > 0):
        raise UsageError(f"{SCALE_VARIABLE}={text!r} must be a positive number (a factor on the waits between "
                         "requests to the service), or unset")
    return replace(poll, scale=poll.scale * factor), replace(retry, scale=retry.scale * factor)


@dataclass(frozen=True)
class Limits:
    """Deadlines and caps on every request. httpx's read timeout applies to each read, so an
    answer dripping a byte a second never trips it: these are enforced on the whole transfer."""

    stall: float = 30.0  # seconds in which a download must bring `progress_bytes` (or end)
    progress_bytes: int = 16 * 1024
    answer_seconds: float = 120.0  # a whole API answer: sending, headers and body
    answer_bytes: int = 1024 * 1024  # an API answer is a small JSON object; more is not read
    download_bytes: int = 2 * 1024**3


class ServiceError(RenderError):
    """The service refused a request or a generation failed; the message is the service's."""


class AmbiguousSubmission(ServiceError, SubmissionUnknown):
    """A create request may have reached the service: the generation may exist and be billed."""


class UnknownGeneration(ServiceError, SubmissionUnknown):
    """The service will not say what became of a generation it accepted."""


class ExpiredVideoURL(ServiceError, LinkExpired):
    """The result URL does not serve the video (expired, refused, broken): ask for a fresh one."""


class FailedGeneration(ServiceError, GenerationFailed):
    """The service ended the generation with `error` (or `failed`)."""


class UnsafeVideoURL(ServiceError, LinkExpired):
    """A video URL this tool will not fetch (not http/https, not absolute). Raised by `wait` it
    fails the shot (the URL is never recorded); raised by `fetch` (a URL recorded earlier, in
    storyboard.lock say) it is a LinkExpired: the generator asks the service for a fresh one."""


class KeyInVideoURL(UnsafeVideoURL):
    """The service put the API key in the video URL: it is neither stored nor fetched."""
