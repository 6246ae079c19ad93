"""The real generation service (SPEC §2) over httpx: create, poll, download.

Money is spent at create, so create is retried only when no generation can exist:
- the connection could not be made (nothing was sent), or
- the service answered 429 (rate limited; it honours `Retry-After`).
Anything else after the request may have reached the service (a timeout while waiting for
the answer, a dropped connection, a 5xx) is *ambiguous*: the generation may or may not
exist and be billed. Such a shot fails with an `AmbiguousSubmission` that says so, and is
never retried silently: the render state marks it unknown, and only `--resubmit` (the
user's decision, after checking their usage) submits it again.

Polling is free and safe to repeat: on errors it backs off with jitter, honours
`Retry-After`, and keeps going until the overall timeout.
The interval grows with the time already waited (a tenth of it, at least `first`, at most
`cap`), so completion is noticed within about 10 % of the generation time, with a number
of polls that grows only logarithmically with that time.

Downloads are streamed to the caller's temporary file with a size cap, retried when cut
short, and checked to be a real video before the caller renames them into the store.
The API key is sent only to the service, never to download or reference URLs, and is
scrubbed from every message.
"""
from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from ..errors import GenerationFailed, LinkExpired, MediaError, Problem, RenderError, SubmissionUnknown, UsageError
from ..media import check_video
from ..model import FrameOf, PublishSettings, Reference, Storyboard
from ..planning import ShotPlan
from ..publish import Publisher
from .base import Job, Submission

DEFAULT_BASE_URL = "https://api.aimlapi.com/v2"
KEY_VARIABLE = "AIMLAPI_KEY"
BASE_URL_VARIABLE = "AIMLAPI_BASE_URL"
PENDING = {"queued", "generating", "pending", "processing", "waiting", "in_progress", "started"}
EXPIRED = {401, 403, 404, 410}


class ServiceError(RenderError):
    """The service refused a request or a generation failed; the message is the service's."""


class AmbiguousSubmission(ServiceError, SubmissionUnknown):
    """A create request may have reached the service: the generation may exist and be billed."""


@dataclass(frozen=True)
class PollPolicy:
    first: float = 1.0  # seconds before the first poll, and the shortest interval
    fraction: float = 0.1  # interval as a fraction of the time already waited
    cap: float = 30.0  # longest interval
    timeout: float = 1800.0  # give up following a generation after this long

    def interval(self, elapsed: float, expected: float | None) -> float:
        wait = min(self.cap, max(self.first, self.fraction * elapsed))
        if expected and elapsed < expected:
            # Completion is likely soon: do not sleep far past the expected moment.
            wait = min(wait, max(self.first, expected - elapsed))
        return wait


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.cap, self.base * 2**attempt) * random.uniform(0.5, 1.0)  # jitter
        return max(retry_after or 0.0, backoff)


class UnknownGeneration(ServiceError, SubmissionUnknown):
    """The service will not say what became of a generation it accepted."""


class ExpiredVideoURL(ServiceError, LinkExpired):
    """The result URL no longer serves the video."""


class FailedGeneration(ServiceError, GenerationFailed):
    """The service ended the generation in a failure status."""


