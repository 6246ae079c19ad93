"""One attempt at downloading a finished clip, and what makes an attempt worth repeating.

A download is streamed (gzip undone: `Content-Encoding` is honoured) into the caller's file
under a size cap and a progress deadline, then checked to be a real video. Whatever goes
wrong that a later attempt (or a fresh URL from the service) could fix is a `Retryable`: a
dropped or stalled connection, a body cut short, an error status (403/404/410 included), an
HTML page or anything else that is not a video. Only a video over the size cap is final.
"""
from __future__ import annotations

from pathlib import Path

import httpx

from ...errors import MediaError, StoryboardError
from ...media import check_video
from .policy import Limits, ServiceError
from .wire import Answer, Stalled, TooLarge, describe, read_body, within

LINK_REFUSED = {401, 403, 404, 410}


class Retryable(StoryboardError):
    """This attempt failed in a way another attempt may not; `refused`: the URL itself was refused
    or served something else than the video; `retry_after` as the server asked."""

    def __init__(self, reason: str, retry_after: float | None = None, *, refused: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.refused = refused


async def download(client: httpx.AsyncClient, url: str, destination: Path, limits: Limits) -> None:
    """Write the video at `url` to `destination`; raises Retryable, or ServiceError when over the cap."""
    try:
        response = await within(client.send(client.build_request("GET", url), stream=True, follow_redirects=True),
                                limits.stall, f"the video URL did not answer within {limits.stall:g} s")
    except Stalled as error:
        raise Retryable(str(error)) from None
    except httpx.TooManyRedirects:
        raise Retryable("the video URL redirected too many times") from None
    except httpx.HTTPError as error:  # transport errors, and redirects to a scheme httpx will not follow
        raise Retryable(f"the download failed ({describe(error)})") from None
    try:
        await _receive(response, destination, limits)
    finally:
        await response.aclose()


async def _receive(response: httpx.Response, destination: Path, limits: Limits) -> None:
    status = response.status_code
    if status in LINK_REFUSED:
        raise Retryable(f"the video URL answered {status}: it has expired or is not accessible "
                        "(result URLs are short-lived)", refused=True)
    if not 200 <= status < 300:
        retry_after = Answer(status, response.headers, b"").retry_after()
        raise Retryable(f"the video URL answered {status}", retry_after)
    if "text/html" in response.headers.get("content-type", "").lower():
        raise Retryable("the video URL returned an HTML page, not a video", refused=True)
    expected = _content_length(response)
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    if expected is not None and not encoded and expected > limits.download_bytes:
        raise ServiceError(f"the video is {expected:,} bytes, over the {limits.download_bytes:,}-byte cap")
    try:
        with open(destination, "wb") as file:
            decoded = await read_body(response, limits, cap=limits.download_bytes, write=file.write)
    except TooLarge:
        raise ServiceError(f"the video is over the {limits.download_bytes:,}-byte cap") from None
    except Stalled as error:
        raise Retryable(f"the download stalled ({error})") from None
    except httpx.HTTPError as error:
        raise Retryable(f"the download broke off ({describe(error)})") from None
    # Content-Length counts the bytes as sent: gzip-encoded ones are compared as they came off the wire.
    received = response.num_bytes_downloaded if encoded else decoded
    if expected is not None and received != expected and (received or not encoded):
        raise Retryable(f"the download was cut short ({received:,} of {expected:,} bytes)")


def check_clip(path: Path) -> None:
    """A real video: a known container with a decodable video stream, not an error page."""
    try:
        check_video(path)
    except MediaError as error:
        raise Retryable(f"the downloaded clip is unusable: {error}", refused=True) from None


def _content_length(response: httpx.Response) -> int | None:
    try:
        value = int(response.headers.get("content-length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None
