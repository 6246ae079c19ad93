"""Stills on the service: `POST /v1/images/generations`, the image model's synchronous endpoint.

One request makes (and bills) the image and answers with it: `{data: [{url | b64_json}], meta:
{usage: {usd_spent}}}`. So the answer is kept before anything else happens: a picture sent inline
is written (fsync'd) into the inbox in the state folder, a URL is noted there; only then does
`submit` return, and the render state records the generation as submitted. Following it is
reading the inbox (nothing is asked of the service again), fetching it is copying the picture,
or downloading it from its URL, into the store as a PNG. As for videos, a create is retried only
when nothing can have been made (the connection was never made, or 429); anything else after
sending is ambiguous and needs `--resubmit`. The key is sent only to the service.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import uuid
from pathlib import Path
from typing import Any, Protocol

import httpx

from ...files import atomic_write_bytes
from ..base import Job, Submission
from .download import Retryable, download
from .policy import AmbiguousSubmission, ExpiredVideoURL, Limits, RetryPolicy, ServiceError, UnknownGeneration
from .wire import UNSENT, Answer, Stalled, checked_video_url, describe, request_answer, usd_spent

IMAGES_PATH = "/v1/images/generations"
INBOX = "still-inbox:"  # a location: the picture came inline and waits in the inbox under this request hash
AT_URL = "still-url:"  # a location: the picture is at this URL


class ImageService(Protocol):
    """What of the backend (`client.AimlApiBackend`) the image requests use."""

    base_url: str
    retry: RetryPolicy
    limits: Limits

    async def prepare(self, job: Job) -> Job: ...
    def api_client(self) -> httpx.AsyncClient: ...
    def download_client(self) -> httpx.AsyncClient: ...
    async def pause(self, seconds: float) -> None: ...
    def ambiguous(self, what: str) -> str: ...
    def key_for_checks(self) -> str: ...


def images_url(base_url: str) -> str:
    """The image endpoint beside the video API (`…/v2`): `…/v1/images/generations` on the same host."""
    root = base_url.rstrip("/")
    for version in ("/v2", "/v1"):
        if root.endswith(version):
            root = root[: -len(version)]
            break
    return root + IMAGES_PATH


def is_still_location(location: str) -> bool:
    return location.startswith((INBOX, AT_URL))


class Inbox:
    """Where a still's answer is kept between the create and the store: `<hash>.png` for a picture sent
    inline, `<hash>.json` ({"url"}) for one sent by URL."""

    def __init__(self, folder: Path):
        self.folder = folder

    def picture(self, request_hash: str) -> Path:
        return self.folder / f"{request_hash}.png"

    def note(self, request_hash: str) -> Path:
        return self.folder / f"{request_hash}.json"

    def keep(self, request_hash: str, data: dict[str, Any], key: str) -> str:
        """Keep the first image of an answer; its location. Raises AmbiguousSubmission when the answer
        holds no usable image (it was made and billed all the same)."""
        images = data.get("data")
        first = images[0] if isinstance(images, list) and images and isinstance(images[0], dict) else {}
        self.folder.mkdir(parents=True, exist_ok=True)
        encoded = first.get("b64_json")
        if isinstance(encoded, str) and encoded.strip():
            try:
                png = as_png(base64.b64decode(encoded.split(",", 1)[-1], validate=False))
            except (binascii.Error, ValueError) as error:
                raise AmbiguousSubmission(f"the service answered with an image that cannot be read ({error})") from None
            atomic_write_bytes(self.picture(request_hash), png)
            return INBOX + request_hash
        url = first.get("url")
        if isinstance(url, str) and url.strip():
            checked = checked_video_url(url, key)
            atomic_write_bytes(self.note(request_hash), json.dumps({"url": checked}).encode())
            return AT_URL + checked
        raise AmbiguousSubmission("the service accepted the image request but its answer holds no image "
                                  "(neither `url` nor `b64_json`)")

    def location(self, request_hash: str) -> str | None:
        """Where the kept answer of a request is, if it was kept."""
        if self.picture(request_hash).is_file():
            return INBOX + request_hash
        try:
            url = json.loads(self.note(request_hash).read_text()).get("url")
        except (OSError, ValueError, AttributeError):
            return None
        return AT_URL + url if isinstance(url, str) else None


def as_png(data: bytes) -> bytes:
    """The picture in `data` (PNG, JPEG, WebP…) as PNG bytes; ValueError when it is not a picture."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as opened:
            picture = opened.convert("RGB")
    except (OSError, Image.DecompressionBombError) as error:
        raise ValueError(f"not a picture: {error}") from None
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


