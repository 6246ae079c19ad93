"""`AimlApiBackend`: create, poll and download against the service, over httpx."""
from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from ...errors import Problem, RenderError, UsageError
from ...model import FrameOf, PublishSettings, Reference, Storyboard
from ...planning.plans import ShotPlan
from ...project.store import ClipStore
from ...redaction import redact
from ..addresses import service_name, service_where
from ..base import Job, LostCreate, Submission, Traced
from ..publish import Publisher
from .download import Retryable, check_clip, download
from .images import Inbox, fetch_still, follow_still, is_still_location, submit_still
from .notes import Notes
from .policy import (
    BASE_URL_VARIABLE,
    COMPLETED,
    DEFAULT_BASE_URL,
    FAILED,
    KEY_VARIABLE,
    PENDING,
    AmbiguousSubmission,
    ExpiredVideoURL,
    FailedGeneration,
    Limits,
    PollPolicy,
    RetryPolicy,
    ServiceError,
    UnknownGeneration,
    scaled,
)
from .usage_log import LogPolicy, UsageLog
from .wire import UNSENT, Answer, Stalled, checked_video_url, clean, describe, error_text, holds_key, request_answer, usd_spent

DEFAULT_POLL, DEFAULT_RETRY, DEFAULT_LIMITS, DEFAULT_LOG = PollPolicy(), RetryPolicy(), Limits(), LogPolicy()
CONNECT_SECONDS = 10.0


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
        poll: PollPolicy = DEFAULT_POLL,
        retry: RetryPolicy = DEFAULT_RETRY,
        limits: Limits = DEFAULT_LIMITS,
        log: LogPolicy = DEFAULT_LOG,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        inbox: Path | None = None,
    ):
        if not api_key:
            raise UsageError(f"{KEY_VARIABLE} is not set; export {KEY_VARIABLE}=<your key> to use --backend aimlapi")
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.name = service_name(self.base_url)  # `aimlapi`, or with the address when it is not the real service
        self.where = service_where(self.base_url)
        self.publisher = publisher or Publisher(PublishSettings())
        self.poll = poll
        self.retry = retry
        self.limits = limits
        self.log = log
        self._transport = transport
        self._sleep = sleep
        self._clock = clock  # the time polls are scheduled and given up by (tests pass a fake one)
        self._api: httpx.AsyncClient | None = None
        self._plain: httpx.AsyncClient | None = None
        self._durations: list[float] = []  # observed generation times, to poll sooner near them
        self._started: dict[str, float] = {}
        self.requests = 0
        self._inbox = Inbox(inbox) if inbox is not None else None  # where stills' answers are kept (images.py)

    @classmethod
    def for_storyboard(cls, storyboard: Storyboard) -> AimlApiBackend:
        poll, retry = scaled(DEFAULT_POLL, DEFAULT_RETRY, os.environ)  # STORYBOARD_RETRY_SCALE, for tests
        return cls(
            os.environ.get(KEY_VARIABLE, ""),
            os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL,
            Publisher(storyboard.publish),
            poll=poll,
            retry=retry,
            inbox=ClipStore(storyboard.root).root / "stills",
            log=DEFAULT_LOG.scaled(retry.scale).from_environment(os.environ),
        )

    # -- the Backend protocol -------------------------------------------------------------

    @classmethod
    def check(cls, items: list[ShotPlan], storyboard: Storyboard) -> list[Problem]:
        publisher = Publisher(storyboard.publish)  # as for_storyboard makes it
        return [problem for item in items for problem in publisher.problems(item, storyboard.document)]

    async def prepare(self, job: Job) -> Job:
        return job if job.body is not None else replace(job, body=await self._resolved_body(job))

    async def submit(self, job: Job) -> Submission:
        if job.shot.still:
            with self._scrubbed():
                return await submit_still(self, job, self.inbox())
        with self._scrubbed():
            body = (await self.prepare(job)).body
            # The same key on every retry of this create: a service that honours it creates (and bills) once.
            headers = {"Idempotency-Key": job.idempotency_key or uuid.uuid4().hex}
            if job.client_request_id:  # the same on every retry of this attempt: the usage log finds it by this
                headers["X-Client-Request-Id"] = job.client_request_id
            notes = Notes(job.report, self._scrub)
            for attempt in range(self.retry.attempts):
                if job.before_send is not None:
                    await job.before_send()
                try:
                    answer = await request_answer(self._client(), "POST", f"{self.base_url}/video/generations",
                                                  self.limits, json=body, headers=headers)
                except UNSENT as error:  # the request never left this machine: retrying cannot pay twice
                    if attempt + 1 == self.retry.attempts:
                        raise ServiceError(f"cannot reach the service at {self.base_url}: {describe(error)}") from None
                    notes.say("unreachable", f"cannot reach the service at {self.base_url} ({describe(error)}); "
                                             "nothing was sent, retrying")
                    await self._sleep(self.retry.delay(attempt, None))
                    continue
                except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:  # refused before sending
                    raise ServiceError(f"the service address {self.base_url} cannot be used: {describe(error)}") from None
                except (httpx.HTTPError, Stalled) as error:
                    reason = f"the connection failed after sending ({type(error).__name__}: {describe(error)})"
                    raise AmbiguousSubmission(self._ambiguous(reason)) from None
                if answer.status != 429:
                    return self._accepted(answer)
                if attempt + 1 < self.retry.attempts:  # rate limited: nothing was created
                    await self._sleep(self.retry.delay(attempt, answer.retry_after()))
            raise ServiceError("the service kept answering 429 (rate limited); try again later or lower --jobs")

    async def wait(self, job: Job, submission: Submission) -> str:
        with self._scrubbed():
            if job.shot.still:  # made by the create itself: its answer was kept
                return follow_still(job, self.inbox())
            return await self._follow(job, submission.generation_id)

    async def fetch(self, location: str, destination: Path, report: Callable[[str], None] | None = None) -> None:
        """Download the clip, retrying whatever may pass; when every attempt failed, ExpiredVideoURL
        (a LinkExpired): the generator asks the service for a fresh URL (`wait`) and fetches that."""
        if is_still_location(location):
            with self._scrubbed():
                await fetch_still(self, location, destination, self.inbox())
            return
        with self._scrubbed():
            url = checked_video_url(location, self._key)  # a URL from storyboard.lock is checked too
            attempts = refused = 0
            while True:
                try:
                    await download(self._download_client(), url, destination, self.limits)
                    await asyncio.to_thread(check_clip, destination)  # ffmpeg must not stall the other shots' polls
                    return
                except Retryable as problem:
                    attempts += 1
                    refused += problem.refused
                    if attempts >= self.retry.downloads or refused >= self.retry.refused_downloads:
                        raise ExpiredVideoURL(f"{problem}; tried {attempts} times") from None
                    delay = self.retry.delay(attempts - 1, problem.retry_after)
                    if report is not None:
                        report(self._scrub(f"download attempt {attempts} failed ({problem}); trying again in {delay:.0f} s"))
                    await self._sleep(delay)

    async def trace(self, lost: LostCreate, report: Callable[[str], None] | None = None) -> Traced:
        """What the service's usage log says became of a create whose answer was lost (see `usage_log`)."""
        # Nothing of the create can still be on its way once its last retry's deadline passed.
        retry = self.retry
        backoff = sum(min(retry.cap, retry.base * 2**attempt) for attempt in range(retry.attempts)) * retry.scale
        settled = min(lost.settled_at, lost.claimed_at + backoff + retry.attempts * CONNECT_SECONDS
                      + self.limits.answer_seconds)

        def said(text: str) -> None:
            if report is not None:
                report(self._scrub(text))

        with self._scrubbed():
            traced = await UsageLog(self._log_page, self.log, sleep=self._sleep, now=time.time).trace(
                replace(lost, settled_at=settled), said)
        return replace(traced, reason=self._scrub(traced.reason))

    async def _log_page(self, query: dict[str, Any]) -> Answer:
        return await request_answer(self._client(), "GET", self._logs_url(), self.limits, params=query)

    def _logs_url(self) -> str:
        root = self.base_url
        for version in ("/v1", "/v2"):
            root = root.removesuffix(version)
        return f"{root}/v2/logs"

    async def close(self) -> None:
        for client in (self._api, self._plain):
            if client is not None:
                await client.aclose()
        self._api = self._plain = None

    # -- create and poll ---------------------------------------------------------------------

    def _accepted(self, answer: Answer) -> Submission:
        """The submission in a create's answer; raises for refusals and answers that leave it unknown."""
        if answer.status >= 500:
            raise AmbiguousSubmission(self._ambiguous(f"the service answered {answer.status}: {answer.message()}"))
        if answer.status >= 400:
            raise ServiceError(f"the service refused the request ({answer.status}): {answer.message()}")
        data = answer.json_object()
        header_id = answer.headers.get("x-inference-id")  # the generation id, whatever became of the body
        if (data is None or not isinstance(data.get("id"), str)) and header_id and self._recordable(header_id):
            self._started[header_id] = self._clock()
            return Submission(header_id, usd_spent(data) if data else None)
        if data is None:  # accepted, but unreadable: the generation may well exist
            raise AmbiguousSubmission(self._ambiguous(f"the service accepted the request but its answer is "
                                                      f"{answer.what_is_wrong()}"))
        generation_id = data.get("id")
        if not isinstance(generation_id, str) or not generation_id.strip():
            raise AmbiguousSubmission(self._ambiguous("the service accepted the request but sent no generation id"))
        if not self._recordable(generation_id):
            raise AmbiguousSubmission(self._ambiguous("the service sent a generation id that cannot be recorded "
                                                      "(it holds the API key, control characters, or is too long)"))
        self._started[generation_id] = self._clock()
        return Submission(generation_id, usd_spent(data, answer.headers))

    async def _follow(self, job: Job, generation_id: str) -> str:
        """Poll until `completed` (its video URL) or `error`; any status not understood is followed on."""
        started = self._started.get(generation_id, self._clock())
        notes = Notes(job.report, self._scrub)
        errors = 0
        unclear: str | None = None  # the last answer was one this tool does not understand
        delay = self.poll.first_interval()
        while True:
            await self._sleep(delay)
            elapsed = self._clock() - started
            if elapsed > self.poll.timeout:
                raise self._gave_up(generation_id, elapsed, unclear)
            delay = self.poll.interval(elapsed, statistics.median(self._durations) if self._durations else None)
            try:
                answer = await request_answer(self._client(), "GET", f"{self.base_url}/video/generations", self.limits,
                                              params={"generation_id": generation_id})
            except UNSENT as error:  # polling is free and repeatable: keep trying, backing off, until the timeout
                notes.say("unreachable", f"cannot reach the service at {self.base_url} ({describe(error)}); "
                                         "still trying")
                errors += 1
                delay = self.retry.delay(min(errors, 6), None)
                continue
            except (httpx.HTTPError, Stalled):
                errors += 1
                delay = self.retry.delay(min(errors, 6), None)
                continue
            notes.end("unreachable", "the service answers again")
            if answer.status == 429 or answer.status >= 500:
                errors += 1
                delay = self.retry.delay(min(errors, 6), answer.retry_after())
                continue
            if answer.status >= 400:
                raise UnknownGeneration(f"polling generation {generation_id} was refused ({answer.status}): "
                                        f"{answer.message()}")
            errors = 0
            data = answer.json_object()
            if data is None:
                unclear = f"an answer that is {answer.what_is_wrong()}"
                notes.say("unreadable", f"the service sent {unclear}; still waiting")
                continue
            status = data.get("status")
            known = status.lower() if isinstance(status, str) else None
            if known == COMPLETED:
                url = self._video_url(generation_id, data)
                self._durations.append(self._clock() - started)
                return url
            if known in FAILED:
                failure = data.get("error")
                reason = error_text(failure) if isinstance(failure, dict) else clean(str(failure or ""), 500)
                raise FailedGeneration(f"generation {generation_id} failed on the service: {reason or 'no reason given'}")
            if known in PENDING:
                unclear = None
                continue
            shown = repr(clean(status, 60)) if isinstance(status, str) else clean(repr(status), 60)
            unclear = "no status" if status is None else f"the status {shown}"
            notes.say(unclear, f"the service says {shown}; still waiting" if status is not None
                      else "the service's answer has no status; still waiting")

    def _recordable(self, generation_id: str) -> bool:
        """A generation id that can be kept and shown: no key, no control characters, not too long."""
        return bool(generation_id.strip()) and not holds_key(generation_id, self._key) and len(generation_id) <= 200 \
            and clean(generation_id) == generation_id

    def _video_url(self, generation_id: str, data: dict[str, Any]) -> str:
        video = data.get("video")
        url = video.get("url") if isinstance(video, dict) else None
        if not url:
            raise ServiceError(f"generation {generation_id} completed without a video URL")
        try:
            return checked_video_url(url, self._key)
        except ServiceError as error:
            raise type(error)(f"generation {generation_id}: {error}") from None

    def _gave_up(self, generation_id: str, elapsed: float, unclear: str | None) -> ServiceError:
        if unclear:
            return UnknownGeneration(
                f"gave up after {elapsed:.0f} s following generation {generation_id}: the service still sends "
                f"{unclear}, which this tool does not understand; the generation may have completed, may still "
                "complete, or may have failed"
            )
        return ServiceError(f"gave up after {elapsed:.0f} s waiting for generation {generation_id}; "
                            "it may still complete on the service")

    # -- helpers (images.py uses them too) ------------------------------------------------

    def inbox(self) -> Inbox:
        if self._inbox is None:
            self._inbox = Inbox(Path(tempfile.mkdtemp(prefix="storyboard-stills-")))
        return self._inbox

    def api_client(self) -> httpx.AsyncClient:
        return self._client()

    def download_client(self) -> httpx.AsyncClient:
        return self._download_client()

    async def pause(self, seconds: float) -> None:
        await self._sleep(seconds)

    def ambiguous(self, what: str) -> str:
        return self._ambiguous(what)

    def key_for_checks(self) -> str:
        """The key, for checking that nothing the service sends back carries it (never to send)."""
        return self._key

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
            self._plain = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), max_redirects=5,
                                            transport=self._transport)
        return self._plain

    async def _resolved_body(self, job: Job) -> dict[str, Any]:
        """The plan's body with every local file replaced by a URL the service can fetch."""
        item = job.shot
        body = dict(item.body)
        if item.still:  # an image request: its references only (see planning.stills)
            if "image_urls" in body:
                body["image_urls"] = [await self._url(item, "image_urls", ref) for ref in item.references]
            return body
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
        elif item.first_still is not None:  # the shot's picked still, from the store
            if job.first_frame is None:
                raise ServiceError(f"the picked still of shot {item.id!r} is missing")
            body["first_frame_image"] = await self.publisher.url(item, "first_frame_image", job.first_frame)
        return body

    async def _url(self, item: ShotPlan, field: str, ref: Reference) -> str:
        return ref.source if ref.path is None else await self.publisher.url(item, field, ref.path)

    def _ambiguous(self, what: str) -> str:
        return (
            f"{what}. The generation may have been created and billed, so it is not retried automatically; "
            "check your usage on the service, then render again with --resubmit to submit it again"
        )

    def _scrub(self, value: object) -> str:
        """`value` as text without the key (in any letter case) or another secret of the environment."""
        return redact(str(value), (self._key,))

    @contextlib.contextmanager
    def _scrubbed(self) -> Iterator[None]:
        """Every error leaving the backend carries no secret, whatever text of the service it quotes."""
        try:
            yield
        except RenderError as error:
            error.args = tuple(self._scrub(arg) if isinstance(arg, str) else arg for arg in error.args)
            raise
