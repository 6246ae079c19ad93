"""The real generation service (its contract: docs/service.md) over httpx: create, poll, download.

Money is spent at create, so create is retried only when no generation can exist:
- the connection could not be made (nothing was sent), or
- the service answered 429 (rate limited; it honours `Retry-After`).
Every create carries an `Idempotency-Key` header (the job's, else one made for this call),
the same on each of its retries. Anything else after the request may have reached the
service (a timeout while waiting for the answer, a dropped or stalled connection, a 5xx, an
answer that cannot be read) is *ambiguous*: the generation may or may not exist and be
billed. Such a shot fails with an `AmbiguousSubmission` that says so, and is never retried
silently: the render state marks it unknown, and only `--resubmit` (the user's decision,
after checking their usage) submits it again.

Polling is free and safe to repeat: on errors it backs off with jitter, honours
`Retry-After`, says so (once) when the service cannot be reached, and keeps going until the
overall timeout. The interval grows with the time already waited (a tenth of it, at least
`first`, at most `cap`), so completion is noticed within about 10 % of the generation time,
with a number of polls that grows only logarithmically with that time. Only `error` (and,
tolerated, `failed`) ends a generation failed; a status the tool does not know is shown to
the user once and followed on, and if it lasts until the timeout the generation is
`UnknownGeneration` (its outcome unknown, never a definite failure).

Downloads are streamed to the caller's temporary file with a size cap and a progress
deadline, gzip undone, retried with backoff whatever went wrong (a 403 or an HTML page
included), and checked to be a real video before the caller renames them into the store;
when every attempt fails, `ExpiredVideoURL` (a LinkExpired) asks the generator to poll the
generation again for a fresh URL. Video URLs must be absolute http(s) URLs without the key.

Every request has a deadline on its progress (httpx's read timeout is per read, so a body
dripping a byte a second would never trip it) and API answers are read up to 1 MB. The API
key is sent only to the service, never to download or reference URLs, and is scrubbed, in
any letter case, from every message.

The parts: `policy` (polling, retries, limits, errors), `wire` (bounded requests and
checks of what answers hold), `download` (one download attempt) and `client` (the backend).
"""
from __future__ import annotations

from .client import AimlApiBackend
from .policy import (
    BASE_URL_VARIABLE,
    DEFAULT_BASE_URL,
    KEY_VARIABLE,
    SCALE_VARIABLE,
    AmbiguousSubmission,
    ExpiredVideoURL,
    FailedGeneration,
    KeyInVideoURL,
    Limits,
    PollPolicy,
    RetryPolicy,
    ServiceError,
    UnknownGeneration,
    UnsafeVideoURL,
)

__all__ = [
    "BASE_URL_VARIABLE",
    "DEFAULT_BASE_URL",
    "KEY_VARIABLE",
    "SCALE_VARIABLE",
    "AimlApiBackend",
    "AmbiguousSubmission",
    "ExpiredVideoURL",
    "FailedGeneration",
    "KeyInVideoURL",
    "Limits",
    "PollPolicy",
    "RetryPolicy",
    "ServiceError",
    "UnknownGeneration",
    "UnsafeVideoURL",
]