async def submit_still(backend: ImageService, job: Job, inbox: Inbox) -> Submission:
    """Create the still (the image is made, and billed, by this one call) and keep its answer."""
    body = (await backend.prepare(job)).body
    headers = {"Idempotency-Key": job.idempotency_key or uuid.uuid4().hex}
    if job.client_request_id:  # the usage log finds a lost answer's image by this
        headers["X-Client-Request-Id"] = job.client_request_id
    url = images_url(backend.base_url)
    for attempt in range(backend.retry.attempts):
        try:
            answer = await request_answer(backend.api_client(), "POST", url, backend.limits, json=body, headers=headers)
        except UNSENT as error:  # never left this machine: retrying cannot pay twice
            if attempt + 1 == backend.retry.attempts:
                raise ServiceError(f"cannot reach the service at {url}: {describe(error)}") from None
            await backend.pause(backend.retry.delay(attempt, None))
            continue
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise ServiceError(f"the service address {url} cannot be used: {describe(error)}") from None
        except (httpx.HTTPError, Stalled) as error:
            reason = f"the connection failed after sending ({type(error).__name__}: {describe(error)})"
            raise AmbiguousSubmission(backend.ambiguous(reason)) from None
        if answer.status == 429:
            if attempt + 1 < backend.retry.attempts:
                await backend.pause(backend.retry.delay(attempt, answer.retry_after()))
                continue
            raise ServiceError("the service kept answering 429 (rate limited); try again later or lower --jobs")
        return _kept(backend, job, answer, inbox)
    raise ServiceError("the service kept answering 429 (rate limited); try again later or lower --jobs")


def _kept(backend: ImageService, job: Job, answer: Answer, inbox: Inbox) -> Submission:
    if answer.status >= 500:
        raise AmbiguousSubmission(backend.ambiguous(f"the service answered {answer.status}: {answer.message()}"))
    if answer.status >= 400:
        raise ServiceError(f"the service refused the image request ({answer.status}): {answer.message()}")
    data = answer.json_object()
    if data is None:
        raise AmbiguousSubmission(backend.ambiguous(f"the service made the image but its answer is "
                                                    f"{answer.what_is_wrong()}"))
    try:
        inbox.keep(job.shot.hash, data, backend.key_for_checks())
    except AmbiguousSubmission as error:
        raise AmbiguousSubmission(backend.ambiguous(str(error))) from None
    return Submission(f"image-{job.shot.hash[:24]}", usd_spent(data))


def follow_still(job: Job, inbox: Inbox) -> str:
    """The kept answer of a still created before; UnknownGeneration when it was not kept."""
    location = inbox.location(job.shot.hash)
    if location is None:
        raise UnknownGeneration("the image was created but its answer was not kept (the render stopped first); "
                                f"render with --resubmit {job.shot.id} to create it again")
    return location


async def fetch_still(backend: ImageService, location: str, destination: Path, inbox: Inbox) -> None:
    """Write the still at `location` to `destination` as a PNG."""
    if location.startswith(INBOX):
        picture = inbox.picture(location[len(INBOX):])
        try:
            destination.write_bytes(picture.read_bytes())
        except OSError as error:
            raise ExpiredVideoURL(f"the kept image is gone ({error})") from None
        return
    url = checked_video_url(location[len(AT_URL):], backend.key_for_checks())
    attempts = 0
    while True:
        try:
            await download(backend.download_client(), url, destination, backend.limits)
            png = await asyncio.to_thread(as_png, destination.read_bytes())
            destination.write_bytes(png)
            return
        except (Retryable, ValueError) as problem:
            attempts += 1
            if attempts >= backend.retry.downloads:
                raise ExpiredVideoURL(f"the image could not be downloaded ({problem}); tried {attempts} times") from None
            await backend.pause(backend.retry.delay(attempts - 1, getattr(problem, "retry_after", None)))
