"""HTTP as the aimlapi backend speaks it: every answer read under a size cap and a progress
deadline, and what is read from an answer (usage, statuses, video URLs) checked before use."""
from __future__ import annotations

import asyncio
import json
import math
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from ...errors import StoryboardError
from .policy import KeyInVideoURL, Limits, UnsafeVideoURL

# Errors raised before any byte of the request left this machine: retrying cannot pay twice.
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MAX_URL_LENGTH = 8192
T = TypeVar("T")


class Stalled(StoryboardError):
    """A transfer made too little progress before its deadline; handled like a transport error."""


class TooLarge(StoryboardError):
    """A body grew past its cap; what arrived up to the cap is kept."""


@dataclass(frozen=True)
class Answer:
    """An API answer, read whole (or up to the cap: `truncated`)."""

    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool = False

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None (not JSON, not an object, cut at the cap)."""
        if self.truncated:
            return None
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def what_is_wrong(self) -> str:
        """Why `json_object()` is None, said for a person."""
        if self.truncated:
            return f"larger than {len(self.body):,} bytes (not read further)"
        return f"not a JSON object (HTTP {self.status}, {self.headers.get('content-type') or 'no content type'})"

    def message(self) -> str:
        """The service's own words: `error.message` (with `error.name`), `message`, or the start of the body."""
        data = self.json_object()
        if data is None:
            return clean(self.body[:300].decode("utf-8", "replace")) or f"HTTP {self.status}"
        error = data.get("error")
        if isinstance(error, dict):
            return error_text(error) or clean(json.dumps(error))
        text = error if isinstance(error, str) and error else data.get("message")
        said = clean(str(text if text else json.dumps(data)), 500)
        # The documented error shape {message, path, requestId, statusCode, timestamp}: the request id is
        # what the provider's support asks for.
        request_id = data.get("requestId")
        if text and isinstance(request_id, (str, int)) and not isinstance(request_id, bool) and str(request_id).strip():
            said += f" (request id {clean(str(request_id), 100)})"
        return said

    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        try:
            seconds = float(value) if value is not None else None
        except ValueError:
            return None
        return min(max(0.0, seconds), 300.0) if seconds is not None and math.isfinite(seconds) else None


async def within(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    """`awaitable`'s result, or Stalled(what) after `seconds`."""
    try:
        return await asyncio.wait_for(awaitable, max(seconds, 0.001))
    except asyncio.TimeoutError:
        raise Stalled(what) from None


async def read_body(response: httpx.Response, limits: Limits, *, cap: int, write: Callable[[bytes], object],
                    deadline: float | None = None) -> int:
    """Stream `response`'s body (decoded: gzip is undone) into `write`; the bytes written.

    Raises Stalled when `limits.progress_bytes` do not arrive within `limits.stall` seconds
    (however slowly single bytes drip) or `deadline` (time.monotonic()) passes, and TooLarge
    past `cap` bytes (what fits is written)."""
    chunks = response.aiter_bytes().__aiter__()
    total = window_bytes = 0
    window_end = time.monotonic() + limits.stall
    while True:
        ends = window_end if deadline is None else min(window_end, deadline)
        try:
            chunk = await within(chunks.__anext__(), ends - time.monotonic(), "")
        except StopAsyncIteration:
            return total
        except Stalled:
            raise Stalled(f"{total:,} bytes arrived, then fewer than {limits.progress_bytes:,} in {limits.stall:g} s"
                          if deadline is None or window_end <= deadline else
                          f"the answer was not complete within {limits.answer_seconds:g} s") from None
        if total + len(chunk) > cap:
            write(chunk[: cap - total])
            raise TooLarge(f"over {cap:,} bytes")
        write(chunk)
        total += len(chunk)
        window_bytes += len(chunk)
        if window_bytes >= limits.progress_bytes:
            window_bytes, window_end = 0, time.monotonic() + limits.stall


async def request_answer(client: httpx.AsyncClient, method: str, url: str, limits: Limits, **options: Any) -> Answer:
    """Send one API request and read its answer whole, within `limits.answer_seconds` and
    `limits.answer_bytes`. Raises httpx errors and Stalled as they come."""
    deadline = time.monotonic() + limits.answer_seconds
    request = client.build_request(method, url, **options)
    response = await within(client.send(request, stream=True), limits.answer_seconds,
                            f"no answer within {limits.answer_seconds:g} s")
    try:
        body = bytearray()
        try:
            await read_body(response, limits, cap=limits.answer_bytes, write=body.extend, deadline=deadline)
        except TooLarge:
            return Answer(response.status_code, response.headers, bytes(body), truncated=True)
        return Answer(response.status_code, response.headers, bytes(body))
    finally:
        await response.aclose()


def usd_spent(data: dict[str, Any], headers: httpx.Headers | None = None) -> float | None:
    """What the call cost: `meta.usage.usd_spent`, else the `x-aimlapi-usd-spent` header, when it is a
    finite, non-negative number; None (unknown) otherwise."""
    meta = data.get("meta")
    usage = meta.get("usage") if isinstance(meta, dict) else None
    spent = usage.get("usd_spent") if isinstance(usage, dict) else None
    if isinstance(spent, bool) or not isinstance(spent, (int, float)):
        spent = headers.get("x-aimlapi-usd-spent") if headers is not None else None
    try:
        value = float(spent) if spent is not None else math.nan
    except (OverflowError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def holds_key(text: str, key: str) -> bool:
    """True if `text` carries `key` in any letter case, also once percent-decoded."""
    if len(key) < 4:
        return False
    folded = key.casefold()
    return any(folded in form.casefold()
               for form in (text, urllib.parse.unquote(text), urllib.parse.unquote_plus(text)))


def checked_video_url(url: object, key: str) -> str:
    """`url` if it is an absolute http(s) URL without the key; otherwise the reason, raised."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeVideoURL("the service sent no usable video URL")
    if holds_key(url, key):
        raise KeyInVideoURL("the service put the API key in the video URL; the URL is neither stored nor "
                            "fetched (the key has been exposed: rotate it)")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeVideoURL(f"the service sent a video URL of {len(url):,} characters; refused")
    if re.search(r"[\x00-\x20\x7f]", url):
        raise UnsafeVideoURL("the service sent a video URL with spaces or control characters; refused")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"'{scheme}:' URL" if scheme else f"relative URL ({clean(url, 40)!r})"
        raise UnsafeVideoURL(f"the service sent a {shown} for the video; refused: only http and https URLs "
                             "are downloaded")
    if not parts.hostname:
        raise UnsafeVideoURL("the service sent a video URL without a host; refused")
    return url


def error_text(error: dict[str, Any]) -> str:
    """`name: message` of a service error object (either part may be missing)."""
    name = clean(str(error["name"]), 100) if error.get("name") else ""
    message = clean(str(error["message"]), 500) if error.get("message") else ""
    return ": ".join(part for part in (name, message) if part)


def clean(text: str, limit: int = 300) -> str:
    """One line of at most `limit` characters: a service's text may be long or hold control characters."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(error: BaseException) -> str:
    """A transport error in a few words (httpx's message, else its kind)."""
    return clean(str(error), 200) or type(error).__name__