class AimlApiBackend:
    name = "aimlapi"
    paid = True
    default_jobs = 8  # generations run on the service; this machine only waits

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        publisher: Publisher | None = None,
        *,
        poll: PollPolicy = PollPolicy(),
        retry: RetryPolicy = RetryPolicy(),
        max_download_bytes: int = 2 * 1024**3,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        if not api_key:
            raise UsageError(f"{KEY_VARIABLE} is not set; export {KEY_VARIABLE}=<your key> to use --backend aimlapi")
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.publisher = publisher or Publisher(PublishSettings())
        self.poll = poll
        self.retry = retry
        self.max_download_bytes = max_download_bytes
        self._transport = transport
        self._sleep = sleep
        self._api: httpx.AsyncClient | None = None
        self._plain: httpx.AsyncClient | None = None
        self._durations: list[float] = []  # observed generation times, to poll sooner near them
        self._started: dict[str, float] = {}
        self.requests = 0

    @classmethod
    def for_storyboard(cls, storyboard: Storyboard) -> AimlApiBackend:
        return cls(
            os.environ.get(KEY_VARIABLE, ""),
            os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL,
            Publisher(storyboard.publish),
        )

    # -- the Backend protocol -------------------------------------------------------------

    def check(self, items: list[ShotPlan], storyboard: Storyboard) -> list[Problem]:
        return [problem for item in items for problem in self.publisher.problems(item, storyboard.document)]

    async def prepare(self, job: Job) -> Job:
        return job if job.body is not None else replace(job, body=await self._resolved_body(job))

    async def submit(self, job: Job) -> Submission:
        body = (await self.prepare(job)).body
        for attempt in range(self.retry.attempts):
            try:
                response = await self._client().post(f"{self.base_url}/video/generations", json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                # The request never left this machine: retrying cannot pay twice.
                if attempt + 1 == self.retry.attempts:
                    raise ServiceError(f"cannot reach the service at {self.base_url}: {self._scrub(error)}") from None
                await self._sleep(self.retry.delay(attempt, None))
                continue
            except httpx.TransportError as error:
                reason = f"the connection failed after sending ({type(error).__name__})"
                raise AmbiguousSubmission(self._ambiguous(reason)) from None
            if response.status_code == 429 and attempt + 1 < self.retry.attempts:
                await self._sleep(self.retry.delay(attempt, _retry_after(response)))
                continue
            if response.status_code >= 500:
                reason = f"the service answered {response.status_code}: {self._message(response)}"
                raise AmbiguousSubmission(self._ambiguous(reason))
            if response.status_code >= 400:
                raise ServiceError(f"the service refused the request ({response.status_code}): {self._message(response)}")
            try:
                data = self._json(response)
            except ServiceError as error:  # accepted, but unreadable: the generation may well exist
                raise AmbiguousSubmission(self._ambiguous(str(error))) from None
            if not isinstance(data.get("id"), str) or not data["id"]:
                raise AmbiguousSubmission(self._ambiguous("the service accepted the request but sent no generation id"))
            meta = data.get("meta")
            usage = meta.get("usage") if isinstance(meta, dict) else None
            spent = usage.get("usd_spent") if isinstance(usage, dict) else None
            self._started[data["id"]] = time.monotonic()
            return Submission(data["id"], float(spent) if isinstance(spent, (int, float)) else None)
        raise ServiceError("the service kept answering 429 (rate limited); try again later or lower --jobs")

    async def wait(self, job: Job, submission: Submission) -> str:
        started = self._started.get(submission.generation_id, time.monotonic())
        errors = 0
        delay = self.poll.first
        while True:
            await self._sleep(delay)
            elapsed = time.monotonic() - started
            expected = statistics.median(self._durations) if self._durations else None  # learnt as shots finish
            if elapsed > self.poll.timeout:
                raise ServiceError(
                    f"gave up after {elapsed:.0f} s waiting for generation {submission.generation_id}; "
                    "it may still complete on the service"
                )
            delay = self.poll.interval(elapsed, expected)
            try:
                response = await self._client().get(
                    f"{self.base_url}/video/generations", params={"generation_id": submission.generation_id}
                )
            except httpx.TransportError:
                # Polling is free and repeatable: keep trying, backing off, until the timeout.
                errors += 1
                delay = self.retry.delay(min(errors, 6), None)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                errors += 1
                delay = self.retry.delay(min(errors, 6), _retry_after(response))
                continue
            if response.status_code >= 400:
                raise UnknownGeneration(
                    f"polling generation {submission.generation_id} was refused "
                    f"({response.status_code}): {self._message(response)}"
                )
            errors = 0
            data = self._json(response)
            status = str(data.get("status", "")).lower()
            if status == "completed":
                video = data.get("video")
                url = video.get("url") if isinstance(video, dict) else None
                if not url:
                    raise ServiceError(f"generation {submission.generation_id} completed without a video URL")
                self._durations.append(time.monotonic() - started)
                return str(url)
            if status not in PENDING:
                raise FailedGeneration(
                    f"generation {submission.generation_id} ended {status or 'without a status'}: {self._message(response)}"
                )

    async def fetch(self, location: str, destination: Path) -> None:
        for attempt in range(self.retry.attempts):
            try:
                complete = await self._download(location, destination)
            except httpx.TransportError:
                complete = False
            if complete:
                await asyncio.to_thread(_check_video, destination)  # ffmpeg must not stall the other shots' polls
                return
            await self._sleep(self.retry.delay(attempt, None))
        raise ServiceError(f"the video download kept breaking off after {self.retry.attempts} attempts")

    async def close(self) -> None:
        for client in (self._api, self._plain):
            if client is not None:
                await client.aclose()
        self._api = self._plain = None

    # -- helpers ---------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        self.requests += 1
        if self._api is None:
            self._api = httpx.AsyncClient(
                headers={"Authorization": f"Bearer {self._key}"},
                timeout=httpx.Timeout(60.0, connect=10.0),
                transport=self._transport,
            )
        return self._api

    def _download_client(self) -> httpx.AsyncClient:
        if self._plain is None:  # no key here: download URLs point at storage, not at the service
            self._plain = httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0), follow_redirects=True,
                                            transport=self._transport)
        return self._plain

    async def _download(self, url: str, destination: Path) -> bool:
        """True if the whole body arrived; raises for answers that retrying cannot fix."""
        async with self._download_client().stream("GET", url) as response:
            if response.status_code in EXPIRED:
                raise ExpiredVideoURL(
                    f"the video URL answered {response.status_code}: it has expired or is not accessible "
                    "(result URLs are short-lived)"
                )
            if response.status_code >= 500 or response.status_code == 429:
                return False
            if response.status_code >= 400:
                raise ServiceError(f"the video download was refused ({response.status_code})")
            if "text/html" in response.headers.get("content-type", ""):
                raise ServiceError("the video URL returned an HTML page, not a video")
            expected = int(response.headers.get("content-length", "0") or 0)
            if expected > self.max_download_bytes:
                raise ServiceError(f"the video is {expected:,} bytes, over the {self.max_download_bytes:,}-byte cap")
            received = 0
            with open(destination, "wb") as file:
                async for chunk in response.aiter_bytes(1 << 20):
                    received += len(chunk)
                    if received > self.max_download_bytes:
                        raise ServiceError(f"the video is over the {self.max_download_bytes:,}-byte cap")
                    file.write(chunk)
            return not expected or received == expected

    async def _resolved_body(self, job: Job) -> dict[str, Any]:
        """The plan's body with every local file replaced by a URL the service can fetch."""
        item = job.shot
        body = dict(item.body)
        refs = item.shot.all_references()
        for field, kind in (("image_urls", "image"), ("video_urls", "video")):
            if field in body:
                body[field] = [await self._url(item, field, ref) for ref in refs if ref.kind == kind]
        frame = item.shot.first_frame
        if isinstance(frame, FrameOf):
            if job.first_frame is None:
                raise ServiceError(f"the first frame from shot {frame.shot!r} is missing")
            body["first_frame_image"] = await self.publisher.url(item, "first_frame_image", job.first_frame)
        elif isinstance(frame, Reference):
            body["first_frame_image"] = await self._url(item, "first_frame_image", frame)
        return body

    async def _url(self, item: ShotPlan, field: str, ref: Reference) -> str:
        return ref.source if ref.path is None else await self.publisher.url(item, field, ref.path)

    def _ambiguous(self, what: str) -> str:
        return (
            f"{what}. The generation may have been created and billed, so it is not retried automatically; "
            "check your usage on the service, then render again with --resubmit to submit it again"
        )

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise ServiceError(f"the service sent something that is not JSON (HTTP {response.status_code})") from None
        if not isinstance(data, dict):
            raise ServiceError(f"the service sent unexpected JSON (HTTP {response.status_code})")
        return data

    def _message(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            return self._scrub(response.text[:300].strip() or response.reason_phrase)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            text = error.get("message") or str(error)
        else:
            text = error or (data.get("message") if isinstance(data, dict) else None) or str(data)
        return self._scrub(str(text)[:500])

    def _scrub(self, value: object) -> str:
        return str(value).replace(self._key, "***")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _check_video(path: Path) -> None:
    """A real video: a known container with a decodable video stream, not an error page."""
    try:
        check_video(path)
    except MediaError as error:
        raise ServiceError(f"the downloaded clip is unusable: {error}") from None
