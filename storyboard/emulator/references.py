"""Getting a generation's references as the service would: fetched over HTTP(S) or decoded
from `data:` URIs, then checked to be an image / a video."""
from __future__ import annotations

import base64
import binascii
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

from ..errors import MediaError, StoryboardError
from ..loading.profiles import ModelProfile
from ..media import image_is_readable, probe
from .validation import shorten

MAX_REFERENCE_BYTES = 256 * 1024 * 1024
FETCH_TIMEOUT = 30.0

Reference = tuple[str, "Path | None", str]  # as the animatic takes it: (label, file, source)


class UnusableReference(StoryboardError):
    """A reference that could not be fetched or decoded; the message names it."""


def gather_references(body: dict[str, Any], profile: ModelProfile, folder: Path) -> tuple[list[Reference], Path | None]:
    """Fetch every reference of a create request into `folder`: (labelled references, first frame)."""
    folder.mkdir(parents=True, exist_ok=True)
    references: list[Reference] = []
    with httpx.Client(follow_redirects=True, timeout=FETCH_TIMEOUT) as client:
        first_frame = None
        if body.get("first_frame_image"):
            first_frame = fetch_reference(client, body["first_frame_image"], "first_frame_image",
                                          folder / "first_frame", "image")
        for field_name, kind in (("image_urls", "image"), ("video_urls", "video")):
            for index, url in enumerate(body.get(field_name) or []):
                path = fetch_reference(client, url, f"{field_name}[{index}]", folder / f"{kind}-{index + 1}", kind)
                label = profile.label(kind, index + 1) if kind in profile.labels else kind
                references.append((label, path, name_url(url)))
    return references, first_frame


def fetch_reference(client: httpx.Client, url: Any, where: str, stem: Path, kind: str) -> Path:
    """Download (or decode) one reference to `stem`, and check it is an image or a video."""
    shown = name_url(str(url))
    if not isinstance(url, str):
        raise UnusableReference(f"{where}: not a URL")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    path = stem.with_suffix(".bin")
    if scheme == "data":
        try:
            path.write_bytes(decode_data_uri(url))
        except ValueError as error:
            raise UnusableReference(f"{where}: cannot decode {shown}: {error}") from None
    elif scheme in ("http", "https"):
        _download(client, url, path, where, shown)
    else:
        raise UnusableReference(f"{where}: cannot fetch {shown}: only http, https and data: URLs are supported")
    if kind == "image" and not _is_image(path):
        raise UnusableReference(f"{where}: {shown} is not an image")
    if kind == "video" and not _is_video(path):
        raise UnusableReference(f"{where}: {shown} is not a video")
    return path


def _download(client: httpx.Client, url: str, path: Path, where: str, shown: str) -> None:
    try:
        with client.stream("GET", url) as response:
            if not response.is_success:
                raise UnusableReference(f"{where}: cannot fetch {shown}: HTTP {response.status_code}")
            received = 0
            with path.open("wb") as out:
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > MAX_REFERENCE_BYTES:
                        raise UnusableReference(f"{where}: {shown} is larger than {MAX_REFERENCE_BYTES} bytes")
                    out.write(chunk)
    except httpx.HTTPError as error:
        raise UnusableReference(f"{where}: cannot fetch {shown}: {type(error).__name__}: {error}") from None


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a `data:` URI (base64 or percent-encoded); ValueError if it is malformed."""
    header, comma, data = uri[len("data:"):].partition(",")
    if not comma:
        raise ValueError("no comma separates the media type from the data")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode("".join(data.split()), validate=True)
        except binascii.Error as error:
            raise ValueError(f"bad base64: {error}") from None
    return urllib.parse.unquote_to_bytes(data)


def _is_image(path: Path) -> bool:
    try:
        return image_is_readable(path) is None
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for undecodable input
        return False


def _is_video(path: Path) -> bool:
    """Whether FFmpeg's demuxers find a video stream in the file (any container, as the service takes)."""
    try:
        return probe(path).video is not None
    except MediaError:  # not media at all, or a video stream without frames
        return False
    except Exception:  # noqa: BLE001 - whatever else junk makes the demuxer raise: not a video either
        return False


def name_url(url: str) -> str:
    """A URL as messages show it: a data: URI by its start, a URL without its (signed) query."""
    if url[:5].lower() == "data:":
        return shorten(url, 48)
    base, question, _ = url.partition("?")
    return shorten(base, 300) + ("?…" if question else "")
